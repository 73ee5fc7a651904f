"""Files the weights code writes and reads: atomic publishing, checksums, bounds.

Every file written for a user (converted weights, their ``.sha256`` sidecars,
the pins, downloads) is written to a unique temporary name in its own
directory, flushed and fsynced, given the permissions the user's umask allows,
and only then renamed over its final name: a reader sees the old file or the
new one, never part of one. The temporary names carry the writer's process id,
so a later writer removes those whose process is gone (killed mid-write): the
package's one implementation, ``keras_inception.atomic``.

Every file read is bounded: ``MAX_WEIGHTS_BYTES`` caps what one weights file
may declare, and an error from a library parsing a broken file becomes one
``ValueError`` line naming the file.
"""

import contextlib
import hashlib
import lzma
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import tempfile
import zlib

from keras_inception import atomic
from keras_inception import faults

# The most array data one weights file may declare (and an archive may expand
# to). Inception-ResNet-v2 with its auxiliary head, the largest of the family,
# holds 0.24 GB of float32.
MAX_WEIGHTS_BYTES = 2 << 30
CHECKSUM_SUFFIX = ".sha256"
_CHUNK = 1 << 20
# What parsers (h5py, tarfile, gzip/bz2/lzma, json) raise on a truncated or corrupt file.
_BROKEN_FILE_ERRORS = (
    OSError,
    EOFError,
    KeyError,
    IndexError,
    TypeError,
    RuntimeError,
    UnicodeError,
    tarfile.TarError,
    zlib.error,
    lzma.LZMAError,
)


def one_line(error):
    """The message of ``error`` on one line (TensorFlow and HDF5 messages span several)."""
    return " ".join(str(error).split()) or type(error).__name__


@contextlib.contextmanager
def reading(path, what):
    """Turns a parser's error on a broken ``path`` into one ``ValueError`` line.

    Args:
        path: the file being read, named in the message.
        what: what the file was expected to be, e.g. ``"HDF5 weights file"``.
    """
    try:
        yield
    except _BROKEN_FILE_ERRORS as error:
        raise ValueError(
            f"Cannot read {what} {os.fspath(path)!r}: it is truncated, corrupt or not "
            f"such a file ({type(error).__name__}: {one_line(error)})."
        ) from None


umask = atomic.umask
temporary_name = atomic.temporary_path


def write_atomic(path, write, *, fault):
    """``atomic.write_file`` with the weights' fault points, ``<fault>_renamed`` included.

    Args:
        path: the file to publish.
        write: ``write(temporary_path)`` writes the content (the temporary file
            exists, empty, created by this process).
        fault: prefix of the fault-injection points, e.g. ``"convert.weights"``:
            ``<fault>_temp_written`` (content fsynced), ``<fault>_before_rename``
            and ``<fault>_renamed``.

    Returns:
        ``path``.
    """
    atomic.write_file(path, write, fault=fault)
    faults.point(f"{fault}_renamed")
    return path


def publish(temporary, path, *, fault):
    """``atomic.publish`` of a file written by another library (a download)."""
    atomic.publish(temporary, path, fault=fault)
    faults.point(f"{fault}_renamed")
    return path


def write_bytes_atomic(path, content, *, fault):
    """``write_atomic`` of ``content`` (bytes)."""

    def write(temporary):
        with open(temporary, "wb") as f:
            f.write(content)

    return write_atomic(path, write, fault=fault)


def clean_stale(directory, name):
    """Removes the temporary files of ``name`` in ``directory`` whose writer is gone."""
    atomic.remove_stale(directory, f".{name}.tmp-")


def file_digest(path, algorithm="sha256"):
    """Hex digest of a file (``"md5"`` or ``"sha256"``)."""
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def checksum_path(path):
    """The sidecar of ``path`` holding its sha256, ``<path>.sha256``."""
    return os.fspath(path) + CHECKSUM_SUFFIX


