"""Inception preprocessing as small, pure, graph-compatible TensorFlow ops.

Szegedy et al., "Going Deeper with Convolutions" (CVPR 2015), section 6, and the
TF-slim ``inception_preprocessing`` that trained the released checkpoints:

- training: a random crop covering 5-100% of the image (GoogLeNet: 8-100%) with
  aspect ratio 3/4-4/3, sampled by ``tf.image.sample_distorted_bounding_box``
  around the ground-truth box when there is one; bilinear resize to the model's
  size; random horizontal flip; colour distortion in a random order; clip;
- evaluation: the central 87.5% of the image, bilinear resize.

Pixels are in [0, 1] inside these ops; the output is scaled to [-1, 1] (what the
networks expect) or, with ``scale=False``, left at 0-255 for models that carry
their own ``preprocessing`` layer.

Every random op is stateless: it takes a ``seed`` (an int, a ``[2]`` integer
tensor, or ``None`` for a fresh random one), so a given seed always gives the
same crop, flip and colours.

For JPEG bytes, ``load_for_train`` and ``load_for_eval`` fuse decoding with the
crop (``tf.io.decode_and_crop_jpeg``) and let libjpeg downscale by 2, 4 or 8
while decoding when the crop is that much larger than the output: a 20000x20000
JPEG is never held in memory at full size.
"""

import dataclasses

import tensorflow as tf

from keras_inception import image_header

BRIGHTNESS_MAX_DELTA = 32.0 / 255.0
SATURATION_RANGE = (0.5, 1.5)
HUE_MAX_DELTA = 0.2
CONTRAST_RANGE = (0.5, 1.5)

# The orders of TF-slim's ``distort_color``: b=brightness, s=saturation,
# h=hue, c=contrast. Varying the order keeps the network from learning one
# fixed composition of the distortions; the fast mode, as released, keeps the
# first order only.
COLOR_ORDERINGS = {
    "full": ("bshc", "sbch", "chbs", "hscb"),
    "fast": ("bs",),
}

# libjpeg can decode at 1/1, 1/2, 1/4 or 1/8 of the size at almost no cost.
_JPEG_RATIOS = (1, 2, 4, 8)

_WHOLE_IMAGE = ((0.0, 0.0, 1.0, 1.0),)


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """One training-augmentation recipe (the arguments of ``preprocess_for_train``).

    Attributes:
        crop: random crop by ``sample_distorted_bounding_box``; ``False`` resizes
            the whole image.
        area_range: fraction of the image area the crop may cover.
        aspect_ratio_range: width/height range of the crop.
        flip: random horizontal flip.
        color: ``"full"``, ``"fast"`` or ``None`` (no colour distortion).
    """

    crop: bool = True
    area_range: tuple = (0.05, 1.0)
    aspect_ratio_range: tuple = (0.75, 1.33)
    flip: bool = True
    color: str = "full"

    def kwargs(self):
        """The recipe as keyword arguments of ``preprocess_for_train``."""
        return dataclasses.asdict(self)


AUGMENTATIONS = {
    # The papers' recipe, for photographs.
    "inception": Augmentation(),
    # TF-slim's fast mode: brightness and saturation only.
    "fast": Augmentation(color="fast"),
    # A mild zoom/shift with flips, for small images a deep crop would destroy.
    "mild": Augmentation(area_range=(0.8, 1.0), aspect_ratio_range=(0.9, 1.1), color=None),
    # The same without flips, for images whose mirror image is another class
    # (characters, digits).
    "light": Augmentation(
        area_range=(0.8, 1.0), aspect_ratio_range=(0.9, 1.1), flip=False, color=None
    ),
    "none": Augmentation(crop=False, flip=False, color=None),
}


def decode_image(image_bytes):
    """Decodes JPEG, PNG, GIF (first frame), BMP or WebP bytes to RGB.

    Grayscale, CMYK, RGBA and 16-bit images come out as 8-bit RGB. Graph
    compatible: usable in ``tf.data`` maps, ``tf.function`` and SavedModel
    signatures.

    Args:
        image_bytes: scalar string tensor, the encoded file.

    Returns:
        uint8 tensor ``[height, width, 3]``.

    Raises:
        tf.errors.InvalidArgumentError: the bytes are not a decodable image.
    """
    image = tf.io.decode_image(
        image_bytes, channels=3, dtype=tf.uint8, expand_animations=False
    )
    return tf.ensure_shape(image, [None, None, 3])


