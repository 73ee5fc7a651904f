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

The colour distortion also comes as a batch op, ``distort_color_batch``: the
same distribution, each image with its own random parameters, in one set of
vectorized ops with no per-image control flow, so that it can run inside a
model's compiled step on a GPU or TPU (``keras_inception.data.ColorDistortion``)
instead of on the host.
"""

import dataclasses

import tensorflow as tf

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
    image = tf.io.decode_image(image_bytes, channels=3, dtype=tf.uint8, expand_animations=False)
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
        window = window_fn(tf.io.extract_jpeg_shape(image_bytes))
        return _decode_jpeg_crop(image_bytes, window, size)

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
    check_color_mode(mode)
    image = _distort_color(image, _color_parameters(seed, mode), mode, 1.0)
    return tf.clip_by_value(image, 0.0, 1.0)


def distort_color_batch(images, seed=None, mode="full"):
    """``distort_color`` on a batch, with random parameters drawn for each image.

    The same distribution as ``distort_color`` image by image (the ranges,
    the orders and the clip), computed by one set of vectorized ops on the
    whole batch: no per-image control flow and only static shapes, so it
    compiles with XLA and runs inside a model's step on a GPU or TPU
    (``keras_inception.data.ColorDistortion``). On a CPU the per-image op is
    the faster one: its image stays in cache between the colour ops.

    Args:
        images: float tensor ``[batch, h, w, 3]`` in [0, 1].
        seed: int, ``[2]`` integer tensor, or ``None`` (random), default ``None``.
        mode: ``"full"`` or ``"fast"`` as in ``distort_color``, default ``"full"``.

    Returns:
        The distorted images, clipped to [0, 1].
    """
    check_color_mode(mode)
    images = tf.convert_to_tensor(images)
    if images.shape.rank != 4:
        raise ValueError(
            "`images` must be a batch [batch, height, width, 3]. "
            f"Received: images.shape={images.shape}"
        )
    parameters = _color_parameters(seed, mode, tf.shape(images)[:1])
    return tf.clip_by_value(_distort_color_vectorized(images, parameters, mode), 0.0, 1.0)


def check_color_mode(mode):
    """Raises ``ValueError`` unless ``mode`` is a key of ``COLOR_ORDERINGS``."""
    if mode not in COLOR_ORDERINGS:
        raise ValueError(
            f"`mode` must be one of {sorted(COLOR_ORDERINGS)}. Received: mode={mode!r}"
        )


def _color_parameters(seed, mode, shape=()):
    """The random draws of ``distort_color``: one of each per image of ``shape``.

    With ``shape=()`` these are exactly the values ``tf.image``'s
    ``stateless_random_brightness`` (and saturation, hue, contrast) draw from
    the same split seeds, so the per-image op is TF-slim's, seed for seed.
    """
    seeds = tf.random.experimental.stateless_split(_seed_tensor(seed), num=5)

    def uniform(index, low, high):
        return tf.random.stateless_uniform(shape, seeds[index], low, high)

    return {
        "brightness": uniform(0, -BRIGHTNESS_MAX_DELTA, BRIGHTNESS_MAX_DELTA),
        "saturation": uniform(1, *SATURATION_RANGE),
        "hue": uniform(2, -HUE_MAX_DELTA, HUE_MAX_DELTA),
        "contrast": uniform(3, *CONTRAST_RANGE),
        "order": tf.random.stateless_uniform(
            shape, seeds[4], 0, len(COLOR_ORDERINGS[mode]), tf.int32
        ),
    }


def _distort_color(image, parameters, mode, max_value):
    """One image's colour distortion (not clipped), pixels in [0, ``max_value``].

    ``tf.image``'s kernels, only those of the drawn order run. Saturation,
    hue and contrast are unchanged by a common scale of the pixels, so the
    training path distorts 0-255 pixels and saves a pass rescaling them.
    """
    ops = {
        "b": lambda x: x + parameters["brightness"] * max_value,
        "s": lambda x: tf.image.adjust_saturation(x, parameters["saturation"]),
        "h": lambda x: tf.image.adjust_hue(x, parameters["hue"]),
        "c": lambda x: tf.image.adjust_contrast(x, parameters["contrast"]),
    }

    def apply(order):
        x = image
        for op in order:
            x = ops[op](x)
        return x

    orderings = COLOR_ORDERINGS[mode]
    if len(orderings) == 1:
        return apply(orderings[0])
    return tf.switch_case(parameters["order"], [(lambda o=order: apply(o)) for order in orderings])


def _color_slots(order):
    """Where each op of ``order`` goes in the fixed sequence affine, HSV, affine, HSV.

    Brightness and contrast commute (both are affine in each channel, and the
    contrast mean moves with the brightness), and so do saturation and hue
    (each changes one HSV coordinate and keeps the value), so every order of
    TF-slim's is the sequence: affine (b, c), HSV (s, h), affine, HSV, with
    some steps empty. Returns ``{op: step}``, 0-3, for the ops in ``order``.
    """
    steps, step = {}, -1
    for op in order:
        kind = 0 if op in "bc" else 1  # even steps are affine, odd ones HSV
        if step < 0 or step % 2 != kind:
            step += 1 if (step + 1) % 2 == kind else 2
        steps[op] = step
    if max(steps.values()) > 3:
        raise ValueError(
            f"A colour order must fit affine, HSV, affine, HSV. Received: order={order!r}"
        )
    return steps


def _distort_color_vectorized(images, parameters, mode):
    """``_distort_color`` of ``[..., h, w, 3]`` images with parameters of shape ``[...]``.

    The four steps of ``_color_slots`` run for every image, each with its own
    parameters: a step the drawn order leaves empty gets brightness 0,
    contrast 1 or no HSV change. Pixels in [0, 1], not clipped.
    """
    orderings = COLOR_ORDERINGS[mode]
    slots = [_color_slots(order) for order in orderings]
    # [orders, 4]: the step of b, s, h, c in each order, -1 where the order lacks it.
    table = tf.constant([[slot.get(op, -1) for op in "bshc"] for slot in slots], tf.int32)
    step_of = tf.gather(table, parameters["order"])[..., None, None, :]

    def per_pixel(name):
        return parameters[name][..., None, None]

    planes = tf.unstack(images, axis=-1)
    for step in range(4):
        if not any(step in slot.values() for slot in slots):
            continue
        if step % 2 == 0:
            brightness = tf.where(step_of[..., 0] == step, per_pixel("brightness"), 0.0)
            contrast = tf.where(step_of[..., 3] == step, per_pixel("contrast"), 1.0)
            planes = _adjust_affine(planes, brightness, contrast)
        else:
            saturate, shift = step_of[..., 1] == step, step_of[..., 2] == step
            planes = _adjust_hsv(
                planes,
                saturate,
                per_pixel("saturation"),
                tf.where(shift, per_pixel("hue"), 0.0),
                saturate | shift,
            )
    return tf.stack(planes, axis=-1)


def _adjust_affine(planes, brightness, contrast):
    """``adjust_contrast`` then ``+ brightness`` on ``[..., h, w]`` colour planes."""
    means = [tf.reduce_mean(p, axis=[-2, -1], keepdims=True) for p in planes]
    return [(p - m) * contrast + m + brightness for p, m in zip(planes, means)]


def _adjust_hsv(planes, saturate, saturation, hue, active):
    """``adjust_saturation`` (where ``saturate``) and ``adjust_hue`` in closed form.

    TF's kernels keep each pixel's value ``v`` (its largest channel) and
    hue, and write the channels back from ``v``, the chroma ``v - min`` and
    the hue. Saturation scales the chroma, clipped so that ``S = chroma / v``
    stays at most 1; like the kernel, a pixel with ``v <= 0`` (possible after
    a negative brightness) has ``S = 0`` and turns grey. The hue kernel keeps
    the chroma as it is. Pixels of images not ``active`` pass unchanged.
    """
    r, g, b = planes
    value = tf.maximum(tf.maximum(r, g), b)
    chroma = value - tf.minimum(tf.minimum(r, g), b)
    scaled = tf.minimum(chroma * saturation, tf.maximum(value, 0.0))
    new_chroma = tf.where(saturate, scaled, chroma)
    inverse = tf.math.reciprocal_no_nan(chroma)
    # Hue in sixths of a turn, from the largest channel (the kernel's rule).
    sixths = (
        tf.where(
            r == value,
            (g - b) * inverse,
            tf.where(g == value, (b - r) * inverse + 2.0, (r - g) * inverse + 4.0),
        )
        + 6.0 * hue
    )
    adjusted = []
    for phase in (5.0, 3.0, 1.0):  # red, green, blue
        k = sixths + phase
        k = k - 6.0 * tf.floor(k / 6.0)
        adjusted.append(value - new_chroma * tf.clip_by_value(tf.minimum(k, 4.0 - k), 0.0, 1.0))
    return [tf.where(active, new, old) for new, old in zip(adjusted, planes)]


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
    window_fn = lambda shape: central_crop_window(shape, central_fraction)  # noqa: E731
    return _finish(_crop_and_resize(image, window_fn, height, width), scale=scale)


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
            shape,
            bbox,
            seed=crop_seed,
            min_object_covered=min_object_covered,
            aspect_ratio_range=aspect_ratio_range,
            area_range=area_range,
        )
    else:
        window_fn = lambda shape: central_crop_window(shape, 1.0)  # noqa: E731
    # Resized first, so the flip and the colours touch only the output's pixels.
    image = _crop_and_resize(image, window_fn, height, width)
    return _finish(image, scale=scale, seed=finish_seed, color=color, flip=flip)


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


def _crop_and_resize(image, window_fn, height, width):
    """The ``window_fn`` region of a decoded image or of encoded bytes, resized.

    An image smaller than ``(height, width)`` on either side is upscaled
    (bilinear) to cover it first, so that the crops of small images move by
    fractions of their pixels rather than by whole ones. JPEG bytes are
    cropped (and downscaled) while decoding; other formats are decoded whole.
    Returns float32 ``[height, width, 3]``, 0-255, resized bilinearly.
    """
    image = tf.convert_to_tensor(image)
    if image.dtype != tf.string:
        resized = _crop_decoded(image, window_fn, height, width)
    else:
        # Only a JPEG is cropped while decoding, so only its size is read from
        # its header first (libjpeg's parser); other formats are decoded whole.
        resized = tf.cond(
            tf.io.is_jpeg(image),
            lambda: _crop_jpeg(image, window_fn, height, width),
            lambda: _crop_decoded(decode_image(image), window_fn, height, width),
        )
    return tf.ensure_shape(resized, [height, width, 3])


def _crop_decoded(image, window_fn, height, width):
    shape = tf.shape(image)
    return tf.cond(
        _smaller_than(shape[:2], height, width),
        lambda: _resize(_crop_upscaled(image, window_fn, height, width), height, width),
        lambda: _resize(crop_to_window(image, window_fn(shape)), height, width),
    )


def _crop_jpeg(image_bytes, window_fn, height, width):
    # One header read picks the branch: a small image upscaled whole, or the
    # crop decoded at libjpeg's 1/1, 1/2, 1/4 or 1/8 scale.
    shape = tf.io.extract_jpeg_shape(image_bytes)
    window = tf.cast(window_fn(shape), tf.int32)
    index = tf.where(
        _smaller_than(shape[:2], height, width), 0, 1 + _jpeg_ratio_index(window, (height, width))
    )

    def upscaled():
        crop = _crop_upscaled(decode_image(image_bytes), window_fn, height, width)
        return _resize(crop, height, width)

    branches = [upscaled] + [
        (lambda r=ratio: _resize(_decode_jpeg_window(image_bytes, window, r), height, width))
        for ratio in _JPEG_RATIOS
    ]
    return tf.switch_case(index, branches)


def _resize(image, height, width):
    # TF's bilinear kernel reads float32 faster than uint8, by more than the cast costs.
    return tf.image.resize(tf.cast(image, tf.float32), (height, width), method="bilinear")


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


def _finish(image, *, scale, seed=None, color=None, flip=False):
    """Optional flip and colour of a resized 0-255 image, then scaling."""
    if color is not None and color not in COLOR_ORDERINGS:
        raise ValueError(f"`color` must be 'full', 'fast' or None. Received: color={color!r}")
    if flip or color:
        flip_seed, color_seed = tf.unstack(
            tf.random.experimental.stateless_split(_seed_tensor(seed), num=2)
        )
        if flip:
            image = random_flip(image, flip_seed)
        if color:
            parameters = _color_parameters(color_seed, color)
            image = tf.clip_by_value(_distort_color(image, parameters, color, 255.0), 0.0, 255.0)
    # One pass from 0-255 to the model's range (to_model_range of image / 255).
    return image * (2.0 / 255.0) - 1.0 if scale else image


def _decode_jpeg_crop(image_bytes, window, size):
    """``decode_and_crop`` of a JPEG ``window``, downscaled by libjpeg towards ``size``."""
    window = tf.cast(window, tf.int32)
    if size is None:
        return _decode_jpeg_window(image_bytes, window, 1)
    branches = [
        (lambda r=ratio: _decode_jpeg_window(image_bytes, window, r)) for ratio in _JPEG_RATIOS
    ]
    return tf.switch_case(_jpeg_ratio_index(window, size), branches)


def _jpeg_ratio_index(window, size):
    """Index in ``_JPEG_RATIOS`` of the largest downscale keeping the window >= ``size``."""
    shrink = tf.minimum(window[2] // size[0], window[3] // size[1])
    return tf.reduce_sum(tf.cast(shrink >= tf.constant(_JPEG_RATIOS[1:]), tf.int32))


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
            f"`central_fraction` must be in (0, 1]. Received: central_fraction={central_fraction!r}"
        )


def _check_range(arg, value, upper=None):
    low, high = value
    if not 0.0 < low <= high or (upper is not None and high > upper):
        limit = f" and at most {upper}" if upper is not None else ""
        raise ValueError(
            f"`{arg}` must be (low, high) with 0 < low <= high{limit}. Received: {arg}={value!r}"
        )
