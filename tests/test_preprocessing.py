"""``preprocess_input`` and offline ``decode_predictions``."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_inception


def test_preprocess_input_maps_pixels_to_unit_range_without_touching_input():
    pixels = np.array([[0.0, 127.5, 255.0]], dtype="float32")
    before = pixels.copy()
    out = keras_inception.preprocess_input(pixels)
    np.testing.assert_allclose(out, [[-1.0, 0.0, 1.0]])
    np.testing.assert_array_equal(pixels, before)
    assert out.dtype == np.float32


def test_preprocess_input_accepts_uint8_and_tensors_like_keras_applications():
    pixels = np.random.RandomState(0).randint(0, 256, (2, 5, 5, 3)).astype("uint8")
    ours = keras_inception.preprocess_input(pixels)
    theirs = keras.applications.inception_v3.preprocess_input(pixels.astype("float32"))
    np.testing.assert_allclose(ours, theirs, atol=1e-6)
    tensor_out = keras_inception.preprocess_input(tf.constant(pixels))
    np.testing.assert_allclose(tensor_out.numpy(), ours, atol=1e-6)


def test_decode_predictions_offline_top_k():
    preds = np.zeros((2, 1000), "float32")
    preds[0, [1, 2, 3]] = [0.2, 0.5, 0.3]
    preds[1, 999] = 1.0
    decoded = keras_inception.decode_predictions(preds, top=3)
    assert [name for _, name, _ in decoded[0]] == ["great_white_shark", "tiger_shark", "goldfish"]
    assert decoded[0][0] == ("n01484850", "great_white_shark", 0.5)
    assert decoded[1][0][:2] == ("n15075141", "toilet_tissue")


def test_decode_predictions_drops_slim_background_class():
    preds = np.zeros((1, 1001), "float32")
    preds[0, 1] = 1.0  # slim label 1 is ImageNet class 0
    assert keras_inception.decode_predictions(preds, top=1)[0][0][1] == "tench"


def test_decode_predictions_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"Received: preds.shape=\(3, 10\)"):
        keras_inception.decode_predictions(np.zeros((3, 10)))
