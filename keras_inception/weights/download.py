"""Finding, downloading and verifying weight files: the one code path for all of them.

``fetch(file)`` looks, in order, in

1. the directory named by ``$KERAS_INCEPTION_WEIGHTS`` (files copied there by
   hand, e.g. on a machine without network access);
2. the Keras cache, ``$KERAS_HOME/models`` (default ``~/.keras/models``), where
   ``keras.applications`` also keeps its files;

and otherwise downloads into the Keras cache with ``keras.utils.get_file``.
Every file found or downloaded is checked against its checksum before use; a
file that does not match is refused, never loaded.

Offline: with ``$KERAS_INCEPTION_OFFLINE`` set, or when the file's host cannot
be reached within a few seconds, ``fetch`` raises ``FileNotFoundError`` at once
naming the file, its URL and where to put it (``keras.utils.get_file`` has no
timeout and would wait as long as the operating system lets a connection hang).

Files whose publisher gives no checksum (the TF-slim archives) are trusted on
first use: once the file has been converted successfully (``fetch_unpinned``
then ``pin``), its sha256 is printed in a warning and pinned in
``$KERAS_HOME/keras_inception/pins.json``; any later file with a different
digest is refused. A truncated download fails its conversion and is not
pinned. Check the printed digest against a copy obtained independently if that
matters to you.

Downloads and the pins file are written atomically (``files.write_atomic``):
a download appears under its name only once complete and verified.
"""

import contextlib
import json
import os
import socket
import tempfile
import urllib.parse
import urllib.request
import warnings

import keras

from keras_inception import faults
from keras_inception.weights import files

WEIGHTS_DIR_ENV = "KERAS_INCEPTION_WEIGHTS"
OFFLINE_ENV = "KERAS_INCEPTION_OFFLINE"
CACHE_SUBDIR = "models"
# Seconds to wait for the file's host before declaring the machine offline.
PROBE_TIMEOUT = 5.0
# The pins file lists a few URLs; anything longer is not one.
_MAX_PINS_BYTES = 1 << 20


def keras_home():
    """The Keras cache root: ``$KERAS_HOME``, default ``~/.keras``, created if need be.

    When it cannot be created or written (no home directory), a directory of
    this user's own under the temporary directory is used instead,
    ``<tmp>/keras_inception-<uid>``, created with mode 0700; it is refused if
    it exists as a symlink, belongs to another user or is open to others
    (``keras.utils.get_file`` would fall back to the shared ``/tmp/.keras``).

    Raises:
        PermissionError: the fallback directory is not this user's private one.
    """
    home = os.path.expanduser(os.environ.get("KERAS_HOME", os.path.join("~", ".keras")))
    with contextlib.suppress(OSError):
        os.makedirs(home, exist_ok=True)
    if os.path.isdir(home) and os.access(home, os.W_OK | os.X_OK):
        return home
    user = getattr(os, "getuid", lambda: os.environ.get("USERNAME", "user"))()
    return files.private_dir(os.path.join(tempfile.gettempdir(), f"keras_inception-{user}"))


def cache_path(*parts):
    """A path inside the Keras cache, e.g. ``cache_path("models", fname)``."""
    return os.path.join(keras_home(), *parts)


file_digest = files.file_digest


def locate(file):
    """The local copy of ``file`` (unverified), or ``None`` if there is none."""
    for path in _candidates(file):
        if os.path.isfile(path):
            return path
    return None


def fetch(file):
    """The verified local path of ``file`` (a ``WeightsFile``), downloading it if needed.

    A file with no published checksum is pinned on first use (see the module
    docstring).

    Raises:
        FileNotFoundError: the file is not on this machine and cannot be
            downloaded (the message says where to put it).
        ValueError: the file found or downloaded does not match its checksum.
    """
    path, digest = fetch_unpinned(file)
    if digest is not None:
        pin(file, digest)
    return path


def fetch_unpinned(file):
    """``fetch`` without pinning: ``(path, digest)``.

    ``digest`` is the sha256 to ``pin`` once the file has proved good (e.g.
    converted), when the file has neither a published checksum nor a pin yet;
    else ``None``. A truncated download is thus never pinned, and the complete
    file is still accepted after it.
    """
    path = locate(file) or _download(file)
    return path, verify(path, file)


