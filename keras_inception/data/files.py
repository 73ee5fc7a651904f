"""Image files on disk: which ones TensorFlow can decode, and a report of the rest.

A directory of real photographs holds surprises: zero-byte and truncated files,
text files in class folders, PNGs named ``.jpg``, CMYK JPEGs, 16-bit PNGs,
palette BMPs. ``inspect_image_file`` looks at each file's header and tail
(cheap: no pixel is decoded unless the tail looks wrong) and says why a file
cannot be used; ``verify_decodable`` decodes every file with the same
TensorFlow ops the pipeline uses, to catch corruption in the middle of a file.
``report_skipped`` turns the findings into a warning and a log file, so nothing
is dropped silently.
"""

import collections
import concurrent.futures
import hashlib
import json
import os
import re
import struct
import sys
import tempfile
import warnings

import tensorflow as tf

# What ``tf.io.decode_image`` reads.
SUPPORTED_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WEBP")

# Non-JPEG images are decoded at full size: above this many pixels (about
# 120 MB of RGB) they are skipped. JPEGs have no limit: they are downscaled
# while decoding.
DEFAULT_MAX_PIXELS = 40_000_000

_PNG_END = b"IEND\xaeB`\x82"


class SkippedFileWarning(UserWarning):
    """Some files were left out of a dataset; the warning names the log that lists them."""


def sniff_format(head):
    """The image format of a file from its first bytes, or ``None``.

    Args:
        head: at least the first 12 bytes of the file.

    Returns:
        One of ``SUPPORTED_FORMATS``, or ``None`` when the bytes are none of them.
    """
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head.startswith(b"BM"):
        return "BMP"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


def inspect_image_file(path, *, max_pixels=DEFAULT_MAX_PIXELS):
    """Why ``path`` cannot be used as a training image, or ``None`` if it can.

    Reads the header and the last bytes. A file whose end marker is missing
    (the sign of truncation) is decoded once to decide.

    Args:
        path: the file.
        max_pixels: largest width x height accepted for non-JPEG images,
            default ``DEFAULT_MAX_PIXELS``.

    Returns:
        A short reason (``"empty file"``, ``"not an image"``, ...) or ``None``.
    """
    size = os.path.getsize(path)
    if size == 0:
        return "empty file"
    with open(path, "rb") as f:
        head = f.read(1078)  # BMP headers with a 256-entry palette
        f.seek(max(0, size - 16))
        tail = f.read()
    fmt = sniff_format(head)
    if fmt is None:
        return _unsupported_reason(path)
    reason = _HEADER_CHECKS[fmt](path, head, size, max_pixels)
    if reason is None and not _TAIL_CHECKS[fmt](head, tail, size):
        reason = decode_error(path)
    return reason


def decode_error(path):
    """The TensorFlow error decoding ``path``, in one line, or ``None`` if it decodes."""
    try:
        _decode_for_check(tf.io.read_file(path))
    except tf.errors.InvalidArgumentError as error:
        message = re.sub(r"\{\{.*?\}\}|\[Op:.*", "", error.message).strip()
        return "cannot be decoded: " + (message.splitlines() or ["invalid data"])[-1][:200]
    return None


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

    def check(path):
        # The shape is returned so that the decode is not pruned from the graph.
        return path, _decode_for_check(tf.io.read_file(path))

    decoded = tf.data.Dataset.from_tensor_slices(list(paths)).map(
        check, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False
    ).ignore_errors()
    good = {p.decode() for p, _ in decoded.as_numpy_iterator()}
    return {p: decode_error(p) or "cannot be decoded" for p in paths if p not in good}


