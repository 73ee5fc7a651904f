"""TF-slim checkpoints into our models: name maps with the released code's quirks,
1001 -> 1000 classes, missing/unexpected variables by name, round trips.

Checkpoints are written by the tests, with the variable names of the released
``research/slim/nets/*.py`` (V1 single-file format, as the published archives,
or V2 via ``slim.save_checkpoint``), for networks thinned with
``depth_multiplier`` at small inputs: the names do not depend on the width.
"""

import json
import tarfile

import numpy as np
import pytest
import tensorflow as tf

import keras_inception
from keras_inception import weights
from keras_inception.cli import main
from keras_inception.weights import slim
from test_weights_download import outputs
from test_weights_download import randomized

THIN = dict(depth_multiplier=0.25, input_shape=(75, 75, 3))
BATCH_NORM = ("beta", "moving_mean", "moving_variance")


def _inception_a(block, quirky=False):
    b1 = ["Conv2d_0b_1x1", "Conv_1_0c_5x5"] if quirky else ["Conv2d_0a_1x1", "Conv2d_0b_5x5"]
    return (
        [f"{block}/Branch_0/Conv2d_0a_1x1"]
        + [f"{block}/Branch_1/{c}" for c in b1]
        + [
            f"{block}/Branch_2/Conv2d_0a_1x1",
            f"{block}/Branch_2/Conv2d_0b_3x3",
            f"{block}/Branch_2/Conv2d_0c_3x3",
            f"{block}/Branch_3/Conv2d_0b_1x1",
        ]
    )


def _inception_b(block):
    return [
        f"{block}/Branch_{b}/{c}"
        for b, convs in (
            (0, ["Conv2d_0a_1x1"]),
            (1, ["Conv2d_0a_1x1", "Conv2d_0b_1x7", "Conv2d_0c_7x1"]),
            (
                2,
                [
                    "Conv2d_0a_1x1",
                    "Conv2d_0b_7x1",
                    "Conv2d_0c_1x7",
                    "Conv2d_0d_7x1",
                    "Conv2d_0e_1x7",
                ],
            ),
            (3, ["Conv2d_0b_1x1"]),
        )
        for c in convs
    ]


def _inception_c(block, branch_1_3x1):
    return [
        f"{block}/{c}"
        for c in (
            "Branch_0/Conv2d_0a_1x1",
            "Branch_1/Conv2d_0a_1x1",
            "Branch_1/Conv2d_0b_1x3",
            f"Branch_1/{branch_1_3x1}",
            "Branch_2/Conv2d_0a_1x1",
            "Branch_2/Conv2d_0b_3x3",
            "Branch_2/Conv2d_0c_1x3",
            "Branch_2/Conv2d_0d_3x1",
            "Branch_3/Conv2d_0b_1x1",
        )
    ]


# Every conv+BN unit of TF-slim's inception_v3.py (released 2016_08_28 graph),
# written from that file: the quirks are Mixed_5c/Branch_1, Mixed_6a's
# "1x1"-named 3x3 convs and Mixed_7b/Branch_1/Conv2d_0b_3x1.
V3_CONV_UNITS = [
    "Conv2d_1a_3x3",
    "Conv2d_2a_3x3",
    "Conv2d_2b_3x3",
    "Conv2d_3b_1x1",
    "Conv2d_4a_3x3",
    *_inception_a("Mixed_5b"),
    *_inception_a("Mixed_5c", quirky=True),
    *_inception_a("Mixed_5d"),
    "Mixed_6a/Branch_0/Conv2d_1a_1x1",
    "Mixed_6a/Branch_1/Conv2d_0a_1x1",
    "Mixed_6a/Branch_1/Conv2d_0b_3x3",
    "Mixed_6a/Branch_1/Conv2d_1a_1x1",
    *[u for block in ("Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e") for u in _inception_b(block)],
    "Mixed_7a/Branch_0/Conv2d_0a_1x1",
    "Mixed_7a/Branch_0/Conv2d_1a_3x3",
    "Mixed_7a/Branch_1/Conv2d_0a_1x1",
    "Mixed_7a/Branch_1/Conv2d_0b_1x7",
    "Mixed_7a/Branch_1/Conv2d_0c_7x1",
    "Mixed_7a/Branch_1/Conv2d_1a_3x3",
    *_inception_c("Mixed_7b", "Conv2d_0b_3x1"),
    *_inception_c("Mixed_7c", "Conv2d_0c_3x1"),
    "AuxLogits/Conv2d_1b_1x1",
    "AuxLogits/Conv2d_2a_5x5",
]
V3_CLASSIFIERS = {"Logits/Conv2d_1c_1x1": "predictions", "AuxLogits/Conv2d_2b_1x1": "aux"}
# Our unit for each irregular TF-slim name (the rest: lower-cased, "/" -> "_").
V3_QUIRKS = {
    "Mixed_5c/Branch_1/Conv2d_0b_1x1": "mixed_5c_branch_1_conv2d_0a_1x1",
    "Mixed_5c/Branch_1/Conv_1_0c_5x5": "mixed_5c_branch_1_conv2d_0b_5x5",
    "Mixed_6a/Branch_0/Conv2d_1a_1x1": "mixed_6a_branch_0_conv2d_1a_3x3",
    "Mixed_6a/Branch_1/Conv2d_1a_1x1": "mixed_6a_branch_1_conv2d_1a_3x3",
    "Mixed_7b/Branch_1/Conv2d_0b_3x1": "mixed_7b_branch_1_conv2d_0c_3x1",
}


