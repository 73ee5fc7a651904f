"""Serving graphs: batch norm folded into the convs, bfloat16 SavedModels, decision parity.

The bfloat16 checks run on the trained digits model of ``export_support`` and
read the exported SavedModel back through its signature, so they measure the
artifact a server loads, not the exporter's own report.
"""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import export_support as support
import keras_inception
from keras_inception import export
from keras_inception.cli import main as cli_main
from keras_inception.export import parity
from keras_inception.export import saved_model as saved_model_lib

SIZE = 75


def with_moving_statistics(model, seed=0):
    """Gives every batch norm non-trivial statistics (a fresh one is the identity)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            weights = [rng.normal(0.0, 0.3, w.shape) for w in layer.get_weights()]
            weights[-1] = rng.uniform(0.3, 3.0, weights[-1].shape)  # moving variance
            layer.set_weights(weights)
    return model


def count(model, cls):
    return sum(isinstance(layer, cls) for layer in model.layers)


@pytest.mark.parametrize(
    "name, variant", [(n, v) for n in keras_inception.list_models() for v in ("released", "paper")]
)
def test_folding_keeps_every_network_s_outputs_and_names(name, variant):
    model = with_moving_statistics(
        keras_inception.get_model(
            name,
            variant=variant,
            weights=None,
            input_shape=(SIZE, SIZE, 3),
            depth_multiplier=0.25,
            classes=5,
            classifier_activation=None,
        )
    )
    folded = export.fold_batch_norm(model)
    # Every batch norm of these networks follows a conv without activation.
    assert count(folded, keras.layers.BatchNormalization) == 0
    assert [layer.name for layer in folded.layers] == [layer.name for layer in model.layers]
    images = np.random.default_rng(1).uniform(-1, 1, (2, SIZE, SIZE, 3)).astype(np.float32)
    expected = model(images, training=False).numpy()
    got = folded(images, training=False).numpy()
    assert np.max(np.abs(got - expected)) <= 1e-5 * np.max(np.abs(expected))


def test_only_a_conv_s_sole_consumer_is_folded():
    inputs = keras.Input((8, 8, 3))
    conv = keras.layers.Conv2D(4, 3, use_bias=False, name="shared_conv")(inputs)
    left = keras.layers.BatchNormalization(name="left_bn")(conv)
    right = keras.layers.Activation("relu", name="right")(conv)
    relu_conv = keras.layers.Conv2D(4, 1, activation="relu", name="relu_conv")(inputs)
    after_relu = keras.layers.BatchNormalization(name="after_relu_bn")(relu_conv)
    depthwise = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw")(inputs)
    dw_bn = keras.layers.BatchNormalization(name="dw_bn")(depthwise)
    outputs = keras.layers.Concatenate()(
        [keras.layers.Flatten()(x) for x in (left, right, after_relu, dw_bn)]
    )
    model = with_moving_statistics(keras.Model(inputs, outputs))
    folded = export.fold_batch_norm(model)
    kinds = {layer.name: type(layer).__name__ for layer in folded.layers}
    # Shared output, and a conv with its own activation: left as they are.
    assert kinds["left_bn"] == kinds["after_relu_bn"] == "BatchNormalization"
    assert kinds["dw_bn"] == "Identity" and folded.get_layer("dw").use_bias
    images = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(folded(images).numpy(), model(images).numpy(), atol=1e-5)


def test_a_model_without_batch_norm_is_returned_as_it_is():
    model = support.small_model()
    assert export.fold_batch_norm(model) is model


def test_bfloat16_copy_computes_in_bfloat16_with_float32_in_and_out():
    model = support.tiny_model(classifier_activation="softmax")
    copy = export.serving_copy(model, "bfloat16")
    convs = [layer for layer in copy.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs and all(layer.compute_dtype == "bfloat16" for layer in convs)
    assert copy.get_layer("predictions").compute_dtype == "float32"
    out = copy(np.zeros((1, SIZE, SIZE, 3), np.float32))
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    with pytest.raises(ValueError, match="Received: precision='float16'"):
        export.serving_copy(model, "float16")


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """The trained digits run, its Keras model, and held-out images no export calibrates on."""
    run = support.digits_run(tmp_path_factory)
    model = keras.saving.load_model(run / "best.keras")
    held_out = np.concatenate(support.calibration_stream())[support.NUM_CALIBRATION_IMAGES :]
    return run, model, held_out


def test_bfloat16_saved_model_agrees_with_float32_on_held_out_digits(digits, tmp_path, capsys):
    run, model, held_out = digits
    code = cli_main(
        [
            "export",
            str(run),
            "--precision",
            "bfloat16",
            "--parity-data",
            "digits",
            "--out",
            str(tmp_path),
            "--model-name",
            "digits",
            "--json",
        ]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["precision"] == "bfloat16"
    check = report["parity"]
    assert check["metric"] == "decided_top1_agreement" and check["enforced"] and check["passed"]
    assert check["images"] == "held-out" and check["num_decided"] >= parity.MIN_DECIDED_IMAGES
    meta = json.loads((tmp_path / "digits" / "1" / export.META_FILE).read_text())
    assert meta["precision"] == "bfloat16" and meta["parity"] == check

    # The artifact, through the signature a server calls, on images the check did not choose.
    loaded = tf.saved_model.load(str(tmp_path / "digits" / "1"))
    pixels = tf.constant((held_out + 1.0) * 127.5)
    got = loaded.signatures[export.SIGNATURE_PIXELS](pixels=pixels)["probabilities"].numpy()
    assert got.dtype == np.float32
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(model(held_out, training=False)))
    agreement = np.mean(got.argmax(-1) == expected.argmax(-1))
    assert agreement >= 0.99
    assert np.max(np.abs(got - expected)) <= 0.1


def test_float32_export_is_folded_and_matches_keras(digits, tmp_path):
    run, model, held_out = digits
    version = export.export_saved_model(run, base_dir=tmp_path, model_name="digits")
    meta = json.loads(open(os.path.join(version, export.META_FILE)).read())
    assert meta["precision"] == "float32"
    assert meta["parity"]["metric"] == "max_rel_diff" and meta["parity"]["enforced"]
    saved = tf.train.list_variables(os.path.join(version, "variables", "variables"))
    values = [name for name, _ in saved if name.endswith("VARIABLE_VALUE")]
    # A kernel and a bias per conv: no beta, moving mean or moving variance.
    assert len(values) == len(export.fold_batch_norm(model).weights) < len(model.weights)
    loaded = tf.saved_model.load(version)
    pixels = tf.constant((held_out[:16] + 1.0) * 127.5)
    got = loaded.signatures[export.SIGNATURE_PIXELS](pixels=pixels)["probabilities"].numpy()
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(model(held_out[:16])))
    assert np.max(np.abs(got - expected)) <= 1e-5


def test_random_weights_export_in_bfloat16_and_say_the_check_cannot_test_them(tmp_path):
    model = support.tiny_model(classes=10, classifier_activation=None)
    images = np.concatenate(support.calibration_stream()[:2])
    version = export.export_saved_model(
        model,
        base_dir=tmp_path,
        model_name="random",
        precision="bfloat16",
        parity_data=[images],
        num_parity_images=len(images),
    )
    check = json.loads(open(os.path.join(version, export.META_FILE)).read())["parity"]
    assert check["images"] == "held-out" and not check["enforced"] and check["passed"]
    assert "cannot test" in check["reason"] and check["num_decided"] < parity.MIN_DECIDED_IMAGES
    assert "NOT TESTED" in parity.describe(check)


def test_a_failed_saved_model_parity_check_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setitem(saved_model_lib.PARITY_BOUNDS, "float32", ("max_rel_diff", -1.0))
    with pytest.raises(ValueError, match="float32 SavedModel graph fails its parity check"):
        export.export_saved_model(support.small_model(), base_dir=tmp_path, model_name="m")
    assert not (tmp_path / "m" / "1").exists()


def test_bad_precision_is_refused(tmp_path):
    with pytest.raises(ValueError, match="Received: precision='int8'"):
        export.export_saved_model(support.small_model(), base_dir=tmp_path, precision="int8")


def probabilities(*rows):
    return np.log(np.asarray(rows, np.float32))


def test_decisions_count_only_where_the_float_model_decides():
    decided = [[0.9, 0.05, 0.05]] * 30
    tied = [[0.48, 0.47, 0.05]] * 10
    expected = probabilities(*decided, *tied)
    # Every near-tie flips, and one decided image does.
    flipped = expected.copy()
    flipped[30:, [0, 1]] = flipped[30:, [1, 0]]
    flipped[0, [0, 2]] = flipped[0, [2, 0]]
    result = parity.compare(expected, flipped, "decided_top1_agreement", 0.95)
    assert result["num_decided"] == 30 and result["num_images"] == 40
    assert result["top1_agreement"] == pytest.approx(29 / 40)
    assert result["decided_top1_agreement"] == pytest.approx(29 / 30)
    assert result["enforced"] and result["passed"]
    assert not parity.compare(expected, flipped, "decided_top1_agreement", 0.98)["passed"]


def test_too_few_decided_images_is_reported_not_passed_or_failed():
    expected = probabilities(*[[0.34, 0.33, 0.33]] * 50, *[[0.9, 0.05, 0.05]] * 5)
    result = parity.compare(expected, expected[:, ::-1], "decided_top1_agreement", 0.98)
    assert result["num_decided"] == 5 and not result["enforced"] and result["passed"]
    assert "only 5 of 55" in result["reason"]
    synthetic = parity.compare(expected, expected, "decided_top1_agreement", 0.98, real=False)
    assert not synthetic["enforced"] and "synthetic" in synthetic["reason"]
    numbers = parity.compare(expected, expected + 1.0, "max_abs_diff", 1e-4, real=False)
    assert numbers["enforced"] and not numbers["passed"]
    with pytest.raises(ValueError, match="Received: metric='top5'"):
        parity.compare(expected, expected, "top5", 0.5)


def test_a_model_trained_in_mixed_bfloat16_exports_in_float32(tmp_path):
    """What `keras-inception train` saves on a host with AMX (precision auto: mixed bfloat16)."""
    from keras_inception import precision

    trained = with_moving_statistics(
        precision.with_policy(support.tiny_model(classes=10, aux_logits=True), "mixed_bfloat16")
    )
    trained.save(tmp_path / "bf16.keras")
    model, _, _ = export.load_source(str(tmp_path / "bf16.keras"))
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    # The main head's graph alone, folded for serving.
    assert "aux" not in {layer.name for layer in model.layers}
    assert count(export.serving_copy(model), keras.layers.BatchNormalization) == 0
    version = export.export_saved_model(str(tmp_path / "bf16.keras"), base_dir=tmp_path)
    check = json.loads(open(os.path.join(version, export.META_FILE)).read())["parity"]
    assert check["enforced"] and check["passed"] and check["max_rel_diff"] <= 1e-4
    report = export.export_tflite(str(tmp_path / "bf16.keras"), tmp_path / "m.tflite")
    assert report["parity"]["passed"] and report["parity"]["max_abs_diff"] <= 1e-4


def test_a_short_image_source_still_leaves_held_out_images():
    meta = {"image_size": [8, 8], "input_range": [-1.0, 1.0]}
    batches = [np.full((10, 8, 8, 3), i, np.float32) for i in range(3)]
    first, second = parity.image_sets(batches, meta, 200, 100)
    assert len(first) == len(second) == 15
    # Consecutive: the held-out images are those after the calibration ones.
    assert first[-1, 0, 0, 0] == 1.0 and second[0, 0, 0, 0] == 1.0 and second[-1, 0, 0, 0] == 2.0
    first, second = parity.image_sets(batches, meta, 20, 5)
    assert len(first) == 20 and len(second) == 5
    first, second = parity.image_sets(batches, meta, 0, 100)
    assert len(first) == 0 and len(second) == 30
    with pytest.raises(ValueError, match="Received: num=-1"):
        parity.image_sets(batches, meta, 0, -1, names=("first", "num"))