def write_checksum(path, digest=None):
    """Publishes ``<path>.sha256`` (``sha256sum`` format) once ``path`` is complete.

    Returns:
        The digest.
    """
    digest = digest or file_digest(path)
    line = f"{digest}  {os.path.basename(path)}\n".encode()
    write_bytes_atomic(checksum_path(path), line, fault="convert.checksum")
    return digest


def read_checksum(path):
    """The sha256 recorded in ``<path>.sha256``, or ``None`` if there is no sidecar.

    Raises:
        ValueError: the sidecar is unreadable or not a sha256 line.
    """
    sidecar = checksum_path(path)
    try:
        with open(sidecar, "rb") as f:
            text = f.read(4096)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise ValueError(f"Cannot read {sidecar!r}: {one_line(error)}") from None
    match = re.match(rb"([0-9a-fA-F]{64})\s", text + b"\n")
    if not match:
        raise ValueError(
            f"{sidecar!r} holds no sha256; delete {os.fspath(path)!r} and its sidecar "
            "and convert the weights again."
        )
    return match.group(1).decode().lower()


def verify_checksum(path, expected):
    """Raises ``ValueError`` if ``path``'s sha256 is not ``expected`` (from its sidecar)."""
    actual = file_digest(path)
    if actual != expected:
        raise ValueError(
            f"Refusing to load {os.fspath(path)!r}: its sha256 is {actual}, but "
            f"{checksum_path(path)!r} records {expected} from when it was written. The file "
            "is corrupt, truncated or was replaced; delete it and its .sha256 sidecar "
            "to convert the weights again."
        )


def private_dir(path):
    """``path`` as a directory only this user can use: created 0700, else checked.

    Raises:
        PermissionError: ``path`` is a symlink, not a directory, owned by
            another user, or open to the group or others.
    """
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    info = os.lstat(path)
    owner = getattr(os, "getuid", lambda: info.st_uid)()
    problem = None
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        problem = "is not a directory (a symlink or a file)"
    elif info.st_uid != owner:
        problem = f"is owned by uid {info.st_uid}, not by this user (uid {owner})"
    elif info.st_mode & 0o077:
        problem = f"has mode {stat.S_IMODE(info.st_mode):04o}, open to other users"
    if problem:
        raise PermissionError(
            f"Refusing to use {path!r} as this user's private cache: it {problem}. "
            "Set $KERAS_HOME to a directory of yours."
        )
    return path


def vet_hdf5(f, path, budget=None):
    """Checks an open HDF5 file before any array is read; returns ``budget``.

    Refuses soft and external links and external raw storage (they make the
    file read other files), non-numeric datasets, and more array data than
    ``budget`` (default: a new ``ByteBudget``) allows.

    Raises:
        ValueError: what is wrong, naming the object and the file.
    """
    import h5py

    budget = budget or ByteBudget(path)
    problems, sizes = [], []

    # The callback only collects: an exception raised inside it is mangled by h5py.
    def visit(name, link):
        try:
            inspect(name, link)
        except Exception as error:  # a damaged object or name, whatever h5py raises
            problems.append(f"{name!r} is unreadable ({type(error).__name__}: {one_line(error)})")
        return True if len(problems) >= 8 else None

    def inspect(name, link):
        if not isinstance(link, h5py.HardLink):
            kind = "an external link" if isinstance(link, h5py.ExternalLink) else "a soft link"
            problems.append(f"{name!r} is {kind}")
        else:
            item = f[name]
            if isinstance(item, h5py.Dataset):
                if item.external:
                    problems.append(f"{name!r} keeps its data in another file")
                elif item.dtype.kind not in "biuf":
                    problems.append(f"{name!r} holds {item.dtype} data, not numbers")
                else:
                    sizes.append((name, item.size * item.dtype.itemsize))

    try:
        f.visititems_links(visit)
    except (SystemError, UnicodeError) as error:
        # h5py fails this way on a damaged link name, before calling ``visit``.
        cause = error.__context__ or error
        problems.append(f"a link is unreadable ({type(cause).__name__}: {one_line(cause)})")
    if problems:
        raise ValueError(
            f"Refusing {os.fspath(path)!r}: {'; '.join(problems)}. Weights files hold "
            "numeric datasets only."
        )
    for name, nbytes in sizes:
        budget.take(nbytes, f"dataset {name!r}")
    return budget


