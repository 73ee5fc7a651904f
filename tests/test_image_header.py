"""keras_inception.image_header: sizes from headers, in Python and in the graph."""

import io
import struct

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_inception import image_header


def _encode(image, fmt, **options):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _gif(frames, **options):
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], **options)
    return buffer.getvalue()


def _corpus():
    """Real files written by Pillow: every format and the colour modes TF reads."""
    rng = np.random.default_rng(0)
    files = []
    for height, width in [(1, 1), (30, 40), (97, 13), (257, 300)]:
        rgb = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
        files += [
            _encode(rgb, "JPEG"),
            _encode(rgb, "JPEG", progressive=True),
            _encode(rgb.convert("CMYK"), "JPEG"),
            _encode(rgb.convert("L"), "JPEG"),
            _encode(rgb, "PNG"),
            _encode(rgb.convert("L"), "PNG"),
            _encode(rgb.convert("I;16"), "PNG"),
            _encode(rgb.convert("RGBA"), "PNG"),
            _encode(rgb.convert("P"), "PNG"),
            _encode(rgb, "GIF"),
            _encode(rgb, "BMP"),
            _encode(rgb.convert("RGBA"), "BMP"),
            _encode(rgb, "WEBP"),
            _encode(rgb, "WEBP", lossless=True),
            _encode(rgb.convert("RGBA"), "WEBP"),
        ]
    return files


@pytest.fixture(scope="module")
def graph_header():
    """``(height, width, pixels)`` from the graph twin, as one traced function."""
    fn = tf.function(
        image_header._tf_dimensions_and_pixels,
        input_signature=[tf.TensorSpec([], tf.string)],
    )
    return lambda data: tuple(int(v) for v in fn(tf.constant(data)).numpy())


@pytest.fixture(scope="module")
def graph_check():
    fn = tf.function(
        lambda contents: image_header.tf_check_max_pixels(contents, 1_000_000),
        input_signature=[tf.TensorSpec([], tf.string)],
    )
    return lambda data: fn(tf.constant(data))


def test_python_and_graph_agree_with_the_decoder(graph_header):
    corpus = _corpus()
    formats = {image_header.image_format(data) for data in corpus}
    assert formats == {"JPEG", "PNG", "GIF", "BMP", "WEBP"}
    for data in corpus:
        decoded = tuple(tf.io.decode_image(data, channels=3, expand_animations=False).shape[:2])
        assert image_header.image_dimensions(data) == decoded
        assert graph_header(data) == (*decoded, decoded[0] * decoded[1])
        assert image_header.decoded_pixels(data) == decoded[0] * decoded[1]


def test_tf_image_dimensions_is_int32_pair_and_minus_one_when_unknown():
    dims = image_header.tf_image_dimensions(tf.constant(b"not an image"))
    assert dims.dtype == tf.int32 and dims.numpy().tolist() == [-1, -1]
    png = _encode(Image.new("RGB", (7, 5)), "PNG")
    assert image_header.tf_image_dimensions(tf.constant(png)).numpy().tolist() == [5, 7]


def test_truncated_headers_are_unknown_never_an_out_of_range_error(graph_header):
    rgb = Image.new("RGB", (9, 8))
    for data in [_encode(rgb, fmt) for fmt in ("PNG", "GIF", "BMP", "WEBP")] + [
        _encode(rgb, "WEBP", lossless=True)
    ]:
        full = image_header.image_dimensions(data)
        for cut in range(0, 40):
            prefix = data[:cut]
            found = image_header._dimensions_and_pixels(prefix)
            assert graph_header(prefix) == (found or (-1, -1, -1))
            assert found is None or found[:2] == full
    for cut in (0, 1, 2, 3):
        assert image_header.image_dimensions(_encode(rgb, "JPEG")[:cut]) is None


def test_truncated_jpeg_header_fails_cleanly_in_the_graph(graph_header):
    jpeg = _encode(Image.new("RGB", (9, 8)), "JPEG")
    assert image_header.image_dimensions(jpeg[:20]) is None
    with pytest.raises(tf.errors.InvalidArgumentError, match="JPEG"):
        graph_header(jpeg[:20])