def report_skipped(skipped, *, source, total, log_path=None):
    """Warns about skipped files and lists them in a log file.

    Args:
        skipped: ``{path: reason}``.
        source: what was read (shown in the warning).
        total: number of files looked at.
        log_path: where to write the list, default ``None``: a file under the
            temporary directory named after ``source``.

    Returns:
        The log file's path, or ``None`` when nothing was skipped.
    """
    if not skipped:
        return None
    if log_path is None:
        digest = hashlib.sha1(os.path.abspath(str(source)).encode()).hexdigest()[:12]
        log_path = os.path.join(tempfile.gettempdir(), "keras_inception", f"skipped-{digest}.log")
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as f:
        for path in sorted(skipped):
            f.write(f"{path}\t{skipped[path]}\n")
    kinds = collections.Counter(re.split(r"[:(;]", reason)[0].strip() for reason in skipped.values())
    breakdown = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
    warnings.warn(
        f"Skipped {len(skipped)} of {total} files in {source} ({breakdown}); "
        f"the list is in {log_path}",
        SkippedFileWarning,
        stacklevel=user_stacklevel(),
    )
    return log_path


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


def write_json(path, value):
    """Writes ``value`` as JSON, atomically (a reader never sees half a file)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2)
    os.replace(path + ".tmp", path)


def _decode_for_check(image_bytes):
    """Decodes like the pipeline would; JPEGs at 1/8 size to stay cheap on huge files."""
    return tf.cond(
        tf.io.is_jpeg(image_bytes),
        lambda: tf.shape(tf.io.decode_jpeg(image_bytes, channels=3, ratio=8)),
        lambda: tf.shape(
            tf.io.decode_image(image_bytes, channels=3, expand_animations=False)
        ),
    )


def _unsupported_reason(path):
    from PIL import Image, UnidentifiedImageError

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


def _too_large(width, height, max_pixels):
    if width * height > max_pixels:
        return f"too large: {width}x{height} pixels (max_pixels={max_pixels})"
    return None


def _check_jpeg(path, head, size, max_pixels):
    """Any JPEG size is fine: the pipeline downscales huge ones while decoding."""
    return None


def _check_png(path, head, size, max_pixels):
    if len(head) < 24:
        return "truncated header"
    width, height = struct.unpack(">II", head[16:24])
    return _too_large(width, height, max_pixels)


def _check_gif(path, head, size, max_pixels):
    if len(head) < 10:
        return "truncated header"
    width, height = struct.unpack("<HH", head[6:10])
    return _too_large(width, height, max_pixels)


def _check_bmp(path, head, size, max_pixels):
    # TensorFlow's BMP decoder reads uncompressed 8/24/32-bit pixels with a
    # 40+ byte header, and treats 8-bit palette indices as grey levels.
    if len(head) < 54:
        return "truncated header"
    header_size, width, height, _, bits, compression = struct.unpack("<IiiHHI", head[14:34])
    if header_size < 40 or bits not in (8, 24, 32) or compression not in (0, 3):
        return (
            f"unsupported BMP variant ({bits}-bit, compression {compression}); "
            "convert it to PNG"
        )
    if bits == 8:
        palette_size = struct.unpack("<I", head[46:50])[0] or 256
        start = 14 + header_size
        entries = (head[start + 4 * i:start + 4 * i + 3] for i in range(palette_size))
        if any(entry != bytes((i, i, i)) for i, entry in enumerate(entries)):
            return "8-bit BMP with a colour palette (TensorFlow reads it as grey); convert it to PNG"
    return _too_large(abs(width), abs(height), max_pixels)


def _check_webp(path, head, size, max_pixels):
    from PIL import Image

    try:
        with Image.open(path) as image:
            width, height = image.size
    except Image.DecompressionBombError:
        return f"too large (max_pixels={max_pixels})"
    except OSError:
        return decode_error(path)
    return _too_large(width, height, max_pixels)


_HEADER_CHECKS = {
    "JPEG": _check_jpeg,
    "PNG": _check_png,
    "GIF": _check_gif,
    "BMP": _check_bmp,
    "WEBP": _check_webp,
}

# Whether the file ends where its own header says it does.
_TAIL_CHECKS = {
    "JPEG": lambda head, tail, size: tail.rstrip(b"\x00\r\n ").endswith(b"\xff\xd9"),
    "PNG": lambda head, tail, size: tail.endswith(_PNG_END),
    "GIF": lambda head, tail, size: tail.rstrip(b"\x00").endswith(b";"),
    "BMP": lambda head, tail, size: size >= struct.unpack("<I", head[2:6])[0],
    "WEBP": lambda head, tail, size: size >= struct.unpack("<I", head[4:8])[0] + 8,
}
