"""Image dimensions from the file header, before anything is decoded.

TensorFlow's decoders allocate the whole image before they look at the pixel
data: a 389 KB PNG of 20000x20000 zeros decodes to 1.2 GB. Reading the size
from the header first lets a caller refuse such a "decompression bomb" at the
cost of a few bytes.

Two twins, one in Python (``image_dimensions``, ``decoded_pixels``) and one in
the TensorFlow graph (``tf_image_dimensions``, ``tf_decoded_pixels``,
``tf_check_max_pixels``: usable in ``tf.function``, ``tf.data`` maps and
SavedModel signatures). Both report what ``tf.io.decode_image`` would decode
to, which is not always what the header's first field says:

- JPEG: the SOFn frame header (``tf.image.extract_jpeg_shape`` in the graph).
- PNG: the IHDR chunk.
- GIF: TensorFlow decodes every frame (giflib keeps all of them in memory,
  one byte a pixel) and sizes its output by the largest frame, ignoring the
  logical screen. So the dimensions are the largest frame's, and the decoded
  pixels are the sum over all frames: 1,000 frames of 1000x1000 cost as much
  as one 31623x31623 image.
- BMP: the BITMAPINFOHEADER fields TensorFlow reads (a negative height is a
  top-down image: its absolute value counts).
- WebP: the ``VP8 `` / ``VP8L`` bitstream header or the ``VP8X`` canvas.
"""

import re
import struct

# Non-JPEG images are decoded at full size, and JPEGs are decoded whole for
# serving: above this many pixels (about 120 MB of RGB) an image is refused.
DEFAULT_MAX_PIXELS = 40_000_000

_JPEG, _PNG, _GIF, _BMP, _WEBP = range(1, 6)
_FORMAT_NAMES = {_JPEG: "JPEG", _PNG: "PNG", _GIF: "GIF", _BMP: "BMP", _WEBP: "WEBP"}
# JPEG markers with no length field (TEM, RSTn, SOI).
_STANDALONE_MARKERS = frozenset([0x01, *range(0xD0, 0xD9)])
# SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# The JPEG scan gives up after this many segments (a real file has tens).
_MAX_JPEG_SEGMENTS = 65536
_INT32_MAX = 2**31 - 1
_HEAD_BYTES = 32
_FILL = re.compile(rb"\xff*")


def image_format(data):
    """The format as TensorFlow sniffs it: "JPEG", "PNG", "GIF", "BMP", "WEBP", or None."""
    return _FORMAT_NAMES.get(_sniff(bytes(data[:12])))


def image_dimensions(data):
    """``(height, width)`` that ``tf.io.decode_image`` would decode ``data`` to.

    Pure Python, from the header only (for GIF, the image descriptors of all
    frames). See the module docstring for what each format contributes.

    Args:
        data: the encoded file, ``bytes`` (or any buffer).

    Returns:
        ``(height, width)`` ints, or ``None`` for an unknown format or a
        truncated or unreadable header.
    """
    found = _dimensions_and_pixels(bytes(data))
    return None if found is None else found[:2]


def decoded_pixels(data):
    """Pixels TensorFlow holds in memory to decode ``data``, or ``None`` (as ``image_dimensions``).

    ``height * width``, except for GIF: the sum of all frames' pixels (at
    least the largest frame's).
    """
    found = _dimensions_and_pixels(bytes(data))
    return None if found is None else found[2]


def check_max_pixels(data, max_pixels=DEFAULT_MAX_PIXELS):
    """Raises ``ValueError`` unless ``data`` is an image of at most ``max_pixels`` decoded pixels.

    Args:
        data: the encoded file.
        max_pixels: the limit, default ``DEFAULT_MAX_PIXELS``.

    Raises:
        ValueError: the header is unreadable, or the image is too large; the
            message names the limit.
    """
    data = bytes(data)
    found = _dimensions_and_pixels(data)
    if found is None:
        raise ValueError(_unreadable_message(image_format(data)))
    height, width, pixels = found
    if pixels > max_pixels:
        raise ValueError(_too_large_message(width, height, pixels, max_pixels))


def _too_large_message(width, height, pixels, max_pixels):
    if pixels == width * height:
        return f"image is {width}x{height} = {pixels} pixels, over max_pixels={max_pixels}"
    return f"image is {width}x{height}, {pixels} pixels in all frames, over max_pixels={max_pixels}"


def _unreadable_message(fmt):
    if fmt is None:
        return "not a JPEG, PNG, GIF, BMP or WebP file"
    return f"cannot read the image size from its {fmt} header (truncated or corrupt)"


