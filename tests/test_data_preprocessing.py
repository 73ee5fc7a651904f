"""Each Inception preprocessing op on its own: crops, flips, colours, decoding, scaling."""

import io

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from data_fixtures import _fresh_keras_state  # noqa: F401
from data_fixtures import awkward_images
from data_fixtures import encode
from data_fixtures import flat_jpeg
from data_fixtures import random_rgb
from keras_inception import data
from keras_inception.data import preprocessing

SEEDS = range(40)


def rgb_hue(image):
    """Per-pixel hue in [0, 1) of a float RGB image."""
    return tf.image.rgb_to_hsv(image)[..., 0].numpy()


# ---------------------------------------------------------------- decoding


@pytest.mark.parametrize("name", sorted(awkward_images()))
def test_decode_image_gives_rgb_like_pillow(name):
    payload = awkward_images()[name]
    decoded = data.decode_image(tf.constant(payload)).numpy()
    with Image.open(io.BytesIO(payload)) as image:
        image.seek(0)
        reference = image.convert("RGB") if image.mode != "I;16" else None
        expected = (
            np.asarray(reference)
            if reference is not None
            else (np.asarray(image).astype(np.uint32) >> 8)
            .astype(np.uint8)[..., None]
            .repeat(3, -1)
        )
    assert decoded.dtype == np.uint8 and decoded.shape == expected.shape
    # JPEG decoders differ by rounding only; lossless formats match exactly.
    tolerance = 3 if name.endswith(".jpg") and "png" not in name else 0
    assert np.abs(decoded.astype(int) - expected.astype(int)).mean() <= tolerance


def test_decode_image_takes_the_first_gif_frame():
    decoded = data.decode_image(tf.constant(awkward_images()["animated.gif"])).numpy()
    assert decoded.shape == (12, 16, 3)
    np.testing.assert_array_equal(decoded[0, 0], [255, 0, 0])


def test_decode_image_works_in_a_graph_and_rejects_garbage():
    decode = tf.function(data.decode_image, input_signature=[tf.TensorSpec([], tf.string)])
    png = encode(random_rgb(5, 7), "PNG")
    assert decode(tf.constant(png)).shape == (5, 7, 3)
    with pytest.raises(tf.errors.InvalidArgumentError):
        decode(tf.constant(b"this is not an image"))


# ---------------------------------------------------------------- crops


@pytest.mark.parametrize("shape,fraction", [((100, 80), 0.875), ((7, 9), 0.5), ((31, 30), 1.0)])
def test_central_crop_window_is_the_exact_centre(shape, fraction):
    y, x, h, w = data.central_crop_window(shape + (3,), fraction).numpy()
    assert (y, x) == (shape[0] - h - y, shape[1] - w - x)  # equal margins
    # Equal integer margins: each side within two pixels of the exact fraction.
    assert abs(h - shape[0] * fraction) < 2 and abs(w - shape[1] * fraction) < 2
    image = np.zeros(shape + (3,), np.uint8)
    reference = tf.image.central_crop(image, fraction).shape
    assert (h, w) == tuple(reference[:2])


def test_eval_preprocessing_keeps_only_the_central_region():
    image = np.full((64, 64, 3), 255, np.uint8)
    image[16:48, 16:48] = 0  # the central half is black, the border white
    out = data.preprocess_for_eval(image, 16, 16, central_fraction=0.5).numpy()
    np.testing.assert_allclose(out, -1.0)
    whole = data.preprocess_for_eval(image, 64, 64, central_fraction=1.0).numpy()
    np.testing.assert_allclose(whole, image / 127.5 - 1.0, atol=1e-6)


