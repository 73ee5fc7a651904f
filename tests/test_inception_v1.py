"""GoogLeNet: published topology of both variants, auxiliary heads, and the LRN layer."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

import keras_inception
from keras_inception.layers import LocalResponseNormalization
from keras_inception.weights import slim

SMALLEST = keras_inception.get_spec("inception_v1").min_size

# (layer, grid, channels) after every stage at 224x224: Table 1's output sizes.
STAGES = [
    ("conv2d_1a_7x7", 112, 64),
    ("maxpool_2a_3x3", 56, 64),
    ("conv2d_2b_1x1", 56, 64),
    ("conv2d_2c_3x3", 56, 192),
    ("maxpool_3a_3x3", 28, 192),
    ("mixed_3b", 28, 256),
    ("mixed_3c", 28, 480),
    ("maxpool_4a_3x3", 14, 480),
    ("mixed_4b", 14, 512),
    ("mixed_4c", 14, 512),
    ("mixed_4d", 14, 512),
    ("mixed_4e", 14, 528),
    ("mixed_4f", 14, 832),
    ("mixed_5b", 7, 832),
    ("mixed_5c", 7, 1024),
]


@pytest.mark.parametrize(
    "variant, params, params_aux",
    [("released", 6_632_184, 13_012_424), ("paper", 6_998_552, 13_378_792)],
)
def test_parameter_counts_and_grid_after_every_stage(variant, params, params_aux):
    model = keras_inception.InceptionV1(variant=variant)
    assert model.count_params() == params
    pool_5a = "maxpool_5a_3x3" if variant == "paper" else "maxpool_5a_2x2"
    stages = STAGES[:13] + [(pool_5a, 7, 832)] + STAGES[13:]
    for layer, grid, channels in stages:
        assert model.get_layer(layer).output.shape == (None, grid, grid, channels), layer
    assert (
        keras_inception.InceptionV1(variant=variant, aux_logits=True).count_params() == params_aux
    )


def test_released_variant_is_tf_slim():
    model = keras_inception.InceptionV1(input_shape=(96, 96, 3), depth_multiplier=0.5)
    assert not any(isinstance(layer, LocalResponseNormalization) for layer in model.layers)
    conv = model.get_layer("mixed_4b_branch_2_conv2d_0b_3x3_conv")
    assert conv.kernel_size == (3, 3) and not conv.use_bias
    assert isinstance(
        model.get_layer("mixed_4b_branch_2_conv2d_0b_3x3_bn"), keras.layers.BatchNormalization
    )
    # TF-slim scopes this conv Conv2d_0a_3x3; the slim converter renames it.
    assert model.get_layer("mixed_5b_branch_2_conv2d_0b_3x3_conv").kernel_size == (3, 3)
    assert slim.variable_name("mixed_5b_branch_2_conv2d_0b_3x3_conv", "kernel", "inception_v1") == (
        "InceptionV1/Mixed_5b/Branch_2/Conv2d_0a_3x3/weights"
    )
    assert model.get_layer("maxpool_5a_2x2").pool_size == (2, 2)


def test_paper_variant_has_lrn_true_5x5_and_no_batch_norm():
    model = keras_inception.InceptionV1(
        variant="paper", input_shape=(96, 96, 3), depth_multiplier=0.5, include_top=False
    )
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
    lrn = [layer.name for layer in model.layers if isinstance(layer, LocalResponseNormalization)]
    assert lrn == ["maxpool_2a_3x3_lrn", "conv2d_2c_3x3_lrn"]
    assert model.get_layer("maxpool_2a_3x3_lrn").input is model.get_layer("maxpool_2a_3x3").output
    assert model.get_layer("conv2d_2c_3x3_lrn").input is model.get_layer("conv2d_2c_3x3").output
    for block in ("mixed_3b", "mixed_4e", "mixed_5b", "mixed_5c"):
        conv = model.get_layer(f"{block}_branch_2_conv2d_0b_5x5_conv")
        assert conv.kernel_size == (5, 5) and conv.use_bias
    assert model.get_layer("maxpool_5a_3x3").pool_size == (3, 3)


@pytest.mark.parametrize("variant, size", [("released", 96), ("paper", 96), ("released", SMALLEST)])
def test_auxiliary_heads_on_4a_and_4d(variant, size):
    model = keras_inception.InceptionV1(
        variant=variant,
        input_shape=(size, size, 3),
        depth_multiplier=0.5,
        classes=6,
        aux_logits=True,
    )
    assert model.get_layer("aux_1_avg_pool").input is model.get_layer("mixed_4b").output
    assert model.get_layer("aux_2_avg_pool").input is model.get_layer("mixed_4e").output
    assert model.get_layer("mixed_5c").output.shape[1:3] == (math.ceil(size / 32),) * 2
    x = np.random.RandomState(0).uniform(-1, 1, (2, size, size, 3)).astype("float32")
    outputs = model(x, training=False)
    assert sorted(outputs) == ["aux_1", "aux_2", "predictions"]
    for value in outputs.values():
        value = keras.ops.convert_to_numpy(value)
        assert value.shape == (2, 6) and np.isfinite(value).all()


def test_googlenet_is_inception_v1():
    assert keras_inception.GoogLeNet is keras_inception.InceptionV1
    assert keras_inception.get_spec("inception_v1").builder is keras_inception.InceptionV1


# The LRN layer.


def test_lrn_matches_tensorflow_and_round_trips_its_config():
    layer = LocalResponseNormalization(depth_radius=3, bias=2.0, alpha=0.5, beta=0.6, name="lrn")
    x = np.random.RandomState(2).normal(0, 3, (2, 5, 5, 12)).astype("float32")
    expected = tf.nn.local_response_normalization(x, depth_radius=3, bias=2.0, alpha=0.5, beta=0.6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), expected.numpy(), rtol=1e-6)
    # The normalization is not the identity at these constants.
    assert not np.allclose(expected.numpy(), x, rtol=0.1)

    clone = LocalResponseNormalization.from_config(layer.get_config())
    assert (clone.depth_radius, clone.bias, clone.alpha, clone.beta) == (3, 2.0, 0.5, 0.6)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, LocalResponseNormalization)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(restored(x)), expected.numpy(), rtol=1e-6)


def test_lrn_in_a_model_reloads_in_safe_mode(tmp_path):
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    model = keras.Model(inputs, LocalResponseNormalization(alpha=0.3, name="lrn")(x))
    path = tmp_path / "lrn.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded.get_layer("lrn"), LocalResponseNormalization)
    assert loaded.get_layer("lrn").alpha == 0.3
    x = np.random.RandomState(1).normal(0, 2, (2, 6, 6, 3)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_lrn_under_mixed_precision(policy):
    x = np.random.RandomState(4).normal(0, 3, (1, 4, 4, 8)).astype("float32")
    outputs = LocalResponseNormalization(alpha=0.5, dtype=policy)(x)
    assert outputs.dtype == policy.split("_")[1]
    expected = tf.nn.local_response_normalization(x, depth_radius=2, alpha=0.5, beta=0.75)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(keras.ops.cast(outputs, "float32")),
        expected.numpy(),
        rtol=2e-2,
        atol=1e-2,
    )


def test_lrn_defaults_are_googlenets_caffe_constants():
    layer = LocalResponseNormalization()
    assert (layer.depth_radius, layer.bias, layer.alpha, layer.beta) == (2, 1.0, 1e-4 / 5, 0.75)


@pytest.mark.parametrize(
    "kwargs",
    [dict(depth_radius=-1), dict(depth_radius=1.5), dict(alpha=-0.1), dict(beta="x")],
    ids=lambda kw: ",".join(kw),
)
def test_lrn_bad_arguments_name_the_received_value(kwargs):
    with pytest.raises(ValueError, match="Received"):
        LocalResponseNormalization(**kwargs)


def test_lrn_rejects_non_image_input():
    with pytest.raises(ValueError, match="Received: input_shape"):
        LocalResponseNormalization()(keras.Input((8,)))


def test_lrn_converts_to_the_tflite_builtin_op(capsys):
    inputs = keras.Input((8, 8, 16), batch_size=1)
    model = keras.Model(inputs, LocalResponseNormalization(alpha=0.1)(inputs))
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    # Builtins only: the conversion fails if the op needs the Flex delegate.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    flatbuffer = converter.convert()
    tf.lite.experimental.Analyzer.analyze(model_content=flatbuffer)
    report = capsys.readouterr().out
    assert "LOCAL_RESPONSE_NORMALIZATION" in report
    assert "Flex" not in report and "CUSTOM" not in report

    interpreter = Interpreter(model_content=flatbuffer)
    interpreter.allocate_tensors()
    x = np.random.RandomState(3).normal(0, 2, (1, 8, 8, 16)).astype("float32")
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    result = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(result, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