def _sniff(head):
    if head.startswith(b"\xff\xd8\xff"):
        return _JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _PNG
    if head.startswith(b"GIF8"):
        return _GIF
    if head.startswith(b"BM"):
        return _BMP
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _WEBP
    return None


def _dimensions_and_pixels(data):
    """``(height, width, decoded pixels)`` or None."""
    fmt = _sniff(data[:12])
    if fmt == _GIF:
        return _gif(data)
    parse = {_JPEG: _jpeg, _PNG: _png, _BMP: _bmp, _WEBP: _webp}.get(fmt)
    size = parse(data) if parse else None
    if size is None:
        return None
    height, width = size
    return height, width, height * width


def _jpeg(data):
    pos = 2
    for _ in range(_MAX_JPEG_SEGMENTS):
        # Like libjpeg, skip anything up to the next 0xFF, then fill bytes.
        pos = data.find(b"\xff", pos)
        if pos < 0:
            return None
        pos = _FILL.match(data, pos).end()
        if pos >= len(data):
            return None
        marker = data[pos]
        pos += 1
        if marker == 0x00 or marker in _STANDALONE_MARKERS:  # a stuffed 0xFF00 is skipped
            continue
        if marker in (0xD9, 0xDA):  # EOI, or a scan before any frame header
            return None
        if pos + 2 > len(data):
            return None
        (length,) = struct.unpack_from(">H", data, pos)
        if marker in _SOF_MARKERS:
            if length < 8 or pos + 7 > len(data):
                return None
            height, width = struct.unpack_from(">HH", data, pos + 3)
            return height, width
        if length < 2:
            return None
        pos += length
    return None


def _png(data):
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack_from(">II", data, 16)
    return height, width


def _gif(data):
    frames = _gif_frames(data)
    if not frames:
        return None
    height = max(h for h, _ in frames)
    width = max(w for _, w in frames)
    return height, width, max(height * width, sum(h * w for h, w in frames))


def _gif_frames(data):
    """``[(height, width), ...]`` of each image descriptor giflib would read."""
    if len(data) < 13:
        return []
    flags = data[10]
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    frames = []
    while pos < len(data):
        kind = data[pos]
        if kind == 0x21:  # extension: introducer, label, sub-blocks
            pos += 2
        elif kind == 0x2C:  # image descriptor, local colour table, LZW code size, sub-blocks
            if pos + 10 > len(data):
                break
            width, height = struct.unpack_from("<HH", data, pos + 5)
            frames.append((height, width))
            flags = data[pos + 9]
            pos += 11 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
        else:  # the trailer (0x3B), or bytes giflib refuses
            break
        while pos < len(data):  # the data sub-blocks, up to a zero-length one
            size = data[pos]
            pos += 1 + size
            if size == 0:
                break
    return frames


def _bmp(data):
    if len(data) < 26:
        return None
    width, height = struct.unpack_from("<ii", data, 18)
    if width <= 0 or height in (0, -(2**31)):
        return None
    return abs(height), width