def central_crop_window(image_shape, central_fraction=0.875):
    """The central region keeping ``central_fraction`` of each side.

    The margins are equal on both sides (the same region as
    ``tf.image.central_crop``).

    Args:
        image_shape: ``[height, width, ...]`` integer tensor or sequence.
        central_fraction: fraction of each side kept, in (0, 1], default 0.875.

    Returns:
        int32 tensor ``[offset_y, offset_x, crop_height, crop_width]``.
    """
    _check_fraction(central_fraction)
    shape = tf.cast(tf.convert_to_tensor(image_shape)[:2], tf.float64)
    margin = tf.cast((shape - shape * central_fraction) / 2.0, tf.int32)
    size = tf.cast(shape, tf.int32) - 2 * margin
    return tf.concat([margin, size], axis=0)


def sample_crop_window(
    image_shape,
    bbox=None,
    *,
    seed=None,
    min_object_covered=0.1,
    aspect_ratio_range=(0.75, 1.33),
    area_range=(0.05, 1.0),
    max_attempts=100,
):
    """A random Inception crop, sampled by ``sample_distorted_bounding_box``.

    Args:
        image_shape: ``[height, width, channels]`` integer tensor or sequence.
        bbox: float tensor ``[num_boxes, 4]`` of ``(ymin, xmin, ymax, xmax)``
            in [0, 1], the ground-truth object boxes; default ``None`` (and an
            empty tensor) means the whole image.
        seed: int, ``[2]`` integer tensor, or ``None`` (random), default ``None``.
        min_object_covered: the crop holds at least this fraction of some box,
            default 0.1.
        aspect_ratio_range: allowed width/height of the crop, default (0.75, 1.33).
        area_range: allowed fraction of the image area, default (0.05, 1.0).
        max_attempts: samples tried before falling back to the whole image,
            default 100.

    Returns:
        int32 tensor ``[offset_y, offset_x, crop_height, crop_width]``.
    """
    _check_range("area_range", area_range, upper=1.0)
    _check_range("aspect_ratio_range", aspect_ratio_range)
    if bbox is None:
        bbox = _WHOLE_IMAGE
    boxes = tf.reshape(tf.cast(bbox, tf.float32), [1, -1, 4])
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.cast(tf.convert_to_tensor(image_shape)[:3], tf.int32),
        bounding_boxes=boxes,
        seed=_seed_tensor(seed),
        min_object_covered=min_object_covered,
        aspect_ratio_range=aspect_ratio_range,
        area_range=area_range,
        max_attempts=max_attempts,
        use_image_if_no_bounding_boxes=True,
    )
    return tf.concat([begin[:2], size[:2]], axis=0)


def crop_to_window(image, window):
    """The ``[offset_y, offset_x, height, width]`` window of an ``[h, w, c]`` image."""
    window = tf.cast(window, tf.int32)
    return tf.slice(image, [window[0], window[1], 0], [window[2], window[3], -1])