def _jpeg_with_size(height, width):
    """A real JPEG with the SOF0 frame header rewritten to ``height`` x ``width``."""
    data = bytearray(_encode(Image.new("RGB", (8, 8)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def test_jpeg_marker_scan_handles_fill_bytes_standalone_markers_and_garbage():
    data = _encode(Image.new("RGB", (21, 17)), "JPEG")
    # Fill bytes before a marker, a stand-alone RST marker, a stuffed 0xFF00
    # and stray bytes between segments are all skipped, as libjpeg does.
    doctored = data[:2] + b"\xff\xff\xff\xd0\xff\x00junk" + data[2:]
    assert image_header.image_dimensions(doctored) == (17, 21)
    assert image_header.image_dimensions(_jpeg_with_size(60000, 123)) == (60000, 123)
    no_frame = data[:2] + b"\xff\xd9"
    assert image_header.image_dimensions(no_frame) is None
    endless_fill = data[:2] + b"\xff" * 1_000_000
    assert image_header.image_dimensions(endless_fill) is None


def _png_with_size(height, width):
    data = bytearray(_encode(Image.new("L", (4, 4)), "PNG"))
    data[16:24] = struct.pack(">II", width, height)
    return bytes(data)


def _gif_with_frame_size(height, width):
    data = bytearray(_encode(Image.new("L", (4, 4)), "GIF"))
    descriptor = data.index(b"\x2c\x00\x00\x00\x00")
    data[descriptor + 5 : descriptor + 9] = struct.pack("<HH", width, height)
    return bytes(data)


def _bmp_with_size(height, width):
    data = bytearray(_encode(Image.new("RGB", (4, 4)), "BMP"))
    data[18:26] = struct.pack("<ii", width, height)
    return bytes(data)


def _webp_canvas(height, width):
    """A VP8X header (extended WebP) with the given canvas."""
    chunk = (
        b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    )
    body = b"WEBP" + b"VP8X" + struct.pack("<I", len(chunk)) + chunk
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize(
    "data, expected",
    [
        (_jpeg_with_size(20000, 20000), "image is 20000x20000 = 400000000 pixels"),
        (_png_with_size(20000, 20000), "image is 20000x20000 = 400000000 pixels"),
        (_png_with_size(2**31 - 1, 2**31 - 1), "image is 2147483647x2147483647"),
        (_gif_with_frame_size(65535, 65535), "image is 65535x65535 = 4294836225 pixels"),
        (_bmp_with_size(-30000, 30000), "image is 30000x30000 = 900000000 pixels"),
        (_webp_canvas(2**24, 2**24), "image is 16777216x16777216"),
    ],
    ids=["jpeg", "png", "png-int32-max", "gif", "bmp-top-down", "webp-vp8x"],
)
def test_huge_dimensions_are_refused_before_decoding(data, expected, graph_check):
    with pytest.raises(ValueError, match=f"{expected}.*over max_pixels=1000000"):
        image_header.check_max_pixels(data, 1_000_000)
    # The PNG/GIF/BMP files hold no pixel data for that size: had the decoder
    # run first, it would have failed with its own message, not ours.
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"{expected}.*max_pixels=1000000"):
        graph_check(data)


def test_images_within_the_limit_pass_through_unchanged(graph_check):
    data = _encode(Image.new("RGB", (100, 100)), "PNG")
    image_header.check_max_pixels(data, 10_000)
    assert graph_check(data).numpy() == data


def test_unreadable_header_is_refused(graph_check):
    with pytest.raises(ValueError, match="not a JPEG, PNG, GIF, BMP or WebP"):
        image_header.check_max_pixels(b"hello")
    with pytest.raises(ValueError, match="PNG header"):
        image_header.check_max_pixels(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(tf.errors.InvalidArgumentError, match="cannot read the image size"):
        graph_check(b"hello")


def test_bmp_negative_and_zero_dimensions(graph_header):
    assert image_header.image_dimensions(_bmp_with_size(-5, 7)) == (5, 7)
    for height, width in [(5, -7), (0, 7), (5, 0), (-(2**31), 7)]:
        assert image_header.image_dimensions(_bmp_with_size(height, width)) is None
        assert graph_header(_bmp_with_size(height, width)) == (-1, -1, -1)


def test_gif_frames_are_summed_and_the_largest_frame_sizes_the_output(graph_header, graph_check):
    frames = [Image.fromarray(np.full((30, 40, 3), 20 * i, np.uint8)) for i in range(12)]
    data = _gif(frames)
    assert tf.io.decode_image(data, expand_animations=True).shape[0] == 12
    assert image_header.image_dimensions(data) == (30, 40)
    assert image_header.decoded_pixels(data) == 12 * 30 * 40
    assert graph_header(data) == (30, 40, 12 * 30 * 40)
    # TensorFlow sizes its output by the frames, not the logical screen.
    screen_lies = bytearray(_gif([frames[0]]))
    screen_lies[6:10] = struct.pack("<HH", 4, 3)
    decoded = tf.io.decode_image(bytes(screen_lies), channels=3, expand_animations=False)
    assert tuple(decoded.shape[:2]) == image_header.image_dimensions(bytes(screen_lies)) == (30, 40)
    # 1,008 frames of 40x30 exceed a 1,000,000 limit that one frame is far under.
    many = _gif(frames * 84)
    with pytest.raises(ValueError, match="1209600 pixels in all frames"):
        image_header.check_max_pixels(many, 1_000_000)
    with pytest.raises(tf.errors.InvalidArgumentError, match="1209600 pixels in all frames"):
        graph_check(many)


def test_gif_parsers_agree_on_mutated_files(graph_header):
    rng = np.random.default_rng(3)
    frames = [
        Image.fromarray(rng.integers(0, 256, (9 + i, 11 + i, 3), dtype=np.uint8)) for i in range(4)
    ]
    seeds = [_gif(frames), _gif(frames[:1])]
    for i in range(150):
        data = bytearray(seeds[i % 2])
        for _ in range(int(rng.integers(1, 6))):
            data[int(rng.integers(len(data)))] = int(rng.choice([0, 0x21, 0x2C, 0x3B, 0xFF, 7]))
        data = bytes(data[: int(rng.integers(13, len(data) + 1))])
        found = image_header._dimensions_and_pixels(data)
        assert graph_header(data) == (found or (-1, -1, -1))


def test_graph_twin_runs_in_a_tf_data_map():
    files = [_encode(Image.new("RGB", (w, 3)), "PNG") for w in (5, 6)] + [b"junk"]
    dataset = tf.data.Dataset.from_tensor_slices(files).map(image_header.tf_image_dimensions)
    assert [d.tolist() for d in dataset.as_numpy_iterator()] == [[3, 5], [3, 6], [-1, -1]]
