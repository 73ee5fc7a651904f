"""Image files on disk: which ones TensorFlow can decode, and a report of the rest.

A directory of real photographs holds surprises: zero-byte and truncated files,
text files in class folders, PNGs named ``.jpg``, CMYK JPEGs, 16-bit PNGs,
palette BMPs. ``inspect_image_file`` looks at each file's header and tail
(cheap: no pixel is decoded unless the tail looks wrong) and says why a file
cannot be used; ``verify_decodable`` decodes every file with the same
TensorFlow ops the pipeline uses, to catch corruption in the middle of a file.
``report_skipped`` turns the findings into a warning and a log file, so nothing
is dropped silently. The log goes beside the user's output when a directory is
given, else into a private per-user cache folder: never under a shared
temporary directory, where another user could plant a symbolic link.
"""

import collections
import concurrent.futures
import contextlib
import errno
import hashlib
import os
import re
import stat
import struct
import sys
import warnings

import tensorflow as tf

from keras_inception import atomic
from keras_inception import image_header

# What ``tf.io.decode_image`` reads.
SUPPORTED_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WEBP")

# Images whose header claims more pixels (about 120 MB of RGB) are skipped.
# JPEGs too: the pipeline downscales them while decoding, but a header
# claiming more is rarely a photograph (a 3 KB file claiming 65000x65000 is
# bogus), and serving decodes them whole. Raise ``max_pixels`` for larger ones.
DEFAULT_MAX_PIXELS = image_header.DEFAULT_MAX_PIXELS

# Larger files are skipped unread: an image of DEFAULT_MAX_PIXELS takes at
# most ~160 MB (an uncompressed 32-bit BMP), and reading a larger file would
# hold it whole in memory, once per parallel reader.
MAX_FILE_BYTES = 256 << 20

_PNG_END = b"IEND\xaeB`\x82"

# How much of a file the header check reads: a JPEG's frame header follows
# its EXIF and ICC segments (64 KiB each at most); a GIF's frames are spread
# over the whole file (TensorFlow decodes them all), so a GIF is read whole,
# up to this size (``image_header`` reads at most 65536 blocks, ~16 MiB).
_HEADER_BYTES = {"JPEG": 1 << 20, "GIF": 17 << 20}


class SkippedFileWarning(UserWarning):
    """Some files were left out of a dataset; the warning names the log that lists them."""


def sniff_format(head):
    """The image format of a file from its first bytes, or ``None``.

    Args:
        head: at least the first 12 bytes of the file.

    Returns:
        One of ``SUPPORTED_FORMATS``, or ``None`` when the bytes are none of them.
    """
    return image_header.image_format(head)


def inspect_image_file(path, *, max_pixels=DEFAULT_MAX_PIXELS):
    """Why ``path`` cannot be used as a training image, or ``None`` if it can.

    Reads the header and the last bytes. A file whose end marker is missing
    (the sign of truncation) is decoded once to decide.

    Args:
        path: the file.
        max_pixels: largest width x height accepted (for a GIF: the pixels
            of all its frames), default ``DEFAULT_MAX_PIXELS``.

    Returns:
        A short reason (``"empty file"``, ``"not an image"``, ...) or ``None``.
    """
    reason, size = file_problem(path)
    if reason is not None:
        return reason
    try:
        # O_NONBLOCK: a file swapped for a FIFO since the stat cannot block us.
        with os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return "not a regular file"
            head = f.read(1078)  # BMP headers with a 256-entry palette
            fmt = sniff_format(head)
            limit = _HEADER_BYTES.get(fmt, 0)
            if fmt == "GIF" and size > limit:
                return f"too large: a GIF of {size} bytes (max {limit})"
            head += f.read(max(0, limit - len(head)))
            f.seek(max(0, size - 16))
            tail = f.read()
    except OSError as error:
        return os_error_reason(path, error)
    if fmt is None:
        return _unsupported_reason(path)
    reason = (
        _check_bmp(head, max_pixels) if fmt == "BMP" else _header_size_problem(head, max_pixels)
    )
    if reason is None and not _TAIL_CHECKS[fmt](head, tail, size):
        reason = decode_error(path)
    return reason


def file_problem(path):
    """Why ``path`` cannot be read as an image file, and its size.

    Follows symbolic links (a tree of links into a pool of images is common)
    but only to regular files: a link to ``/dev/zero`` or a FIFO would make a
    reader hang or fill the memory.

    Returns:
        ``(reason, size)``: ``reason`` is ``None`` for a readable, non-empty
        regular file of at most ``MAX_FILE_BYTES``.
    """
    try:
        info = os.stat(path)
    except OSError as error:
        return os_error_reason(path, error), 0
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file", 0
    if info.st_size == 0:
        return "empty file", 0
    if info.st_size > MAX_FILE_BYTES:
        return f"too large: {info.st_size} bytes (max {MAX_FILE_BYTES})", info.st_size
    return None, info.st_size


