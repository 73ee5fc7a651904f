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
first use: their sha256 is printed in a warning and pinned in
``$KERAS_HOME/keras_inception/pins.json``; any later file with a different
digest is refused. Check the printed digest against a copy obtained
independently if that matters to you.
"""

import hashlib
import json
import os
import socket
import urllib.parse
import urllib.request
import warnings

import keras

WEIGHTS_DIR_ENV = "KERAS_INCEPTION_WEIGHTS"
OFFLINE_ENV = "KERAS_INCEPTION_OFFLINE"
CACHE_SUBDIR = "models"
# Seconds to wait for the file's host before declaring the machine offline.
PROBE_TIMEOUT = 5.0
_CHUNK = 1 << 20


def keras_home():
    """The Keras cache root, chosen as ``keras.utils.get_file`` chooses it."""
    home = os.path.expanduser(os.environ.get("KERAS_HOME", os.path.join("~", ".keras")))
    if os.access(home, os.W_OK):
        return home
    return os.path.join("/tmp", ".keras")


def cache_path(*parts):
    """A path inside the Keras cache, e.g. ``cache_path("models", fname)``."""
    return os.path.join(keras_home(), *parts)


def file_digest(path, algorithm="sha256"):
    """Hex digest of a file (``"md5"`` or ``"sha256"``)."""
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def locate(file):
    """The local copy of ``file`` (unverified), or ``None`` if there is none."""
    for path in _candidates(file):
        if os.path.isfile(path):
            return path
    return None


def fetch(file):
    """The verified local path of ``file`` (a ``WeightsFile``), downloading it if needed.

    Raises:
        FileNotFoundError: the file is not on this machine and cannot be
            downloaded (the message says where to put it).
        ValueError: the file found or downloaded does not match its checksum.
    """
    path = locate(file)
    if path is not None:
        verify(path, file)
        return path
    if os.environ.get(OFFLINE_ENV):
        raise FileNotFoundError(_missing_message(file, f"${OFFLINE_ENV} is set"))
    reason = _unreachable(file.url)
    if reason:
        raise FileNotFoundError(_missing_message(file, reason))
    try:
        path = keras.utils.get_file(
            file.fname, origin=file.url, file_hash=file.file_hash,
            hash_algorithm=file.hash_algorithm, cache_subdir=CACHE_SUBDIR,
            cache_dir=keras_home(),
        )
    except ValueError as error:
        # get_file leaves a download that fails its checksum in the cache.
        target = cache_path(CACHE_SUBDIR, file.fname)
        if os.path.exists(target):
            os.remove(target)
        raise ValueError(
            f"Refusing the download of {file.fname!r} from {file.url}: {error} "
            "The file was deleted. Received: "
            f"file_hash={file.file_hash!r}"
        ) from None
    except Exception as error:  # get_file raises a bare Exception on URL errors
        raise FileNotFoundError(_missing_message(file, str(error))) from None
    verify(path, file)
    return path


def verify(path, file):
    """Checks ``path`` against ``file``'s checksum (or its pinned sha256).

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
        _pin(file.url, actual)
        warnings.warn(
            f"{file.fname}: no checksum is published for {file.url}; its sha256 "
            f"{actual} is now pinned in {_pins_path()} and later copies must match it.",
            stacklevel=3,
        )
        return
    if actual != expected:
        raise ValueError(
            f"Refusing to load {path}: its {algorithm} is {actual}, but the "
            f"{algorithm} {origin} {file.url} is {expected}. The file is "
            "corrupt or not the published one; delete it and fetch it again. "
            f"Received: path={path!r}"
        )


def _candidates(file):
    directory = os.environ.get(WEIGHTS_DIR_ENV)
    paths = [os.path.join(directory, file.fname)] if directory else []
    paths.append(cache_path(CACHE_SUBDIR, file.fname))
    return paths


def _missing_message(file, reason):
    directory = os.environ.get(WEIGHTS_DIR_ENV)
    where = (
        f"${WEIGHTS_DIR_ENV} ({directory})" if directory
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
    try:
        with open(_pins_path(), encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def _pin(url, digest):
    pins = _pins()
    pins[url] = digest
    os.makedirs(os.path.dirname(_pins_path()), exist_ok=True)
    tmp = _pins_path() + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(pins, f, indent=1, sort_keys=True)
    os.replace(tmp, _pins_path())