def test_sample_crop_window_stays_inside_and_within_bounds():
    shape = (120, 160, 3)
    area_range, aspect_range = (0.1, 0.6), (0.75, 1.33)
    fallbacks = 0
    for seed in SEEDS:
        y, x, h, w = data.sample_crop_window(
            shape, seed=seed, area_range=area_range, aspect_ratio_range=aspect_range
        ).numpy()
        assert 0 <= y and 0 <= x and y + h <= shape[0] and x + w <= shape[1] and h > 0 and w > 0
        if (h, w) == shape[:2]:
            fallbacks += 1  # max_attempts exhausted: the whole image, by design
            continue
        # Integer rounding moves area and aspect by at most a pixel per side.
        area = h * w / (shape[0] * shape[1])
        assert area_range[0] - 0.02 <= area <= area_range[1] + 0.02
        assert aspect_range[0] - 0.05 <= w / h <= aspect_range[1] + 0.05
    assert fallbacks < len(SEEDS) // 4


def test_sample_crop_window_is_seeded():
    windows = [tuple(data.sample_crop_window((90, 90, 3), seed=s).numpy()) for s in (1, 1, 2, 3)]
    assert windows[0] == windows[1]
    assert len(set(windows[1:])) == 3


def test_sample_crop_window_covers_the_ground_truth_box():
    shape = (100, 200, 3)
    box = [0.6, 0.7, 0.9, 0.95]  # ymin, xmin, ymax, xmax
    box_px = (60, 140, 90, 190)
    for seed in range(15):
        y, x, h, w = data.sample_crop_window(
            shape, [box], seed=seed, min_object_covered=0.5
        ).numpy()
        overlap_h = max(0, min(y + h, box_px[2]) - max(y, box_px[0]))
        overlap_w = max(0, min(x + w, box_px[3]) - max(x, box_px[1]))
        covered = overlap_h * overlap_w / ((box_px[2] - box_px[0]) * (box_px[3] - box_px[1]))
        assert covered >= 0.5 - 0.05


def test_crop_arguments_are_checked():
    with pytest.raises(ValueError, match=r"Received: area_range=\(0.5, 1.5\)"):
        data.sample_crop_window((10, 10, 3), area_range=(0.5, 1.5))
    with pytest.raises(ValueError, match=r"Received: aspect_ratio_range=\(2, 1\)"):
        data.sample_crop_window((10, 10, 3), aspect_ratio_range=(2, 1))
    with pytest.raises(ValueError, match="Received: central_fraction=0"):
        data.central_crop_window((10, 10, 3), 0)


# ---------------------------------------------------------------- flip and colour


def test_random_flip_is_a_flip_and_takes_both_sides():
    image = tf.constant(random_rgb(6, 9))
    flipped = 0
    for seed in range(20):
        out = data.random_flip(image, seed).numpy()
        if np.array_equal(out, image.numpy()[:, ::-1]):
            flipped += 1
        else:
            np.testing.assert_array_equal(out, image.numpy())
    assert 3 <= flipped <= 17


def test_distort_color_stays_in_range_and_is_seeded():
    image = tf.constant(random_rgb(16, 16), tf.float32) / 255.0
    for mode in ("full", "fast"):
        a = data.distort_color(image, seed=5, mode=mode).numpy()
        b = data.distort_color(image, seed=5, mode=mode).numpy()
        np.testing.assert_array_equal(a, b)
        assert a.dtype == np.float32 and a.min() >= 0.0 and a.max() <= 1.0
        assert not np.allclose(a, data.distort_color(image, seed=6, mode=mode).numpy())


def test_fast_colour_mode_keeps_hue_and_full_mode_changes_it():
    # Mid-range colours, so brightness shifts never clip (clipping alters hue).
    rng = np.random.default_rng(0)
    image = tf.constant(rng.uniform(0.35, 0.65, (8, 8, 3)), tf.float32)
    hue = rgb_hue(image)
    full_changed = 0
    for seed in range(8):
        fast = data.distort_color(image, seed=seed, mode="fast")
        assert np.abs(rgb_hue(fast) - hue).max() < 2e-3
        full_changed += np.abs(rgb_hue(data.distort_color(image, seed=seed)) - hue).max() > 0.01
    assert full_changed >= 6


def test_distort_color_rejects_unknown_mode():
    with pytest.raises(ValueError, match="Received: mode='sepia'"):
        data.distort_color(tf.zeros((2, 2, 3)), mode="sepia")
    with pytest.raises(ValueError, match="Received: mode='sepia'"):
        data.distort_color_batch(tf.zeros((1, 2, 2, 3)), mode="sepia")
    with pytest.raises(ValueError, match=r"Received: images.shape=\(2, 2, 3\)"):
        data.distort_color_batch(tf.zeros((2, 2, 3)))