def os_error_reason(path, error):
    """A short reason for an ``OSError`` met reading ``path`` ("symbolic link loop", ...)."""
    if error.errno == errno.ELOOP:
        return "symbolic link loop"
    if error.errno == errno.ENOENT:
        return "dangling symbolic link" if os.path.islink(path) else "vanished while being read"
    return f"unreadable: {error.strerror or error}"


def decode_error(path):
    """The TensorFlow error decoding ``path``, in one line, or ``None`` if it decodes."""
    try:
        decode_shape(tf.io.read_file(path))
    except tf.errors.InvalidArgumentError as error:
        return "cannot be decoded: " + one_line(error.message)
    except tf.errors.OpError as error:
        return "unreadable: " + one_line(error.message)
    return None


def one_line(message):
    """A TensorFlow error message on one short line, without its graph decorations."""
    message = re.sub(r"\{\{.*?\}\}|\[Op:.*", "", message).strip()
    return (message.splitlines() or ["invalid data"])[-1][:200]


def inspect_files(paths, *, max_pixels=DEFAULT_MAX_PIXELS):
    """``{path: reason}`` for the files in ``paths`` that cannot be used (threaded)."""
    workers = min(32, 4 * (os.cpu_count() or 1))
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        reasons = pool.map(lambda p: inspect_image_file(p, max_pixels=max_pixels), paths)
        return {p: r for p, r in zip(paths, reasons) if r is not None}