def decode_and_crop(image_bytes, window_fn, size=None):
    """Decodes only the region ``window_fn(image_shape)`` of an encoded image.

    JPEGs are cropped while decoding (``tf.io.decode_and_crop_jpeg``), and when
    ``size`` is given and the window is at least 2, 4 or 8 times larger than
    ``size`` on both sides, libjpeg also downscales by that factor while
    decoding. Other formats are decoded whole, then cropped.

    Args:
        image_bytes: scalar string tensor, the encoded file.
        window_fn: function of the ``[height, width, 3]`` int32 image shape
            returning ``[offset_y, offset_x, crop_height, crop_width]``.
        size: ``(height, width)`` the crop will be resized to, or ``None`` to
            decode at full resolution, default ``None``.

    Returns:
        uint8 tensor ``[crop_height, crop_width, 3]`` (smaller when downscaled).
    """

    def jpeg():
        window = tf.cast(window_fn(tf.io.extract_jpeg_shape(image_bytes)), tf.int32)
        if size is None:
            return _decode_jpeg_window(image_bytes, window, 1)
        shrink = tf.minimum(window[2] // size[0], window[3] // size[1])
        index = tf.reduce_sum(tf.cast(shrink >= tf.constant(_JPEG_RATIOS[1:]), tf.int32))
        branches = [
            (lambda r=ratio: _decode_jpeg_window(image_bytes, window, r))
            for ratio in _JPEG_RATIOS
        ]
        return tf.switch_case(index, branches)

    def other():
        image = decode_image(image_bytes)
        return crop_to_window(image, window_fn(tf.shape(image)))

    return tf.cond(tf.io.is_jpeg(image_bytes), jpeg, other)


def random_flip(image, seed=None):
    """Mirrors ``image`` left-right with probability 1/2 (stateless, ``seed`` as above)."""
    return tf.image.stateless_random_flip_left_right(image, seed=_seed_tensor(seed))


def distort_color(image, seed=None, mode="full"):
    """Random brightness/saturation/hue/contrast in one of several random orders.

    Args:
        image: float tensor ``[h, w, 3]`` in [0, 1].
        seed: int, ``[2]`` integer tensor, or ``None`` (random), default ``None``.
        mode: ``"full"`` (brightness 32/255, saturation 0.5-1.5, hue 0.2,
            contrast 0.5-1.5, four orders) or ``"fast"`` (brightness then
            saturation), default ``"full"``.

    Returns:
        The distorted image, clipped to [0, 1].
    """
    if mode not in COLOR_ORDERINGS:
        raise ValueError(
            f"`mode` must be one of {sorted(COLOR_ORDERINGS)}. Received: mode={mode!r}"
        )
    orderings = COLOR_ORDERINGS[mode]
    seeds = tf.random.experimental.stateless_split(_seed_tensor(seed), num=5)
    ops = {
        "b": lambda x: tf.image.stateless_random_brightness(x, BRIGHTNESS_MAX_DELTA, seeds[0]),
        "s": lambda x: tf.image.stateless_random_saturation(x, *SATURATION_RANGE, seeds[1]),
        "h": lambda x: tf.image.stateless_random_hue(x, HUE_MAX_DELTA, seeds[2]),
        "c": lambda x: tf.image.stateless_random_contrast(x, *CONTRAST_RANGE, seeds[3]),
    }

    def apply(order):
        x = image
        for op in order:
            x = ops[op](x)
        return x

    choice = tf.random.stateless_uniform(
        [], seeds[4], minval=0, maxval=len(orderings), dtype=tf.int32
    )
    image = tf.switch_case(choice, [(lambda o=order: apply(o)) for order in orderings])
    return tf.clip_by_value(image, 0.0, 1.0)


def to_model_range(image, scale=True):
    """Maps [0, 1] pixels to [-1, 1] (``scale=True``, default) or to 0-255 floats."""
    if scale:
        return (image - 0.5) * 2.0
    return image * 255.0


def preprocess_for_eval(image, height, width, central_fraction=0.875, scale=True):
    """Evaluation preprocessing: central crop, bilinear resize, scaling.

    Args:
        image: uint8 (or float 0-255) tensor ``[h, w, 3]``, or a scalar string
            tensor of encoded bytes (then only the crop is decoded, see
            ``load_for_eval``).
        height: output height.
        width: output width.
        central_fraction: fraction of each side kept, default 0.875 (1.0: no crop).
        scale: ``True`` (default) gives [-1, 1]; ``False`` gives floats 0-255.

    Returns:
        float32 tensor ``[height, width, 3]``.
    """
    _check_fraction(central_fraction)
    crop = _crop(image, lambda shape: central_crop_window(shape, central_fraction), height, width)
    return _finish(crop, height, width, scale=scale)


def load_for_eval(image_bytes, height, width, central_fraction=0.875, scale=True):
    """``preprocess_for_eval`` of encoded bytes, decoding only the central crop.

    The same result as ``preprocess_for_eval(decode_image(image_bytes), ...)``
    for images up to twice the output size; larger JPEGs are downscaled while
    decoding, so huge images cost little memory. Arguments as in
    ``preprocess_for_eval``, with ``image_bytes`` the encoded file.
    """
    return preprocess_for_eval(
        tf.convert_to_tensor(image_bytes, tf.string), height, width, central_fraction, scale
    )


def preprocess_for_train(
    image,
    height,
    width,
    bbox=None,
    *,
    seed=None,
    crop=True,
    area_range=(0.05, 1.0),
    aspect_ratio_range=(0.75, 1.33),
    min_object_covered=0.1,
    color="full",
    flip=True,
    scale=True,
):
    """Inception training augmentation.

    Random crop (``sample_crop_window``), bilinear resize, random flip, colour
    distortion, clip, scaling.

    Args:
        image: uint8 (or float 0-255) tensor ``[h, w, 3]``, or a scalar string
            tensor of encoded bytes (then only the crop is decoded, see
            ``load_for_train``).
        height: output height.
        width: output width.
        bbox: ground-truth boxes ``[num_boxes, 4]`` (ymin, xmin, ymax, xmax) in
            [0, 1], default ``None`` (the whole image).
        seed: int, ``[2]`` integer tensor, or ``None`` (random), default ``None``.
        crop: sample a random crop, default ``True``; ``False`` resizes the whole image.
        area_range: crop area as a fraction of the image, default (0.05, 1.0).
        aspect_ratio_range: crop width/height, default (0.75, 1.33).
        min_object_covered: fraction of a box the crop keeps, default 0.1.
        color: ``"full"`` (default), ``"fast"`` or ``None``.
        flip: random horizontal flip, default ``True``.
        scale: ``True`` (default) gives [-1, 1]; ``False`` gives floats 0-255.

    Returns:
        float32 tensor ``[height, width, 3]``.
    """
    crop_seed, finish_seed = tf.unstack(
        tf.random.experimental.stateless_split(_seed_tensor(seed), num=2)
    )
    if crop:
        window_fn = lambda shape: sample_crop_window(  # noqa: E731
            shape, bbox, seed=crop_seed, min_object_covered=min_object_covered,
            aspect_ratio_range=aspect_ratio_range, area_range=area_range,
        )
    else:
        window_fn = lambda shape: central_crop_window(shape, 1.0)  # noqa: E731
    cropped = _crop(image, window_fn, height, width)
    return _finish(cropped, height, width, scale=scale, seed=finish_seed, color=color, flip=flip)


def load_for_train(image_bytes, height, width, bbox=None, **options):
    """``preprocess_for_train`` of encoded bytes, decoding only the sampled crop.

    With the same ``seed`` the crop, flip and colours are those of
    ``preprocess_for_train(decode_image(image_bytes), ...)``; JPEG crops more
    than twice the output size are downscaled while decoding. Arguments as in
    ``preprocess_for_train``, with ``image_bytes`` the encoded file.
    """
    return preprocess_for_train(
        tf.convert_to_tensor(image_bytes, tf.string), height, width, bbox, **options
    )


def _crop(image, window_fn, height, width):
    """The ``window_fn`` region of a decoded image, or of encoded bytes (fused decode).

    An image smaller than ``(height, width)`` on either side is upscaled
    (bilinear) to cover it first, so that the crops of small images move by
    fractions of their pixels rather than by whole ones. Returns float32 0-255.
    """
    image = tf.convert_to_tensor(image)
    if image.dtype == tf.string:
        return tf.cond(
            _smaller_than(image_header.tf_image_dimensions(image), height, width),
            lambda: _crop_upscaled(decode_image(image), window_fn, height, width),
            lambda: tf.cast(decode_and_crop(image, window_fn, size=(height, width)), tf.float32),
        )
    return tf.cond(
        _smaller_than(tf.shape(image)[:2], height, width),
        lambda: _crop_upscaled(image, window_fn, height, width),
        lambda: tf.cast(crop_to_window(image, window_fn(tf.shape(image))), tf.float32),
    )


def _smaller_than(dimensions, height, width):
    """Whether known ``[height, width]`` dimensions fall short of the output on a side."""
    return tf.logical_and(
        tf.reduce_all(dimensions > 0),
        tf.logical_or(dimensions[0] < height, dimensions[1] < width),
    )


def _crop_upscaled(image, window_fn, height, width):
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    factor = tf.maximum(height / shape[0], width / shape[1])
    size = tf.cast(tf.math.ceil(shape * factor), tf.int32)
    image = tf.image.resize(tf.cast(image, tf.float32), size, method="bilinear")
    return crop_to_window(image, window_fn(tf.shape(image)))


def _finish(crop, height, width, *, scale, seed=None, color=None, flip=False):
    """Resize to ``(height, width)``, optional flip and colour, then scaling."""
    if color is not None and color not in COLOR_ORDERINGS:
        raise ValueError(
            f"`color` must be 'full', 'fast' or None. Received: color={color!r}"
        )
    # Resizing first scales only the output's pixels, not the larger crop's.
    image = tf.image.resize(crop, (height, width), method="bilinear") / 255.0
    image = tf.ensure_shape(image, [height, width, 3])
    if flip or color:
        flip_seed, color_seed = tf.unstack(
            tf.random.experimental.stateless_split(_seed_tensor(seed), num=2)
        )
        if flip:
            image = random_flip(image, flip_seed)
        if color:
            image = distort_color(image, color_seed, mode=color)
    return to_model_range(image, scale)


def _decode_jpeg_window(image_bytes, window, ratio):
    """``decode_and_crop_jpeg`` at ``1/ratio`` size; the window is in full-size pixels."""
    scaled = tf.concat([window[:2] // ratio, tf.maximum(window[2:] // ratio, 1)], axis=0)
    image = tf.io.decode_and_crop_jpeg(image_bytes, scaled, channels=3, ratio=ratio)
    return tf.ensure_shape(image, [None, None, 3])


def _seed_tensor(seed):
    """A ``[2]`` int64 stateless seed from an int, a tensor, or ``None`` (random)."""
    if seed is None:
        return tf.random.uniform([2], maxval=tf.int64.max, dtype=tf.int64)
    seed = tf.cast(seed, tf.int64)
    if seed.shape.rank == 0:
        return tf.stack([seed, tf.constant(0, tf.int64)])
    return seed


def _check_fraction(central_fraction):
    if not 0.0 < central_fraction <= 1.0:
        raise ValueError(
            "`central_fraction` must be in (0, 1]. "
            f"Received: central_fraction={central_fraction!r}"
        )


def _check_range(arg, value, upper=None):
    low, high = value
    if not 0.0 < low <= high or (upper is not None and high > upper):
        limit = f" and at most {upper}" if upper is not None else ""
        raise ValueError(
            f"`{arg}` must be (low, high) with 0 < low <= high{limit}. "
            f"Received: {arg}={value!r}"
        )
