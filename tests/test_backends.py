"""The builders on the JAX backend: every (network, variant), with TensorFlow's outputs.

One subprocess with ``KERAS_BACKEND=jax`` (``tests/backend_support.py``) rebuilds
each model of the registry, loads the weights this TensorFlow process saved and
must compute the same logits; it also runs ``preprocess_input``,
``decode_predictions``, ``feature_extractor`` and a ``.keras`` round trip of the
LRN model, without importing TensorFlow.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import backend_support as support
import keras_inception

pytest.importorskip("jax")

HERE = os.path.dirname(os.path.abspath(__file__))
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def jax_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("backends")
    expected = {}
    for name, variant in support.cases():
        model = support.build(name, variant)
        model.save_weights(str(folder / (support.key(name, variant) + ".weights.h5")))
        x = support.images(support.input_size(name, variant))
        expected[support.key(name, variant)] = np.asarray(model(x, training=False))
    np.savez(folder / "tensorflow.npz", **expected)
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "JAX_PLATFORMS": "cpu",
        # Every weight shape compiles its own initializer; unoptimized code
        # compiles about three times faster and computes the same values.
        "XLA_FLAGS": "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true",
    }
    result = subprocess.run(
        [sys.executable, os.path.join(HERE, "backend_support.py"), str(folder)],
        capture_output=True, text=True, env=env, timeout=1200,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    with open(folder / "jax.json") as f:
        report = json.load(f)
    return report, dict(np.load(folder / "jax.npz")), expected


def test_every_registered_pair_builds_on_jax_with_tensorflows_outputs(jax_run):
    report, outputs, expected = jax_run
    assert report["backend"] == "jax"
    assert [tuple(case) for case in report["cases"]] == support.cases()
    assert {name for name, _ in report["cases"]} == set(keras_inception.list_models())
    for key, tf_logits in expected.items():
        assert outputs[key].shape == tf_logits.shape == (2, 10), key
        # Relative to the largest logit: the deep random-weight networks give
        # logits as small as 1e-4, where an absolute bound would prove nothing.
        scale = np.abs(tf_logits).max()
        assert scale > 1e-7, key
        np.testing.assert_allclose(outputs[key] / scale, tf_logits / scale, atol=TOLERANCE,
                                   err_msg=key)


def test_keras_round_trip_on_jax_keeps_the_outputs(jax_run):
    _, outputs, expected = jax_run
    reference = expected["inception_v1-paper"]
    scale = np.abs(reference).max()
    np.testing.assert_allclose(outputs["reloaded"] / scale, reference / scale, atol=TOLERANCE)


def test_preprocessing_decoding_and_features_on_jax_without_tensorflow(jax_run):
    report, outputs, _ = jax_run
    assert report["tensorflow_modules"] == []
    assert report["preprocess_type"] in ("jax", "jaxlib")  # a jax.Array, not a tf.Tensor
    pixels = np.random.RandomState(1).randint(0, 256, (2, 4, 4, 3)).astype("uint8")
    np.testing.assert_allclose(
        outputs["preprocess"], keras_inception.preprocess_input(pixels), atol=1e-6
    )
    assert report["decoded"] == [["n02099601", "golden_retriever"], ["n01443537", "goldfish"]]
    spec = keras_inception.get_spec("inception_v3")
    assert sorted(report["features"]) == sorted(spec.endpoints)
    # 75 px in: the last endpoint is the final 1 x 1 grid, 2048 x 0.25 channels.
    assert report["features"][list(spec.endpoints)[-1]] == [2, 1, 1, 512]