# ------------------------------------- colour: TF-slim's op by op, per image, per batch


def slim_distort_color(image, seed):
    """TF-slim's ``distort_color`` (not fast mode) with TensorFlow's stateless ops.

    The reference: the ranges and the four orders are written out here, not
    read from the library, so a change to either there fails the tests below.
    """
    seeds = tf.random.experimental.stateless_split(tf.constant(seed, tf.int64), num=5)
    ops = {
        "b": lambda x: tf.image.stateless_random_brightness(x, 32.0 / 255.0, seeds[0]),
        "s": lambda x: tf.image.stateless_random_saturation(x, 0.5, 1.5, seeds[1]),
        "h": lambda x: tf.image.stateless_random_hue(x, 0.2, seeds[2]),
        "c": lambda x: tf.image.stateless_random_contrast(x, 0.5, 1.5, seeds[3]),
    }
    orders = ("bshc", "sbch", "chbs", "hscb")
    choice = tf.random.stateless_uniform([], seeds[4], 0, len(orders), tf.int32)
    x = image
    for op in orders[int(choice)]:
        x = ops[op](x)
    return tf.clip_by_value(x, 0.0, 1.0)


def colour_test_images():
    """A smooth colour image, and one whose extremes clip and go negative under brightness."""
    rng = np.random.default_rng(3)
    smooth = tf.image.resize(rng.uniform(0.1, 0.9, (1, 3, 3, 3)), (9, 11), method="bicubic")[0]
    extremes = rng.choice([0.0, 0.02, 0.5, 0.98, 1.0], (9, 11, 3))
    return [tf.clip_by_value(tf.cast(smooth, tf.float32), 0, 1), tf.constant(extremes, tf.float32)]


def test_distort_color_is_tf_slims_seed_for_seed():
    for image in colour_test_images():
        for seed in range(24):
            np.testing.assert_allclose(
                data.distort_color(image, seed=[seed, 9]).numpy(),
                slim_distort_color(image, [seed, 9]).numpy(),
                atol=1e-6,
            )


def test_batch_colour_is_the_per_image_colour_given_the_same_draws():
    # The vectorized closed forms against tf.image's kernels, for every order,
    # on pixels pushed below 0 and above 1 between the ops.
    images = tf.stack(colour_test_images() * 16)
    draws = preprocessing._color_parameters(tf.constant([4, 2], tf.int64), "full", [32])
    assert set(draws["order"].numpy()) == {0, 1, 2, 3}
    batch = preprocessing._distort_color_vectorized(images, draws, "full").numpy()
    for i in range(32):
        one = {name: value[i] for name, value in draws.items()}
        np.testing.assert_allclose(
            batch[i], preprocessing._distort_color(images[i], one, "full", 1.0).numpy(), atol=3e-6
        )


def ks_statistic(a, b):
    """The two-sample Kolmogorov-Smirnov statistic of two 1-D samples."""
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / len(a)
    cdf_b = np.searchsorted(b, grid, side="right") / len(b)
    return np.abs(cdf_a - cdf_b).max()


# Two greys and two colours: each statistic below follows one distortion.
PROBE = np.array(
    [[[0.3, 0.3, 0.3], [0.7, 0.7, 0.7]], [[0.6, 0.35, 0.3], [0.25, 0.4, 0.55]]], np.float32
)


def colour_statistics(images):
    """Per-image statistics of distorted ``PROBE`` images, ``{name: [n]}``."""
    images = np.asarray(images)
    grey_low, grey_high, colour = images[:, 0, 0], images[:, 0, 1], images[:, 1, 0]
    spread = (grey_high - grey_low).mean(-1)
    hue = tf.image.rgb_to_hsv(colour).numpy()[:, 0] - tf.image.rgb_to_hsv(PROBE[1, 0]).numpy()[0]
    return {
        "brightness (grey level)": (grey_low + grey_high).mean(-1),
        "contrast (grey spread)": spread,
        "hue shift": (hue + 0.5) % 1.0 - 0.5,
        "saturation (chroma / spread)": (colour.max(-1) - colour.min(-1)) / spread,
        "value": images.max(-1).mean((1, 2)),
    }