def verify_decodable(paths):
    """``{path: reason}`` for the files TensorFlow fails to decode, all decoded in parallel.

    JPEGs are decoded at 1/8 size, which still reads every entropy-coded byte;
    a failing file is then decoded alone for its error message.
    """
    if not paths:
        return {}

    @tf.autograph.experimental.do_not_convert
    def check(path):
        # The shape is returned so that the decode is not pruned from the graph.
        return path, decode_shape(tf.io.read_file(path))

    decoded = (
        tf.data.Dataset.from_tensor_slices(list(paths))
        .map(check, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
        .ignore_errors()
    )
    good = {p.decode() for p, _ in decoded.as_numpy_iterator()}
    return {p: decode_error(p) or "cannot be decoded" for p in paths if p not in good}


def report_skipped(skipped, *, source, total, log_path=None, log_dir=None, shown_path=None):
    """Warns about skipped files and lists them in a log file.

    Args:
        skipped: ``{path: reason}``.
        source: what was read (shown in the warning).
        total: number of files looked at.
        log_path: where to write the list, default ``None``: ``log_dir`` /
            ``skipped-<digest of source>.log``.
        log_dir: the folder of the default log, default ``None``: the private
            per-user cache folder (``user_cache_dir()``).
        shown_path: the path the warning names, default ``None``
            (``log_path``); for a log written into a staging folder that is
            published under another name.

    Returns:
        The log file's path (``shown_path`` when given), or ``None`` when
        nothing was skipped or the log could not be written (the warning
        then says why).
    """
    if not skipped:
        return None
    try:
        if log_path is None:
            digest = hashlib.sha1(os.path.abspath(str(source)).encode()).hexdigest()[:12]
            log_path = os.path.join(log_dir or user_cache_dir(), f"skipped-{digest}.log")
        text = "".join(
            f"{_log_field(path)}\t{_log_field(skipped[path])}\n" for path in sorted(skipped)
        )
        write_atomic(log_path, text.encode("utf-8"))
        log_path = shown_path or log_path
        where = f"the list is in {log_path}"
    except (OSError, ValueError) as error:
        log_path = None
        where = f"the list could not be written ({error})"
    kinds = collections.Counter(
        re.split(r"[:(;]", reason)[0].strip() for reason in skipped.values()
    )
    breakdown = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
    warnings.warn(
        f"Skipped {len(skipped)} of {total} files in {source} ({breakdown}); {where}",
        SkippedFileWarning,
        stacklevel=user_stacklevel(),
    )
    return log_path


def _log_field(text):
    """``text`` on one line of the tab-separated log, whatever a file name holds."""
    return str(text).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def user_cache_dir():
    """The private per-user folder of keras_inception's own files, created if needed.

    ``$XDG_CACHE_HOME/keras_inception`` (an absolute ``XDG_CACHE_HOME``), else
    ``~/.cache/keras_inception``, with mode 0700.

    Raises:
        ValueError: the folder is a symbolic link, not a folder, or belongs to
            another user (someone may have planted it).
    """
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    path = os.path.join(base, "keras_inception")
    os.makedirs(base, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        kind = (
            "a symbolic link"
            if stat.S_ISLNK(info.st_mode)
            else ("not a folder" if not stat.S_ISDIR(info.st_mode) else "owned by another user")
        )
        raise ValueError(f"The cache folder {path} is {kind}; remove it or set XDG_CACHE_HOME.")
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, 0o700)
    return path


# Durable, atomic writes are one implementation for the whole package.
write_atomic = atomic.write_bytes
write_json = atomic.write_json
fsync_dir = atomic.fsync_dir
current_umask = atomic.umask
remove_stale = atomic.remove_stale


def user_stacklevel():
    """The ``warnings.warn`` stacklevel of the first caller outside keras_inception.

    So a warning points at the user's ``build_dataset(...)`` line, however
    deep inside the package it is raised.
    """
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    level, frame = 1, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def decode_shape(image_bytes):
    """The decoded shape of ``image_bytes``, decoding like the pipeline (JPEGs at 1/8 size).

    Raises ``tf.errors.InvalidArgumentError`` for bytes that do not decode.
    """
    return tf.cond(
        tf.io.is_jpeg(image_bytes),
        lambda: tf.shape(tf.io.decode_jpeg(image_bytes, channels=3, ratio=8)),
        lambda: tf.shape(tf.io.decode_image(image_bytes, channels=3, expand_animations=False)),
    )


def _unsupported_reason(path):
    from PIL import Image
    from PIL import UnidentifiedImageError

    # No warnings.catch_warnings() here or below: these run in worker threads,
    # and restoring the global warning state from a thread would swallow the
    # caller's warnings. Pillow may warn about a huge image; that is fine.
    try:
        with Image.open(path) as image:
            fmt = image.format
    except Image.DecompressionBombError:
        return "unsupported format, too large to identify"
    except (UnidentifiedImageError, OSError, SyntaxError):
        return "not an image"
    return f"unsupported format {fmt} (TensorFlow reads {', '.join(SUPPORTED_FORMATS)})"


def _header_size_problem(data, max_pixels):
    """Why the header of ``data`` is unusable or too large for ``max_pixels``, or ``None``."""
    found = image_header.image_dimensions(data)
    if found is None:
        return "cannot read the image size from its header (truncated or corrupt)"
    height, width = found
    pixels = image_header.decoded_pixels(data)
    if height == 0 or width == 0:
        return f"empty image: {width}x{height} pixels"
    if pixels > max_pixels:
        frames = "" if pixels == width * height else f", {pixels} pixels in all frames"
        return f"too large: {width}x{height} pixels{frames} (max_pixels={max_pixels})"
    return None


def _check_bmp(head, max_pixels):
    # TensorFlow's BMP decoder reads uncompressed 8/24/32-bit pixels with a
    # 40+ byte header, and treats 8-bit palette indices as grey levels.
    if len(head) < 54:
        return "truncated header"
    header_size, width, height, _, bits, compression = struct.unpack("<IiiHHI", head[14:34])
    if header_size < 40 or bits not in (8, 24, 32) or compression not in (0, 3):
        return f"unsupported BMP variant ({bits}-bit, compression {compression}); convert it to PNG"
    if bits == 8:
        palette_size = struct.unpack("<I", head[46:50])[0] or 256
        if palette_size > 256:
            return f"unsupported BMP variant (8-bit with {palette_size} palette entries)"
        start = 14 + header_size
        entries = (head[start + 4 * i : start + 4 * i + 3] for i in range(palette_size))
        if any(entry != bytes((i, i, i)) for i, entry in enumerate(entries)):
            return (
                "8-bit BMP with a colour palette (TensorFlow reads it as grey); convert it to PNG"
            )
    return _header_size_problem(head, max_pixels)


# Whether the file ends where its own header says it does.
_TAIL_CHECKS = {
    "JPEG": lambda head, tail, size: tail.rstrip(b"\x00\r\n ").endswith(b"\xff\xd9"),
    "PNG": lambda head, tail, size: tail.endswith(_PNG_END),
    "GIF": lambda head, tail, size: tail.rstrip(b"\x00").endswith(b";"),
    "BMP": lambda head, tail, size: size >= struct.unpack("<I", head[2:6])[0],
    "WEBP": lambda head, tail, size: size >= struct.unpack("<I", head[4:8])[0] + 8,
}