def our_v3_unit(path):
    mechanical = path.replace("AuxLogits", "aux").replace("/", "_").lower()
    return V3_QUIRKS.get(path, mechanical)


@pytest.fixture(scope="module")
def v3():
    """A thin Inception-v3 with its auxiliary head (1000 classes), shared by the tests."""
    return randomized(keras_inception.InceptionV3(aux_logits=True, **THIN))


def units_of(names, scope):
    """Unit paths of TF-slim variable names."""
    units = set()
    for name in names:
        path = name[len(scope) + 1 :]
        for suffix in slim.VARIABLES.values():
            if path.endswith("/" + suffix):
                units.add(path[: -len(suffix) - 1])
                break
    return units


def test_v3_names_are_the_released_codes(v3):
    names = slim.slim_variables(v3, "inception_v3")
    assert units_of(names, "InceptionV3") == set(V3_CONV_UNITS) | set(V3_CLASSIFIERS)
    assert len(names) == 4 * len(V3_CONV_UNITS) + 2 * len(V3_CLASSIFIERS)


def test_v3_full_size_shapes_match_the_published_checkpoint():
    model = keras_inception.InceptionV3(aux_logits=True, classes=1001)
    shapes = {k: tuple(v.shape) for k, v in slim.slim_variables(model, "inception_v3").items()}
    assert shapes["InceptionV3/Mixed_6a/Branch_0/Conv2d_1a_1x1/weights"] == (3, 3, 288, 384)
    assert shapes["InceptionV3/Mixed_6a/Branch_1/Conv2d_1a_1x1/weights"] == (3, 3, 96, 96)
    assert shapes["InceptionV3/Mixed_5c/Branch_1/Conv_1_0c_5x5/weights"] == (5, 5, 48, 64)
    assert shapes["InceptionV3/Mixed_7b/Branch_1/Conv2d_0b_3x1/weights"] == (3, 1, 384, 384)
    assert shapes["InceptionV3/AuxLogits/Conv2d_2a_5x5/weights"] == (5, 5, 128, 768)
    assert shapes["InceptionV3/Conv2d_1a_3x3/BatchNorm/moving_variance"] == (32,)
    # The 1x1-conv logits are Dense kernels in our models: [1, 1, 2048, 1001] in the file.
    assert shapes["InceptionV3/Logits/Conv2d_1c_1x1/weights"] == (2048, 1001)
    assert shapes["InceptionV3/AuxLogits/Conv2d_2b_1x1/biases"] == (1001,)


def test_hand_written_v1_format_checkpoint_with_the_quirks(v3, tmp_path):
    """A checkpoint named as the released code names it, loaded variable by variable."""
    rng = np.random.default_rng(3)
    written, expected = {"global_step": np.int64(1000)}, {}
    for path in V3_CONV_UNITS:
        unit = our_v3_unit(path)
        kernel = v3.get_layer(f"{unit}_conv").kernel
        written[f"InceptionV3/{path}/weights"] = expected[kernel.path] = rng.normal(
            size=kernel.shape
        ).astype("float32")
        for name in BATCH_NORM:
            variable = getattr(v3.get_layer(f"{unit}_bn"), name)
            value = rng.uniform(0.5, 1.5, variable.shape).astype("float32")
            written[f"InceptionV3/{path}/BatchNorm/{name}"] = expected[variable.path] = value
    for path, layer_name in V3_CLASSIFIERS.items():
        layer = v3.get_layer(layer_name)
        features, classes = layer.kernel.shape
        kernel = rng.normal(size=(1, 1, features, classes + 1)).astype("float32")
        bias = rng.normal(size=(classes + 1,)).astype("float32")
        written[f"InceptionV3/{path}/weights"], written[f"InceptionV3/{path}/biases"] = kernel, bias
        # Class 0 of the checkpoint is TF-slim's background: dropped.
        expected[layer.kernel.path], expected[layer.bias.path] = kernel[0, 0, :, 1:], bias[1:]
    checkpoint = str(tmp_path / "inception_v3.ckpt")
    tf.raw_ops.Save(filename=checkpoint, tensor_names=list(written), data=list(written.values()))

    report = weights.store.apply(v3, slim.convert(checkpoint, "inception_v3"))
    assert report["assigned"] == len(expected) == len(v3.weights)
    for variable in v3.weights:
        np.testing.assert_array_equal(np.asarray(variable), expected[variable.path])


