"""keras.applications weight files into our models: same outputs, clear errors.

The files are written from randomly initialised ``keras.applications`` models
(BatchNorm statistics included) in both layouts: Keras 3 ``.weights.h5`` and
the legacy HDF5 layout of the published files.
"""

import shutil

import h5py
import keras
import numpy as np
import pytest

import keras_inception
from keras_inception import weights
from keras_inception.cli import main
from test_weights_download import outputs
from test_weights_download import randomized

SIZE = 75
TOLERANCE = 1e-5


def write_legacy(model, path, *, include_top=True):
    """The layout of the published files (Keras 2 ``save_weights``), optionally without the top."""
    layers = [
        layer
        for layer in model.layers
        if include_top or layer.name not in ("avg_pool", "predictions")
    ]
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [layer.name.encode() for layer in layers]
        f.attrs["backend"] = b"tensorflow"
        for layer in layers:
            group = f.create_group(layer.name)
            names = [f"{layer.name}/{v.name}:0" for v in layer.weights]
            group.attrs["weight_names"] = [n.encode() for n in names]
            for name, variable in zip(names, layer.weights):
                group.create_dataset(name, data=np.asarray(variable))
    return str(path)


def images(seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (2, SIZE, SIZE, 3)).astype("float32")


@pytest.fixture(scope="module")
def v3_files(tmp_path_factory):
    """Files of one random keras.applications InceptionV3, and its outputs (arrays only)."""
    directory = tmp_path_factory.mktemp("keras_v3")
    source = randomized(
        keras.applications.InceptionV3(
            weights=None, input_shape=(SIZE, SIZE, 3), classifier_activation=None
        )
    )
    source.save_weights(directory / "v3.weights.h5")
    features = keras.Model(source.input, source.get_layer("mixed10").output)
    x = images()
    return {
        "keras3": str(directory / "v3.weights.h5"),
        "legacy": write_legacy(source, directory / "v3.h5"),
        "notop": write_legacy(source, directory / "v3_notop.h5", include_top=False),
        "x": x,
        "logits": outputs(source, x),
        "features": outputs(features, x),
    }


def load(model, path, **config):
    settings = dict(model_name=model.name, variant="released", include_top=True, classes=1000)
    return weights.load_weights(model, path, **{**settings, **config})


def test_both_layouts_give_keras_outputs(v3_files):
    model = keras_inception.InceptionV3(
        weights=v3_files["keras3"], input_shape=(SIZE, SIZE, 3), classifier_activation=None
    )
    np.testing.assert_allclose(outputs(model, v3_files["x"]), v3_files["logits"], atol=TOLERANCE)
    randomized(model, seed=5)
    load(model, v3_files["legacy"])
    np.testing.assert_allclose(outputs(model, v3_files["x"]), v3_files["logits"], atol=TOLERANCE)
    # A notop file cannot fill a classifier.
    with pytest.raises(ValueError, match=r"do not pair.*1 dense.*Received: path="):
        load(model, v3_files["notop"])


def test_without_top_from_notop_and_from_top_files(v3_files):
    model = keras_inception.InceptionV3(
        weights=v3_files["notop"], include_top=False, input_shape=(SIZE, SIZE, 3)
    )
    np.testing.assert_allclose(outputs(model, v3_files["x"]), v3_files["features"], atol=TOLERANCE)
    randomized(model, seed=6)
    load(model, v3_files["keras3"], include_top=False)
    np.testing.assert_allclose(outputs(model, v3_files["x"]), v3_files["features"], atol=TOLERANCE)


def test_wrong_classes_and_wrong_network_are_refused(v3_files):
    with pytest.raises(ValueError, match=r"has 1000 classes.*Received: classes=10"):
        keras_inception.InceptionV3(
            weights=v3_files["keras3"],
            classes=10,
            depth_multiplier=0.25,
            input_shape=(SIZE, SIZE, 3),
        )
    with pytest.raises(ValueError, match=r"file has 94 batch_normalization, 94 conv2d, 1 dense"):
        keras_inception.InceptionV1(weights=v3_files["keras3"], depth_multiplier=0.25)


def test_mismatched_shapes_are_reported_by_name(v3_files, tmp_path):
    broken = shutil.copy(v3_files["keras3"], tmp_path / "broken.weights.h5")
    with h5py.File(broken, "r+") as f:
        # The first 1x7 / 7x1 kernel of the file, transposed.
        convs = sorted(
            (k for k in f["layers"] if k.startswith("conv2d")),
            key=lambda k: int(k.partition("_")[2] or 0),
        )
        key = next(k for k in convs if len(set(f[f"layers/{k}/vars/0"].shape[:2])) == 2)
        kernel = f[f"layers/{key}/vars/0"][()]
        del f[f"layers/{key}/vars/0"]
        f[f"layers/{key}/vars"].create_dataset("0", data=np.swapaxes(kernel, 0, 1))
    with pytest.raises(ValueError) as error:
        keras_inception.InceptionV3(weights=str(broken), input_shape=(SIZE, SIZE, 3))
    message = str(error.value)
    assert "1 of the wrong shape" in message
    transposed = (kernel.shape[1], kernel.shape[0]) + kernel.shape[2:]
    # The first factorized 7x7 conv of keras's order is in mixed_6b (keras's mixed4).
    tag = f"{kernel.shape[0]}x{kernel.shape[1]}"
    assert f"_{tag}_conv/kernel: {key} has shape {transposed}, the model {kernel.shape}" in message
    assert "mixed_6b_branch_" in message


def test_cli_convert_then_load_with_a_random_auxiliary_head(v3_files, tmp_path, capsys):
    out = tmp_path / "inception_v3.weights.h5"
    assert main(["convert", v3_files["legacy"], "--model", "inception_v3", "--out", str(out)]) == 0
    assert "23,851,784 parameters" in capsys.readouterr().out
    # keras.applications has no auxiliary head: ours keeps its initialisation.
    with pytest.warns(UserWarning, match=r"no weights for the auxiliary head\(s\) \['aux'\]"):
        model = keras_inception.InceptionV3(
            weights=str(out),
            aux_logits=True,
            input_shape=(SIZE, SIZE, 3),
            classifier_activation=None,
        )
    got = outputs(model, v3_files["x"])
    np.testing.assert_allclose(got["predictions"], v3_files["logits"], atol=TOLERANCE)


def test_inception_resnet_v2(tmp_path):
    source = randomized(
        keras.applications.InceptionResNetV2(
            weights=None, input_shape=(SIZE, SIZE, 3), classifier_activation=None
        )
    )
    source.save_weights(tmp_path / "irv2.weights.h5")
    x = images(1)
    want = outputs(source, x)
    model = keras_inception.InceptionResNetV2(
        weights=str(tmp_path / "irv2.weights.h5"),
        input_shape=(SIZE, SIZE, 3),
        classifier_activation=None,
    )
    np.testing.assert_allclose(outputs(model, x), want, atol=TOLERANCE)