# Run in a child process: opens an HDF5 file and reads every attribute and every
# numeric dataset (each within the byte limit), as the readers here will.
_HDF5_PROBE = """
import sys, h5py
path, limit = sys.argv[1], int(sys.argv[2])
with h5py.File(path, "r") as f:
    def visit(name, link):
        if isinstance(link, h5py.HardLink):
            item = f[name]
            for key in item.attrs:
                item.attrs[key]
            if isinstance(item, h5py.Dataset) and not item.external and item.dtype.kind in "biuf":
                if item.size * item.dtype.itemsize > limit:
                    sys.exit(3)
                item[()]
    for key in f.attrs:
        f.attrs[key]
    f.visititems_links(visit)
"""
# Seconds a probe may take (it reads at most MAX_WEIGHTS_BYTES).
PROBE_TIMEOUT = 600


def probe_hdf5(path):
    """Reads an untrusted HDF5 file in a child process first: a file that crashes the
    HDF5 library (a damaged attribute can make it segfault) is refused, not fatal.

    Only a crash or a hang is reported here; a Python-level error is left to the
    reader, which reports it with its own message.

    Raises:
        ValueError: the child was killed by a signal or did not finish in
            ``PROBE_TIMEOUT`` seconds.
    """
    path = os.fspath(path)
    command = [sys.executable, "-I", "-c", _HDF5_PROBE, path, str(MAX_WEIGHTS_BYTES)]
    try:
        done = subprocess.run(command, capture_output=True, timeout=PROBE_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise ValueError(
            f"Refusing {path!r}: reading it did not finish in {PROBE_TIMEOUT} s; the file is "
            "corrupt or hostile."
        ) from None
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name
        raise ValueError(
            f"Refusing {path!r}: reading it crashes the HDF5 library ({name}); the file is "
            "corrupt or hostile."
        )


@contextlib.contextmanager
def scratch_dir(prefix):
    """A private temporary directory (0700), removed afterwards.

    Its name carries the process id: scratch directories of ``prefix`` left by
    killed processes of this user are removed first.
    """
    root = tempfile.gettempdir()
    pattern = re.compile(rf"{re.escape(prefix)}\.(\d+)\.[A-Za-z0-9_]+")
    uid = getattr(os, "getuid", lambda: None)()
    with contextlib.suppress(OSError):
        for entry in os.listdir(root):
            match = pattern.fullmatch(entry)
            if not match or _alive(int(match.group(1))):
                continue
            stale = os.path.join(root, entry)
            with contextlib.suppress(OSError):
                info = os.lstat(stale)
                if stat.S_ISDIR(info.st_mode) and uid in (None, info.st_uid):
                    shutil.rmtree(stale, ignore_errors=True)
    directory = tempfile.mkdtemp(prefix=f"{prefix}.{os.getpid()}.", dir=root)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


class ByteBudget:
    """Counts the array bytes a file declares against ``MAX_WEIGHTS_BYTES``."""

    def __init__(self, path, limit=None):
        self.path = os.fspath(path)
        self.limit = MAX_WEIGHTS_BYTES if limit is None else limit
        self.used = 0

    def take(self, nbytes, what):
        """Adds ``nbytes`` for ``what``; raises ``ValueError`` past the limit."""
        self.used += int(nbytes)
        if self.used > self.limit:
            raise ValueError(
                f"Refusing {self.path!r}: {what} takes its array data past "
                f"{self.limit / 2**20:,.0f} MiB, more than any network of the family "
                "holds; the file is corrupt or hostile."
            )


_alive = atomic.pid_alive
