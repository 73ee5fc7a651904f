"""Inception-v3's low-resolution stems (Szegedy et al. 2016, Sec. 9, Table 2).

Full-width models are built symbolically only (grids, parameters) and profiled
for their multiply-adds; forward passes run at a quarter width and the
smallest input sizes.
"""

import io

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_inception
from keras_inception import training
from keras_inception.training import recipe

RESOLUTIONS = (299, 151, 79)
# Grid after the stem, after Mixed_6e and at the end, from each stem's own size.
GRIDS = {299: (35, 17, 8), 151: (35, 17, 8), 79: (36, 17, 8)}


@pytest.fixture(scope="module")
def full_width():
    """``{resolution: (model, multiply-adds)}``: the 1000-class networks at their own sizes."""
    models = {}
    for resolution in RESOLUTIONS:
        model = keras_inception.InceptionV3(input_resolution=resolution)
        models[resolution] = (model, keras_inception.model_macs(model))
    return models


def _grid(model, layer):
    return tuple(model.get_layer(layer).output.shape[1:3])


@pytest.mark.parametrize("resolution", RESOLUTIONS)
def test_default_size_and_grids(full_width, resolution):
    model, _ = full_width[resolution]
    stem, middle, final = GRIDS[resolution]
    assert model.input_shape == (None, resolution, resolution, 3)
    assert _grid(model, "maxpool_5a_3x3") == (stem, stem)
    assert _grid(model, "mixed_6e") == (middle, middle)
    assert _grid(model, "mixed_7c") == (final, final)
    assert model.count_params() == keras_inception.get_spec("inception_v3").num_params


def test_stems_differ_as_table_2_says(full_width):
    strides = {r: m.get_layer("conv2d_1a_3x3_conv").strides for r, (m, _) in full_width.items()}
    assert strides == {299: (2, 2), 151: (1, 1), 79: (1, 1)}
    pooled = {
        r: "maxpool_3a_3x3" in {layer.name for layer in m.layers}
        for r, (m, _) in full_width.items()
    }
    assert pooled == {299: True, 151: True, 79: False}


def test_multiply_adds_almost_identical(full_width):
    macs = {resolution: m for resolution, (_, m) in full_width.items()}
    # From its first conv's output on, the 151 stem runs on the 299 network's grids.
    assert macs[151] == macs[299]
    # The 79 stem runs its first convs on 77/75/75 instead of 149/147/147 (-8.0%)
    # and later ones on 75/73/36 instead of 73/71/35 (+1.8%): "slightly cheaper",
    # 6.2% less, so issue 16's "within 5 %" does not hold for it.
    assert macs[79] < macs[299]
    assert (macs[299] - macs[79]) / macs[299] < 0.07


@pytest.mark.parametrize("resolution, min_size", [(299, 75), (151, 39), (79, 21)])
def test_minimum_input_size(resolution, min_size):
    spec = keras_inception.get_spec("inception_v3").at_resolution(resolution)
    assert spec.min_size == min_size and spec.default_size == resolution
    with pytest.raises(ValueError, match=f"at least {min_size}x{min_size}"):
        keras_inception.InceptionV3(
            input_resolution=resolution, input_shape=(min_size - 1, min_size - 1, 3)
        )
    # The graph itself: a size-agnostic build keeps one pixel at the minimum
    # and none below it.
    model = keras_inception.InceptionV3(
        input_resolution=resolution,
        input_shape=(None, None, 3),
        include_top=False,
        depth_multiplier=0.25,
    )
    assert model(np.zeros((1, min_size, min_size, 3), "float32")).shape[1:3] == (1, 1)
    too_small = np.zeros((1, min_size - 1, min_size - 1, 3), "float32")
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError)):
        output = model(too_small)
        assert 0 not in output.shape  # a collapsed grid counts as a failure too


@pytest.mark.parametrize("bad", [80, 0, -79, 79.0, True, "79", None])
def test_bad_input_resolution(bad):
    if bad is None:  # None means the default stem
        assert keras_inception.get_spec("inception_v3").at_resolution(None).default_size == 299
        return
    with pytest.raises(ValueError, match=f"Received: input_resolution={bad!r}$"):
        keras_inception.InceptionV3(input_resolution=bad)


def test_published_weights_belong_to_the_299_stem(tmp_path):
    with pytest.raises(ValueError, match="299 stem.*input_resolution=79"):
        keras_inception.InceptionV3(weights="imagenet", input_resolution=79)
    # A file of weights trained with the low-resolution stem loads.
    model = keras_inception.InceptionV3(input_resolution=79, depth_multiplier=0.25, classes=3)
    path = str(tmp_path / "lowres.weights.h5")
    model.save_weights(path)
    again = keras_inception.InceptionV3(
        input_resolution=79, depth_multiplier=0.25, classes=3, weights=path
    )
    x = np.random.RandomState(0).uniform(-1, 1, (1, 79, 79, 3)).astype("float32")
    np.testing.assert_allclose(again(x), model(x), atol=1e-6)