def differing_statistics(reference, other, alpha=1e-3):
    """Names of the statistics whose distributions a KS test at ``alpha`` tells apart."""
    n, m = len(next(iter(reference.values()))), len(next(iter(other.values())))
    critical = np.sqrt(-np.log(alpha / 2) / 2) * np.sqrt((n + m) / (n * m))
    return [name for name in reference if ks_statistic(reference[name], other[name]) > critical]


@pytest.fixture(scope="module")
def slim_statistics():
    """The reference: 2000 draws of TF-slim's op-by-op distortion of ``PROBE``."""
    return colour_statistics([slim_distort_color(PROBE, [seed, 1]) for seed in range(2000)])


def test_training_and_batch_colour_draw_tf_slims_distribution(slim_statistics):
    probes = tf.constant(np.repeat(PROBE[None], 2000, axis=0))
    batch = data.distort_color_batch(probes, seed=7)
    assert differing_statistics(slim_statistics, colour_statistics(batch)) == []
    train = tf.function(
        lambda seed: data.preprocess_for_train(
            PROBE * 255.0, 2, 2, seed=seed, crop=False, flip=False, scale=False
        )
    )
    trained = [train(tf.constant([seed, 5], tf.int64)).numpy() / 255.0 for seed in range(2000)]
    assert differing_statistics(slim_statistics, colour_statistics(trained)) == []


@pytest.mark.parametrize(
    "constant, value, detected",
    [
        ("HUE_MAX_DELTA", 0.1, "hue shift"),
        ("BRIGHTNESS_MAX_DELTA", 24.0 / 255.0, "brightness (grey level)"),
        ("SATURATION_RANGE", (0.6, 1.4), "saturation (chroma / spread)"),
        ("CONTRAST_RANGE", (0.6, 1.4), "contrast (grey spread)"),
    ],
)
def test_the_distribution_test_tells_a_changed_range(
    slim_statistics, monkeypatch, constant, value, detected
):
    monkeypatch.setattr(preprocessing, constant, value)
    probes = tf.constant(np.repeat(PROBE[None], 2000, axis=0))
    changed = colour_statistics(data.distort_color_batch(probes, seed=7))
    assert detected in differing_statistics(slim_statistics, changed)


def test_colour_distortion_layer_applies_the_batch_colour_in_training_only():
    layer = data.ColorDistortion(seed=3)
    images = tf.constant(np.repeat(PROBE[None] * 2.0 - 1.0, 8, axis=0))
    np.testing.assert_array_equal(layer(images).numpy(), images.numpy())
    out = layer(images, training=True).numpy()
    assert out.min() >= -1.0 and out.max() <= 1.0
    assert len({image.tobytes() for image in out}) == 8  # parameters per image
    restored = data.ColorDistortion.from_config(layer.get_config())
    assert (restored.mode, restored.value_range, restored.seed) == ("full", (-1.0, 1.0), 3)
    with pytest.raises(ValueError, match=r"Received: value_range=\(1, 0\)"):
        data.ColorDistortion(value_range=(1, 0))
    with pytest.raises(ValueError, match="Received: mode='sepia'"):
        data.ColorDistortion("sepia")