def _webp(data):
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack_from("<HH", data, 26)
        return height & 0x3FFF, width & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        (bits,) = struct.unpack_from("<I", data, 21)
        return ((bits >> 14) & 0x3FFF) + 1, (bits & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return height, width
    return None


# ---------------------------------------------------------------------------
# The same in the TensorFlow graph.


def tf_image_dimensions(contents):
    """``image_dimensions`` in the graph: scalar ``tf.string`` -> int32 ``[2]`` (height, width).

    ``(-1, -1)`` for an unknown format or a truncated header. A JPEG whose
    header libjpeg cannot read raises ``InvalidArgumentError`` (``Invalid JPEG
    data``) instead. Dimensions above 2**31 - 1 are clipped to it.
    """
    import tensorflow as tf

    found = _tf_dimensions_and_pixels(contents)
    return tf.cast(tf.minimum(found[:2], _INT32_MAX), tf.int32)


def tf_decoded_pixels(contents):
    """``decoded_pixels`` in the graph: scalar ``tf.string`` -> int64 scalar, -1 when unknown."""
    return _tf_dimensions_and_pixels(contents)[2]


def tf_check_max_pixels(contents, max_pixels=DEFAULT_MAX_PIXELS):
    """Returns ``contents`` once its header shows at most ``max_pixels`` decoded pixels.

    Graph-safe; decode the returned tensor (not ``contents``) so that the check
    runs before the decoder allocates anything.

    Args:
        contents: scalar ``tf.string``, an encoded image.
        max_pixels: the limit (a Python int), default ``DEFAULT_MAX_PIXELS``.

    Returns:
        ``contents``, with a control dependency on the check.

    Raises:
        tf.errors.InvalidArgumentError: (when run) the image is larger, e.g.
            ``image is 20000x20000 = 400000000 pixels, over max_pixels=40000000``,
            or its header is unreadable.
    """
    import tensorflow as tf

    contents = tf.convert_to_tensor(contents, tf.string)
    found = _tf_dimensions_and_pixels(contents)
    height, width, pixels = found[0], found[1], found[2]

    def message():
        unreadable = tf.constant(
            "cannot read the image size from its header (not a JPEG, PNG, GIF, BMP "
            "or WebP file, or a truncated or corrupt one)"
        )
        size = tf.strings.join(
            ["image is ", tf.strings.as_string(width), "x", tf.strings.as_string(height)]
        )
        count = tf.strings.as_string(pixels)
        too_large = tf.where(
            pixels == width * height,
            tf.strings.join([size, " = ", count, " pixels"]),
            tf.strings.join([size, ", ", count, " pixels in all frames"]),
        )
        too_large = tf.strings.join([too_large, f", over max_pixels={max_pixels}"])
        return tf.where(pixels < 0, unreadable, too_large)

    check = tf.debugging.Assert(
        tf.logical_and(pixels >= 0, pixels <= max_pixels), [message()], name="check_max_pixels"
    )
    with tf.control_dependencies([check]):
        return tf.identity(contents)


def _tf_dimensions_and_pixels(contents):
    """int64 ``[3]``: height, width, decoded pixels; all -1 when unknown."""
    import tensorflow as tf

    contents = tf.convert_to_tensor(contents, tf.string)
    head = tf.io.decode_raw(tf.strings.substr(contents, 0, _HEAD_BYTES), tf.uint8)
    head = tf.pad(tf.cast(head, tf.int64), [[0, _HEAD_BYTES - tf.size(head)]])
    length = tf.cast(tf.strings.length(contents), tf.int64)
    unknown = tf.constant([-1, -1, -1], tf.int64)

    def starts_with(prefix, offset=0):
        return tf.reduce_all(tf.equal(head[offset : offset + len(prefix)], list(prefix)))

    def unsigned(offset, size, big_endian=False):
        order = range(size) if big_endian else reversed(range(size))
        value = tf.constant(0, tf.int64)
        for i in order:
            value = value * 256 + head[offset + i]
        return value

    def with_pixels(height, width, ok):
        height = tf.minimum(height, _INT32_MAX)
        width = tf.minimum(width, _INT32_MAX)
        return tf.where(ok, tf.stack([height, width, height * width]), unknown)

    def jpeg():
        shape = tf.cast(tf.image.extract_jpeg_shape(contents), tf.int64)
        return with_pixels(shape[0], shape[1], tf.constant(True))

    def png():
        ok = tf.logical_and(length >= 24, starts_with(b"IHDR", 12))
        return with_pixels(unsigned(20, 4, True), unsigned(16, 4, True), ok)

    def bmp():
        width = unsigned(18, 4) - tf.where(head[21] >= 128, tf.constant(2**32, tf.int64), 0)
        height = unsigned(22, 4) - tf.where(head[25] >= 128, tf.constant(2**32, tf.int64), 0)
        ok = tf.logical_and(length >= 26, width > 0)
        ok = tf.logical_and(ok, tf.logical_and(height != 0, height != -(2**31)))
        return with_pixels(tf.abs(height), width, ok)

    def webp():
        vp8 = tf.logical_and(starts_with(b"VP8 ", 12), starts_with(b"\x9d\x01\x2a", 23))
        vp8 = tf.logical_and(vp8, length >= 30)
        vp8l = tf.logical_and(starts_with(b"VP8L", 12), head[20] == 0x2F)
        vp8l = tf.logical_and(vp8l, length >= 25)
        vp8x = tf.logical_and(starts_with(b"VP8X", 12), length >= 30)
        lossless = unsigned(21, 4)
        height = tf.where(
            vp8,
            unsigned(28, 2) % 0x4000,
            tf.where(vp8l, (lossless // 0x4000) % 0x4000 + 1, unsigned(27, 3) + 1),
        )
        width = tf.where(
            vp8,
            unsigned(26, 2) % 0x4000,
            tf.where(vp8l, lossless % 0x4000 + 1, unsigned(24, 3) + 1),
        )
        return with_pixels(height, width, vp8 | vp8l | vp8x)

    fmt = tf.case(
        [
            (starts_with(b"\xff\xd8\xff"), lambda: tf.constant(_JPEG)),
            (starts_with(b"\x89PNG\r\n\x1a\n"), lambda: tf.constant(_PNG)),
            (starts_with(b"GIF8"), lambda: tf.constant(_GIF)),
            (starts_with(b"BM"), lambda: tf.constant(_BMP)),
            (
                tf.logical_and(starts_with(b"RIFF"), starts_with(b"WEBP", 8)),
                lambda: tf.constant(_WEBP),
            ),
        ],
        default=lambda: tf.constant(0),
        exclusive=False,
    )
    return tf.switch_case(
        fmt,
        [lambda: unknown, jpeg, png, lambda: _tf_gif(contents, length), bmp, webp],
    )


def _tf_gif(contents, length):
    """``_gif`` in the graph, without a loop over blocks.

    A GIF is a linked list: each data sub-block starts with its length, and
    each extension or image descriptor is followed by a chain of sub-blocks.
    Walking it block by block in a ``tf.while_loop`` costs ~100 us a block, so
    a file of tiny blocks would take seconds. Pointer doubling finds the end of
    every chain, then the sum over the blocks that follow one another, in
    O(n log n) vectorized work on the file's n bytes.
    """
    import tensorflow as tf

    n = tf.cast(length, tf.int32)
    data = tf.pad(tf.cast(tf.io.decode_raw(contents, tf.uint8), tf.int32), [[0, 16]])
    body = data[:n]
    position = tf.range(n, dtype=tf.int32)

    def doubling_steps(size):
        # 2**steps > the longest possible path (size + 1 nodes).
        size = tf.cast(size, tf.float64)
        bits = tf.math.log(size + 2.0) / tf.math.log(tf.constant(2.0, tf.float64))
        return tf.cast(tf.math.ceil(bits), tf.int32) + 1

    def repeat(times, step, values):
        return tf.while_loop(
            lambda i, *_: i < times,
            lambda i, *v: (i + 1, *step(*v)),
            (0, *values),
            parallel_iterations=1,
        )[1:]

    def colour_table(flags):
        return tf.where(flags >= 128, 3 * tf.bitwise.left_shift(1, flags % 8 + 1), 0)

    # chain_end[p]: the zero-length terminator of the sub-block chain starting
    # at p, or n when the chain runs past the end of the file.
    chain_end = tf.concat(
        [tf.where(body == 0, position, tf.minimum(position + 1 + body, n)), [n]], axis=0
    )
    (chain_end,) = repeat(doubling_steps(n), lambda jump: (tf.gather(jump, jump),), (chain_end,))

    # The blocks: an extension (0x21) or an image descriptor (0x2C), each
    # followed by its chain; anything else ends the walk (as giflib stops).
    candidate = tf.logical_or(body == 0x21, body == 0x2C)
    blocks = tf.cast(tf.where(candidate)[:, 0], tf.int32)
    count = tf.size(blocks)
    rank = tf.concat([tf.cumsum(tf.cast(candidate, tf.int32)) - 1, [count]], axis=0)

    def block_index(pos):
        pos = tf.minimum(pos, n)
        is_block = tf.gather(tf.concat([candidate, [False]], axis=0), pos)
        return tf.where(is_block, tf.gather(rank, pos), count)

    kind = tf.gather(data, blocks)
    frame = tf.logical_and(kind == 0x2C, blocks + 10 <= n)
    chain = tf.where(
        kind == 0x21, blocks + 2, blocks + 11 + colour_table(tf.gather(data, blocks + 9))
    )
    end = tf.gather(chain_end, tf.minimum(chain, n))
    follows = tf.where(end < n, end + 1, n)
    follows = tf.where(tf.logical_or(kind == 0x21, frame), block_index(follows), count)

    def frame_field(offset):
        value = tf.gather(data, blocks + offset) + 256 * tf.gather(data, blocks + offset + 1)
        return tf.concat([tf.where(frame, value, 0), [0]], axis=0)

    width, height = frame_field(5), frame_field(7)
    pixels = tf.cast(width, tf.int64) * tf.cast(height, tf.int64)
    frames = tf.concat([tf.cast(frame, tf.int32), [0]], axis=0)
    follows = tf.concat([follows, [count]], axis=0)

    def step(follows, pixels, frames, height, width):
        return (
            tf.gather(follows, follows),
            pixels + tf.gather(pixels, follows),
            frames + tf.gather(frames, follows),
            tf.maximum(height, tf.gather(height, follows)),
            tf.maximum(width, tf.gather(width, follows)),
        )

    _, pixels, frames, height, width = repeat(
        doubling_steps(count), step, (follows, pixels, frames, height, width)
    )
    first = block_index(13 + colour_table(data[10]))
    height = tf.cast(height[first], tf.int64)
    width = tf.cast(width[first], tf.int64)
    ok = tf.logical_and(n >= 13, frames[first] > 0)
    return tf.where(
        ok,
        tf.stack([height, width, tf.maximum(pixels[first], height * width)]),
        tf.constant([-1, -1, -1], tf.int64),
    )