def test_v3_round_trip_through_a_checkpoint_with_background(v3, tmp_path):
    source = randomized(v3, seed=4)
    prefix = slim.save_checkpoint(
        source, str(tmp_path / "model.ckpt"), "inception_v3", background_class=True
    )
    x = np.random.default_rng(5).uniform(-1, 1, (2, 75, 75, 3)).astype("float32")
    fresh = keras_inception.InceptionV3(weights=str(tmp_path), aux_logits=True, **THIN)
    want, got = outputs(source, x), outputs(fresh, x)
    for head in ("predictions", "aux"):
        np.testing.assert_allclose(got[head], want[head], atol=1e-6)
    assert tf.train.load_checkpoint(prefix).get_variable_to_shape_map()[
        "InceptionV3/Logits/Conv2d_1c_1x1/weights"
    ] == [1, 1, 512, 1001]


def test_missing_and_unexpected_variables_are_named_and_nothing_is_loaded(v3, tmp_path):
    prefix = slim.save_checkpoint(v3, str(tmp_path / "full.ckpt"), "inception_v3")
    reader = tf.train.load_checkpoint(prefix)
    tensors = {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()}
    dropped = "InceptionV3/Mixed_6e/Branch_3/Conv2d_0b_1x1/BatchNorm/moving_mean"
    del tensors[dropped]
    unknown = "InceptionV3/Mixed_8a/Branch_0/Conv2d_0a_1x1"
    tensors[f"{unknown}/weights"] = np.zeros((1, 1, 8, 8), "float32")
    broken = str(tmp_path / "broken.ckpt")
    tf.raw_ops.Save(filename=broken, tensor_names=list(tensors), data=list(tensors.values()))

    before = [np.asarray(v) for v in randomized(v3, seed=8).weights]
    with pytest.raises(ValueError) as error:
        weights.load_weights(
            v3,
            broken,
            model_name="inception_v3",
            variant="released",
            include_top=True,
            classes=1000,
        )
    message = str(error.value)
    ours = "mixed_6e_branch_3_conv2d_0b_1x1_bn/moving_mean"
    assert f"1 missing from the weights: {ours} ({dropped})" in message
    assert f"1 in the weights but not in the model: {unknown}" in message
    for old, variable in zip(before, v3.weights):
        np.testing.assert_array_equal(np.asarray(variable), old)

    tensors["InceptionV4/Conv2d_1a_3x3/weights"] = np.zeros((3, 3, 3, 8), "float32")
    other = str(tmp_path / "other.ckpt")
    tf.raw_ops.Save(filename=other, tensor_names=list(tensors), data=list(tensors.values()))
    with pytest.raises(ValueError, match="not InceptionV3 weights: InceptionV4/Conv2d_1a_3x3/w"):
        slim.convert(other, "inception_v3")


def test_archive_extracts_only_checkpoint_files(v3, tmp_path):
    prefix = slim.save_checkpoint(v3, str(tmp_path / "src" / "inception_v3.ckpt"), "inception_v3")
    (tmp_path / "src" / "notes.txt").write_text("not a checkpoint")
    archive = tmp_path / "release" / "inception_v3.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        for suffix in (".index", ".data-00000-of-00001"):
            tar.add(prefix + suffix, arcname="inception_v3/inception_v3.ckpt" + suffix)
        tar.add(tmp_path / "src" / "notes.txt", arcname="inception_v3/notes.txt")
    target = tmp_path / "extracted"
    target.mkdir()
    assert slim.extract_checkpoint(archive, str(target)) == str(target / "inception_v3.ckpt")
    assert sorted(p.name for p in target.iterdir()) == [
        "inception_v3.ckpt.data-00000-of-00001",
        "inception_v3.ckpt.index",
    ]
    named = weights.read_weights(str(archive), None, "inception_v3")
    assert named.label_offset == 0 and named.source == str(archive)
    assert set(named.layers) == {layer.name for layer in v3.layers if layer.weights}