def test_colour_distortion_layer_trains_in_an_xla_compiled_step():
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            data.ColorDistortion("full", value_range=(0, 255), seed=1),
            keras.layers.Conv2D(4, 3),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2),
        ]
    )
    model.compile(
        "adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=True
    )
    images = np.random.default_rng(0).uniform(0, 255, (16, 8, 8, 3)).astype(np.float32)
    history = model.fit(images, np.zeros(16, np.int32), batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


# ---------------------------------------------------------------- composed ops


@pytest.mark.parametrize("scale,low,high", [(True, -1.0, 1.0), (False, 0.0, 255.0)])
def test_train_and_eval_outputs_have_the_model_range(scale, low, high):
    image = random_rgb(50, 70)
    for out in (
        data.preprocess_for_train(image, 33, 29, seed=1, scale=scale),
        data.preprocess_for_eval(image, 33, 29, scale=scale),
    ):
        assert out.dtype == tf.float32 and out.shape == (33, 29, 3)
        assert low <= float(tf.reduce_min(out)) and float(tf.reduce_max(out)) <= high
        assert float(tf.reduce_max(out)) - float(tf.reduce_min(out)) > (high - low) / 2


def test_preprocess_for_train_is_deterministic_with_a_seed():
    image = random_rgb(48, 64)
    a = data.preprocess_for_train(image, 32, 32, seed=[3, 4]).numpy()
    b = data.preprocess_for_train(image, 32, 32, seed=[3, 4]).numpy()
    c = data.preprocess_for_train(image, 32, 32, seed=[3, 5]).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_no_augmentation_recipe_is_a_plain_resize():
    image = random_rgb(40, 40)
    out = data.preprocess_for_train(image, 40, 40, seed=0, **data.AUGMENTATIONS["none"].kwargs())
    np.testing.assert_allclose(out.numpy(), image / 127.5 - 1.0, atol=1e-5)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_fused_decoding_matches_decode_then_preprocess(fmt):
    image = random_rgb(60, 80, seed=2)
    # No chroma subsampling: its upsampling at the crop's edges is the one
    # place where libjpeg's cropped decode differs from a full decode.
    options = {"quality": 95, "subsampling": 0} if fmt == "JPEG" else {}
    payload = tf.constant(encode(image, fmt, **options))
    decoded = data.decode_image(payload)
    tolerance = 2.5 / 127.5 if fmt == "JPEG" else 1e-5
    # Output sizes close to the crops, so no DCT downscaling is involved.
    for seed in (0, 1, 2):
        fused = data.load_for_train(payload, 40, 40, seed=seed, area_range=(0.5, 1.0))
        plain = data.preprocess_for_train(decoded, 40, 40, seed=seed, area_range=(0.5, 1.0))
        np.testing.assert_allclose(fused.numpy(), plain.numpy(), atol=tolerance)
    np.testing.assert_allclose(
        data.load_for_eval(payload, 50, 50).numpy(),
        data.preprocess_for_eval(decoded, 50, 50).numpy(),
        atol=tolerance,
    )


def test_huge_jpeg_is_downscaled_while_decoding():
    payload = tf.constant(flat_jpeg(20000, 20000))
    crop = data.decode_and_crop(
        payload, lambda shape: data.central_crop_window(shape, 0.875), size=(75, 75)
    )
    # 17,500 px of central crop at 1/8 scale: 6 MB instead of 920 MB.
    assert crop.shape == (2187, 2187, 3)
    out = data.load_for_eval(payload, 75, 75).numpy()
    assert out.shape == (75, 75, 3)
    np.testing.assert_allclose(out, 128 / 127.5 - 1.0, atol=1e-5)
    assert data.load_for_train(payload, 75, 75, seed=0).shape == (75, 75, 3)


def test_jpeg_ratio_is_chosen_from_the_crop_and_output_sizes():
    payload = tf.constant(flat_jpeg(512, 512))
    whole = lambda shape: data.central_crop_window(shape, 1.0)  # noqa: E731
    assert data.decode_and_crop(payload, whole, size=(300, 300)).shape == (512, 512, 3)
    assert data.decode_and_crop(payload, whole, size=(256, 200)).shape == (256, 256, 3)
    assert data.decode_and_crop(payload, whole, size=(64, 64)).shape == (64, 64, 3)
    assert data.decode_and_crop(payload, whole).shape == (512, 512, 3)


def test_augmentation_recipes_are_valid_train_arguments():
    image = random_rgb(30, 30)
    for name, recipe in preprocessing.AUGMENTATIONS.items():
        out = data.preprocess_for_train(image, 20, 20, seed=0, **recipe.kwargs())
        assert out.shape == (20, 20, 3), name
    assert not preprocessing.AUGMENTATIONS["light"].flip
    assert preprocessing.AUGMENTATIONS["light"].color is None
