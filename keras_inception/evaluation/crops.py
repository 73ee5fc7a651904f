"""Multi-crop evaluation: the crop geometry and the tensor op applying it.

Szegedy et al. "Going Deeper with Convolutions", CVPR 2015 (arXiv:1409.4842),
Sec. 7: the shorter side of the image is resized to 4 scales (256, 288, 320,
352), the left, centre and right squares are taken (top, centre and bottom for
portrait images), from each the 4 corner and the centre 224x224 crops plus the
square resized to 224x224, and their mirrors: 4 x 3 x 6 x 2 = 144 crops. The
Inception-v3/v4 papers report 12-crop and 144-crop numbers; ``docs/evaluation.md``
lists every crop of every protocol.

The geometry functions take the image's height and width as Python ints (to
read or test the exact pixel boxes) or as scalar int tensors (inside
``tf.data``): they use only integer arithmetic, so both give the same boxes.
"""

import itertools
import typing

import tensorflow as tf

# The GoogLeNet protocol's shorter-side scales for a 224-px network.
BASE_SIZE = 224
BASE_SCALES = (256, 288, 320, 352)
# Number of crops of each protocol; 1 is the standard central crop.
CROP_COUNTS = (1, 10, 12, 144)


class CropBox(typing.NamedTuple):
    """One crop: a box in the image resized so that its shorter side is ``scale``.

    The box (``top``, ``left``, ``height``, ``width``) is resized to the
    network's input size when it is larger (the whole-square crops), then
    mirrored left-right when ``flip`` is true.
    """

    scale: int
    top: int
    left: int
    height: int
    width: int
    flip: bool


def _minimum(a, b):
    if tf.is_tensor(a) or tf.is_tensor(b):
        return tf.minimum(a, b)
    return min(a, b)


def _round_ratio(numerator, denominator):
    """``round(numerator / denominator)`` (halves up) in integer arithmetic."""
    return (2 * numerator + denominator) // (2 * denominator)


def crop_size(size):
    """``(height, width)`` of the network input from an int or a pair."""
    if isinstance(size, int) and not isinstance(size, bool):
        size = (size, size)
    size = tuple(size)
    if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
        raise ValueError(
            f"`size` must be a positive int or a (height, width) pair. Received: size={size!r}"
        )
    return size


def scales(size):
    """The 4 shorter-side scales for a network of input ``size``.

    256, 288, 320 and 352 for a 224-px network, scaled by ``size / 224`` and
    rounded (342, 384, 427, 470 for 299 px). For a non-square input the larger
    side sets the scale, so every crop fits in the squares.

    Args:
        size: the network's input size, an int or ``(height, width)``.
    """
    side = max(crop_size(size))
    return tuple(_round_ratio(scale * side, BASE_SIZE) for scale in BASE_SCALES)


def resized_shape(height, width, shorter):
    """``(height, width)`` of an image resized so that its shorter side is ``shorter``.

    The longer side keeps the aspect ratio, rounded to the nearest pixel.
    """
    short = _minimum(height, width)
    return _round_ratio(height * shorter, short), _round_ratio(width * shorter, short)


