"""Image files the data tests generate: good ones, awkward ones, broken ones."""

import io
import os
import struct

import keras
import numpy as np
import pytest
from PIL import Image


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """The shared fixture's clean session and seed, without its ``gc.collect()``.

    Imported by the data test modules, where it replaces the conftest fixture:
    a full collection costs ~0.4 s per call with TensorFlow loaded, and these
    tests build no models whose memory would need freeing.
    """
    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(0)
    yield


def random_rgb(height, width, seed=0):
    """A random uint8 RGB array."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def encode(image, fmt, **kwargs):
    """Pillow ``image`` (or an array) encoded as ``fmt`` bytes."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def write(path, payload):
    """Writes bytes to ``path`` (creating folders) and returns the path."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(payload)
    return path


def awkward_images(seed=0):
    """``{name: bytes}`` of images TensorFlow must decode to RGB."""
    rgb = Image.fromarray(random_rgb(24, 32, seed))
    frames = [Image.new("RGB", (16, 12), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:])
    grey16 = (np.arange(24 * 32).reshape(24, 32) * 80).astype(np.uint16)
    return {
        "rgb.jpg": encode(rgb, "JPEG", quality=95),
        "grey.jpg": encode(rgb.convert("L"), "JPEG", quality=95),
        "cmyk.jpg": encode(rgb.convert("CMYK"), "JPEG", quality=95),
        "rgba.png": encode(rgb.convert("RGBA"), "PNG"),
        "palette.png": encode(rgb.convert("P"), "PNG"),
        "grey16.png": encode(Image.fromarray(grey16), "PNG"),
        "animated.gif": gif.getvalue(),
        "grey.bmp": encode(rgb.convert("L"), "BMP"),
        "rgb.bmp": encode(rgb, "BMP"),
        "rgb.webp": encode(rgb, "WEBP", lossless=True),
        "png_named.jpg": encode(rgb, "PNG"),
    }


def broken_files(seed=0):
    """``{name: bytes}`` of files that cannot be used, each for its own reason."""
    jpeg = encode(random_rgb(40, 48, seed), "JPEG", quality=90)
    png = encode(random_rgb(40, 48, seed), "PNG")
    # Invalid markers early in the entropy-coded data: every crop reads them.
    corrupt = bytearray(jpeg)
    start = jpeg.index(b"\xff\xda") + 20
    corrupt[start : start + 64] = bytes([0xFF, 0x12]) * 32
    # Damaged compressed pixels; the header and the IEND chunk are intact.
    corrupt_png = bytearray(png)
    start = png.index(b"IDAT") + 20
    corrupt_png[start : start + 40] = bytes(b ^ 0x55 for b in corrupt_png[start : start + 40])
    rgb = Image.fromarray(random_rgb(12, 16, seed))
    return {
        "empty.jpg": b"",
        "notes.txt": b"not an image\n",
        "truncated.jpg": jpeg[: len(jpeg) * 2 // 3],
        "truncated.png": png[: len(png) // 2],
        "corrupt.jpg": bytes(corrupt),
        "corrupt.png": bytes(corrupt_png),
        "colour_palette.bmp": encode(rgb.convert("P"), "BMP"),
        "one_bit.bmp": encode(rgb.convert("1"), "BMP"),
        "picture.tiff": encode(rgb, "TIFF"),
    }


def flat_jpeg(height, width):
    """A mid-grey baseline JPEG of any size, built without holding its pixels.

    Every 8x8 block of a flat image codes as "DC difference 0, end of block":
    ``00`` + ``1010`` with the standard Huffman tables, so the entropy-coded
    data is one 3-byte pattern (four blocks) repeated.
    """
    if height % 8 or width % 8 or (height * width // 64) % 4:
        raise ValueError(f"Sizes must be multiples of 8 and 4 blocks. Received: {height}x{width}")
    small = encode(Image.new("L", (8, 8), 128), "JPEG", quality=75)
    sof = small.index(b"\xff\xc0")
    header = bytearray(small[: small.index(b"\xff\xda")])
    header[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    sos_length = struct.unpack(">H", small[small.index(b"\xff\xda") + 2 :][:2])[0]
    sos = small[small.index(b"\xff\xda") : small.index(b"\xff\xda") + 2 + sos_length]
    blocks = height * width // 64
    return bytes(header) + sos + b"\x28\xa2\x8a" * (blocks // 4) + b"\xff\xd9"


def make_tree(root, classes, per_class, size=(20, 24), fmt="JPEG", seed=0):
    """``root/<class>/<i>.jpg`` random images; returns ``{class: [paths]}``."""
    tree = {}
    for c, name in enumerate(classes):
        ext = "jpg" if fmt == "JPEG" else fmt.lower()
        tree[name] = [
            write(
                os.path.join(root, name, f"{i}.{ext}"),
                encode(random_rgb(*size, seed=seed * 1000 + c * 100 + i), fmt),
            )
            for i in range(per_class)
        ]
    return tree