@pytest.mark.parametrize("name", ["inception_v4", "inception_resnet_v1", "inception_resnet_v2"])
def test_other_networks_have_one_stem(name):
    spec = keras_inception.get_spec(name)
    assert spec.input_resolutions == {} and spec.at_resolution(299) is spec
    with pytest.raises(
        ValueError, match=r"must be one of \(299,\)\. Received: input_resolution=79"
    ):
        spec.at_resolution(79)
    with pytest.raises(ValueError, match="has one stem. Received: input_resolution=79"):
        training.TrainConfig(model=name, input_resolution=79).validate()


def test_feature_extractor_at_79(full_width):
    features = keras_inception.feature_extractor(full_width[79][0])
    grids = {label: tuple(t.shape[1:3]) for label, t in features.output.items()}
    assert grids == {"P1": (75, 75), "P2": (73, 73), "P3": (36, 36), "P4": (17, 17), "P5": (8, 8)}


def test_training_config_and_model():
    config = training.TrainConfig(input_resolution=79, depth_multiplier=0.25).validate()
    model, _ = recipe.build_model(config, num_classes=3)
    assert model.input_shape == (None, 79, 79, 3)
    assert "maxpool_3a_3x3" not in {layer.name for layer in model.layers}
    assert model.get_layer("conv2d_1a_3x3_conv").strides == (1, 1)
    # Below the 299 stem's 75 pixels, at or above the 79 stem's 21.
    training.TrainConfig(input_resolution=79, image_size=21).validate()
    with pytest.raises(ValueError, match="at least 21 for inception_v3. Received: image_size=20"):
        training.TrainConfig(input_resolution=79, image_size=20).validate()
    with pytest.raises(ValueError, match=r"one of \(299, 151, 79\).*input_resolution=80"):
        training.TrainConfig(input_resolution=80).validate()
    with pytest.raises(ValueError, match="299 stem"):
        recipe.build_model(
            training.TrainConfig(input_resolution=151, weights="imagenet"), num_classes=3
        )


def test_cli_refuses_a_stem_the_network_lacks(capsys):
    from keras_inception.cli import main

    assert main(["models", "inception_v4", "--input-resolution", "79"]) != 0
    assert "Received: input_resolution=79" in capsys.readouterr().err


def test_export_input_size_is_the_stems_own():
    from keras_inception.export import source

    model = keras_inception.InceptionV3(input_resolution=79, depth_multiplier=0.25, classes=3)
    _, _, meta = source.load_source(model)
    assert meta["image_size"] == [79, 79]


# export_saved_model traces the whole graph seven times: ~25 s of CPU here.
@pytest.mark.slow
def test_export_and_serve_79(tmp_path):
    from PIL import Image

    from keras_inception import data
    from keras_inception import export

    model = keras_inception.InceptionV3(
        input_resolution=79, depth_multiplier=0.25, classes=3, name="lowres"
    )
    loaded = tf.saved_model.load(export.export_saved_model(model, base_dir=tmp_path))
    pixels = np.random.RandomState(0).randint(0, 256, (30, 40, 3)).astype("uint8")
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    blob = buffer.getvalue()
    served = loaded.signatures["serving_default"](image_bytes=tf.constant([blob]))
    probabilities = served["probabilities"].numpy()
    # The signature resizes to the model's own 79x79, like the eval pipeline.
    scaled = data.preprocess_for_eval(
        data.decode_image(blob), 79, 79, central_fraction=0.875, scale=True
    )
    expected = keras.ops.convert_to_numpy(model(scaled[None], training=False))
    assert probabilities.shape == (1, 3)
    assert np.max(np.abs(probabilities - expected)) < 1e-4


@pytest.mark.slow
def test_trains_at_the_stems_own_size_on_small_images(tmp_path):
    config = training.TrainConfig(
        input_resolution=79,
        depth_multiplier=0.25,
        epochs=1,
        steps_per_epoch=2,
        batch_size=16,
        run_dir=str(tmp_path / "run"),
        export=False,
        verbose=0,
        precision="float32",
    )
    result = training.train(config)
    assert result.summary["image_size"] == 79
    assert result.model.input_shape == (None, 79, 79, 3)
    assert "maxpool_3a_3x3" not in {layer.name for layer in result.model.layers}
    # Another stem is another graph: an interrupted run's backup is not resumed with it.
    (tmp_path / "run" / "backup").mkdir(exist_ok=True)
    (tmp_path / "run" / "backup" / "train.done.weights.npz").write_bytes(b"")
    with pytest.raises(ValueError, match="other settings.*input_resolution=151"):
        training.train(config.replace(input_resolution=151, epochs=2))