def verify(path, file):
    """Checks ``path`` against ``file``'s checksum (or its pinned sha256).

    Returns:
        The sha256 of ``path`` if ``file`` has neither a published checksum nor
        a pin (the caller pins it when the file proves good), else ``None``.

    Raises:
        ValueError: the digest differs; the file must not be loaded.
    """
    if file.file_hash:
        algorithm, expected = file.hash_algorithm, file.file_hash.lower()
        origin = "published for"
    else:
        algorithm, expected = "sha256", _pins().get(file.url)
        origin = "pinned on first use for"
    actual = file_digest(path, algorithm)
    if expected is None:
        return actual
    if actual != expected:
        raise ValueError(
            f"Refusing to load {path}: its {algorithm} is {actual}, but the "
            f"{algorithm} {origin} {file.url} is {expected}. The file is "
            "corrupt or not the published one; delete it and fetch it again. "
            f"Received: path={path!r}"
        )
    return None


def pin(file, digest):
    """Records ``digest`` as the sha256 every later copy of ``file`` must have."""
    faults.point("convert.before_pin")
    pins = _pins()
    pins[file.url] = digest
    os.makedirs(os.path.dirname(_pins_path()), exist_ok=True)
    content = json.dumps(pins, indent=1, sort_keys=True).encode()
    files.write_bytes_atomic(_pins_path(), content, fault="convert.pins")
    faults.point("convert.pinned")
    warnings.warn(
        f"{file.fname}: no checksum is published for {file.url}; its sha256 "
        f"{digest} is now pinned in {_pins_path()} and later copies must match it.",
        stacklevel=3,
    )


def _download(file):
    """Downloads ``file`` into the Keras cache; the unverified path.

    The download goes to a temporary name and is renamed only once complete
    and, when its publisher gives a checksum, verified.
    """
    if os.environ.get(OFFLINE_ENV):
        raise FileNotFoundError(_missing_message(file, f"${OFFLINE_ENV} is set"))
    reason = _unreachable(file.url)
    if reason:
        raise FileNotFoundError(_missing_message(file, reason))
    home = keras_home()
    target = os.path.join(home, CACHE_SUBDIR, file.fname)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    files.clean_stale(os.path.dirname(target), file.fname)
    temporary = files.temporary_name(target)
    try:
        keras.utils.get_file(
            os.path.basename(temporary),
            origin=file.url,
            cache_subdir=CACHE_SUBDIR,
            cache_dir=home,
        )
        if file.file_hash:
            verify(temporary, file)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        if isinstance(error, ValueError):
            raise ValueError(
                f"Refusing the download of {file.fname!r} from {file.url}: {error} "
                f"The file was deleted. Received: file_hash={file.file_hash!r}"
            ) from None
        if isinstance(error, Exception):  # get_file raises a bare Exception on URL errors
            raise FileNotFoundError(_missing_message(file, str(error))) from None
        raise
    files.publish(temporary, target, fault="convert.download")
    return target


def _candidates(file):
    directory = os.environ.get(WEIGHTS_DIR_ENV)
    paths = [os.path.join(directory, file.fname)] if directory else []
    paths.append(cache_path(CACHE_SUBDIR, file.fname))
    return paths


def _missing_message(file, reason):
    directory = os.environ.get(WEIGHTS_DIR_ENV)
    where = (
        f"${WEIGHTS_DIR_ENV} ({directory})"
        if directory
        else f"a directory named by ${WEIGHTS_DIR_ENV}"
    )
    return (
        f"Pretrained weights file {file.fname!r} is not on this machine and "
        f"cannot be downloaded from {file.url} ({reason}). Download it where "
        f"there is network access and put it in {where} or in "
        f"{cache_path(CACHE_SUBDIR)}, or pass its path as `weights=`."
    )


def _unreachable(url):
    """Why ``url``'s host (or proxy) cannot be reached, or ``""`` if it can."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return ""
    proxy = urllib.request.getproxies().get(parts.scheme)
    target = urllib.parse.urlsplit(proxy) if proxy else parts
    port = target.port or (443 if target.scheme == "https" else 80)
    try:
        socket.create_connection((target.hostname, port), timeout=PROBE_TIMEOUT).close()
    except OSError as error:
        return f"{target.hostname}:{port} unreachable: {error}"
    return ""


def _pins_path():
    return cache_path("keras_inception", "pins.json")


def _pins():
    files.clean_stale(os.path.dirname(_pins_path()), os.path.basename(_pins_path()))
    try:
        with open(_pins_path(), "rb") as f:
            pins = json.loads(f.read(_MAX_PINS_BYTES + 1))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        pins = error
    if not isinstance(pins, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in pins.items()
    ):
        raise ValueError(
            f"The pins file {_pins_path()!r} is corrupt ({files.one_line(pins)}). Delete it: "
            "the sha256 of archives without a published checksum is pinned again on next use."
        )
    return pins