def corner_and_centre_offsets(region_height, region_width, crop_height, crop_width):
    """``(top, left)`` of the top-left, top-right, bottom-left, bottom-right and centre crops.

    The crops have size ``crop_height x crop_width`` inside a region of size
    ``region_height x region_width``; the centre crop rounds its offset down.
    """
    dy, dx = region_height - crop_height, region_width - crop_width
    return ((0, 0), (0, dx), (dy, 0), (dy, dx), (dy // 2, dx // 2))


def square_offsets(height, width):
    """``(top, left)`` of the first, centre and last squares of side ``min(height, width)``.

    Left, centre and right for a landscape image; top, centre and bottom for a
    portrait one; a square image gives the same square three times.
    """
    side = _minimum(height, width)
    dy, dx = height - side, width - side
    return ((0, 0), (dy // 2, dx // 2), (dy, dx))


def _mirrored(boxes):
    """The boxes, then the same boxes flipped, in the same order."""
    boxes = tuple(boxes)
    return boxes + tuple(box._replace(flip=True) for box in boxes)


def crop_boxes(height, width, size, crops):
    """Every crop of a multi-crop protocol, as exact pixel boxes.

    - ``crops=10``: the shorter side resized to the first scale (256 for a
      224-px network, 342 for 299 px); the 4 corner crops and the centre crop
      of the whole resized image; and their mirrors.
    - ``crops=12``: the shorter side resized to the first scale; in the centre
      square, the 4 corner crops, the centre crop and the whole square resized
      to the input size; and their mirrors (one scale and one square of the
      144-crop protocol; the papers do not define their 12 crops).
    - ``crops=144``: the 4 scales; the 3 squares; in each, the 4 corner crops,
      the centre crop and the whole square; and their mirrors.

    Order: scales ascending, squares first to last, crops top-left,
    top-right, bottom-left, bottom-right, centre, whole square; all unflipped
    crops first, then their mirrors in the same order.

    Args:
        height: the original image's height (int or scalar int tensor).
        width: the original image's width (int or scalar int tensor).
        size: the network's input size, an int or ``(height, width)``.
        crops: 10, 12 or 144 (the single central crop has no resize step and is
            ``keras_inception.data.preprocess_for_eval``).

    Returns:
        A tuple of ``CropBox`` in the coordinates of the image resized to the
        box's ``scale``.
    """
    crop_h, crop_w = crop_size(size)
    if crops not in CROP_COUNTS[1:]:
        raise ValueError(
            f"`crops` must be one of {CROP_COUNTS[1:]} for crop boxes. Received: crops={crops!r}"
        )
    if crops == 10:
        scale = scales(size)[0]
        region = resized_shape(height, width, scale)
        return _mirrored(
            CropBox(scale, top, left, crop_h, crop_w, False)
            for top, left in corner_and_centre_offsets(*region, crop_h, crop_w)
        )
    boxes = []
    for scale in scales(size) if crops == 144 else scales(size)[:1]:
        squares = square_offsets(*resized_shape(height, width, scale))
        for square_top, square_left in squares if crops == 144 else squares[1:2]:
            boxes.extend(
                CropBox(scale, square_top + top, square_left + left, crop_h, crop_w, False)
                for top, left in corner_and_centre_offsets(scale, scale, crop_h, crop_w)
            )
            boxes.append(CropBox(scale, square_top, square_left, scale, scale, False))
    return _mirrored(boxes)


def multi_crop(image, size, crops, central_fraction=0.875):
    """The crops of one image, ready to batch: float32 ``[crops, height, width, 3]``.

    Resizing is bilinear without antialiasing, as TF-slim's evaluation.

    Args:
        image: ``[h, w, 3]`` uint8 or float tensor of 0..255 pixels.
        size: the network's input size, an int or ``(height, width)``.
        crops: 1, 10, 12 or 144 (see ``crop_boxes``); 1 is the central crop
            (``keras_inception.data.preprocess_for_eval``).
        central_fraction: fraction of each side the single central crop
            keeps, default 0.875 (unused by the other protocols).

    Returns:
        The crops as float32 pixels in 0..255.
    """
    crop_h, crop_w = crop_size(size)
    if crops not in CROP_COUNTS:
        raise ValueError(f"`crops` must be one of {CROP_COUNTS}. Received: crops={crops!r}")
    image = tf.convert_to_tensor(image)
    if crops == 1:
        from keras_inception import data

        crop = data.preprocess_for_eval(image, crop_h, crop_w, central_fraction, scale=False)
        return crop[tf.newaxis]
    image = tf.cast(image, tf.float32)
    shape = tf.shape(image)
    boxes = crop_boxes(shape[0], shape[1], (crop_h, crop_w), crops)
    patches = []
    for scale, group in itertools.groupby(boxes[: crops // 2], key=lambda box: box.scale):
        resized = tf.image.resize(image, resized_shape(shape[0], shape[1], scale))
        for box in group:
            patch = resized[box.top : box.top + box.height, box.left : box.left + box.width]
            if (box.height, box.width) != (crop_h, crop_w):
                patch = tf.image.resize(patch, (crop_h, crop_w))
            patches.append(tf.ensure_shape(patch, (crop_h, crop_w, 3)))
    patches = tf.stack(patches)
    return tf.concat([patches, tf.reverse(patches, axis=[2])], axis=0)


__all__ = [
    "BASE_SCALES",
    "CROP_COUNTS",
    "CropBox",
    "corner_and_centre_offsets",
    "crop_boxes",
    "crop_size",
    "multi_crop",
    "resized_shape",
    "scales",
    "square_offsets",
]