# Names from TF-slim's nets/*.py, including each network's irregular ones.
PUBLISHED_NAMES = {
    "inception_v1": [
        "InceptionV1/Conv2d_1a_7x7/weights",
        "InceptionV1/Mixed_5b/Branch_2/Conv2d_0a_3x3/weights",
        "InceptionV1/Mixed_5c/Branch_2/Conv2d_0b_3x3/BatchNorm/beta",
        "InceptionV1/Mixed_4f/Branch_3/Conv2d_0b_1x1/BatchNorm/moving_variance",
        "InceptionV1/Logits/Conv2d_0c_1x1/weights",
    ],
    "inception_v2": [
        "InceptionV2/Conv2d_1a_7x7/depthwise_weights",
        "InceptionV2/Conv2d_1a_7x7/pointwise_weights",
        "InceptionV2/Mixed_4a/Branch_1/Conv2d_1a_3x3/weights",
        "InceptionV2/Mixed_5c/Branch_3/Conv2d_0b_1x1/BatchNorm/moving_mean",
        "InceptionV2/Logits/Conv2d_1c_1x1/biases",
    ],
    "inception_v4": [
        "InceptionV4/Mixed_3a/Branch_1/Conv2d_0a_3x3/weights",
        "InceptionV4/Mixed_6h/Branch_2/Conv2d_0e_1x7/BatchNorm/beta",
        "InceptionV4/Mixed_7d/Branch_2/Conv2d_0e_3x1/weights",
        "InceptionV4/AuxLogits/Conv2d_1b_1x1/weights",
        "InceptionV4/AuxLogits/Conv2d_2a/weights",
        "InceptionV4/AuxLogits/Aux_logits/biases",
        "InceptionV4/Logits/Logits/weights",
    ],
    "inception_resnet_v2": [
        "InceptionResnetV2/Mixed_5b/Branch_0/Conv2d_1x1/weights",
        "InceptionResnetV2/Repeat/block35_10/Conv2d_1x1/biases",
        "InceptionResnetV2/Repeat/block35_1/Branch_2/Conv2d_0c_3x3/BatchNorm/beta",
        "InceptionResnetV2/Mixed_6a/Branch_0/Conv2d_1a_3x3/weights",
        "InceptionResnetV2/Repeat_1/block17_20/Branch_1/Conv2d_0c_7x1/weights",
        "InceptionResnetV2/Repeat_2/block8_9/Branch_0/Conv2d_1x1/BatchNorm/moving_mean",
        "InceptionResnetV2/Block8/Conv2d_1x1/weights",
        "InceptionResnetV2/Block8/Branch_1/Conv2d_0c_3x1/weights",
        "InceptionResnetV2/Conv2d_7b_1x1/BatchNorm/moving_variance",
        "InceptionResnetV2/AuxLogits/Conv2d_2a_5x5/weights",
        "InceptionResnetV2/AuxLogits/Logits/biases",
        "InceptionResnetV2/Logits/Logits/weights",
    ],
}


@pytest.mark.parametrize("model_name", sorted(PUBLISHED_NAMES))
def test_other_networks_names_and_round_trip(model_name, tmp_path):
    # v1 and v2 have no auxiliary head in TF-slim; ours get one only on request.
    model = randomized(keras_inception.get_model(model_name, aux_logits=True, **THIN))
    names = slim.slim_variables(model, model_name)
    assert set(PUBLISHED_NAMES[model_name]) <= set(names)
    assert not [n for n in names if "Block8_" in n or "repeat" in n]
    prefix = slim.save_checkpoint(model, str(tmp_path / "model.ckpt"), model_name)
    named = slim.convert(prefix, model_name)
    assert named.heads == weights.store.auxiliary_heads(model)
    for layer in model.layers:
        for variable in layer.weights:
            np.testing.assert_array_equal(named.layers[layer.name][variable.name], variable)


def test_cli_converts_a_checkpoint(v3, tmp_path, capsys):
    source = randomized(v3, seed=9)
    prefix = slim.save_checkpoint(
        source, str(tmp_path / "model.ckpt"), "inception_v3", background_class=True
    )
    out = tmp_path / "inception_v3_thin.weights.h5"
    assert (
        main(
            [
                "convert",
                prefix,
                "--model",
                "inception_v3",
                "--out",
                str(out),
                "--keep-background",
                "--exclude",
                "AuxLogits",
                "--depth-multiplier",
                "0.25",
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert (report["classes"], report["label_offset"], report["heads"]) == (1001, 1, [])

    x = np.random.default_rng(6).uniform(-1, 1, (2, 75, 75, 3)).astype("float32")
    want = outputs(source, x)["predictions"]
    loaded = keras_inception.InceptionV3(weights=str(out), **THIN)
    np.testing.assert_allclose(outputs(loaded, x), want, atol=1e-6)
    assert (
        main(["convert", str(tmp_path / "nothing"), "--model", "inception_v3", "--out", str(out)])
        == 1
    )
    assert "Unknown weights for 'inception_v3'" in capsys.readouterr().err
