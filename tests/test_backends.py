"""The builders on JAX and PyTorch: every (network, variant), with TensorFlow's outputs.

One subprocess per backend (``KERAS_BACKEND=jax`` or ``torch``,
``tests/backend_support.py``) rebuilds each model of the registry, loads the
weights this TensorFlow process saved and must compute the same logits; it also
runs ``preprocess_input``, ``decode_predictions``, ``feature_extractor`` and a
``.keras`` round trip of the LRN model, without importing TensorFlow. Each
backend's tests are skipped where it is not installed; PyTorch is in no extra
(see README's "Backends").
"""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import backend_support as support
import keras_inception

HERE = os.path.dirname(os.path.abspath(__file__))
TOLERANCE = 1e-4

# Extra environment of each backend's subprocess.
BACKEND_ENV = {
    "jax": {
        "JAX_PLATFORMS": "cpu",
        # Every weight shape compiles its own initializer; unoptimized code
        # compiles about three times faster and computes the same values.
        "XLA_FLAGS": "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true",
    },
    "torch": {},
}
# The module of a tensor that preprocess_input returns on each backend.
TENSOR_MODULES = {"jax": ("jax", "jaxlib"), "torch": ("torch",)}
# Skipped before the TensorFlow models are built when the backend is missing.
BACKENDS = [
    pytest.param(
        backend,
        marks=pytest.mark.skipif(
            importlib.util.find_spec(backend) is None, reason=f"{backend} is not installed"
        ),
    )
    for backend in BACKEND_ENV
]


@pytest.fixture(scope="module")
def tensorflow_run(tmp_path_factory):
    """Every pair's weights and logits on TensorFlow, saved for the other backends."""
    folder = tmp_path_factory.mktemp("backends")
    expected = {}
    for name, variant in support.cases():
        model = support.build(name, variant)
        model.save_weights(str(folder / (support.key(name, variant) + ".weights.h5")))
        x = support.images(support.input_size(name, variant))
        expected[support.key(name, variant)] = np.asarray(model(x, training=False))
    np.savez(folder / "tensorflow.npz", **expected)
    return folder, expected


def run_backend(backend, folder):
    """``(report, outputs)`` of ``backend_support.py`` run on ``backend`` over ``folder``."""
    env = {**os.environ, "KERAS_BACKEND": backend, **BACKEND_ENV[backend]}
    result = subprocess.run(
        [sys.executable, os.path.join(HERE, "backend_support.py"), str(folder)],
        capture_output=True,
        text=True,
        env=env,
        timeout=1200,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    with open(folder / f"{backend}.json") as f:
        report = json.load(f)
    return report, dict(np.load(folder / f"{backend}.npz"))


# One test per backend: under pytest-xdist, tests sharing a module fixture may
# run on both workers, each paying for the whole subprocess again.
@pytest.mark.parametrize("backend", BACKENDS)
def test_builders_preprocessing_and_saving_match_tensorflow(backend, tensorflow_run):
    folder, expected = tensorflow_run
    report, outputs = run_backend(backend, folder)

    assert report["backend"] == backend
    assert [tuple(case) for case in report["cases"]] == support.cases()
    assert {name for name, _ in report["cases"]} == set(keras_inception.list_models())
    for key, tf_logits in expected.items():
        assert outputs[key].shape == tf_logits.shape == (2, 10), key
        # Relative to the largest logit: the deep random-weight networks give
        # logits as small as 1e-4, where an absolute bound would prove nothing.
        scale = np.abs(tf_logits).max()
        assert scale > 1e-7, key
        np.testing.assert_allclose(
            outputs[key] / scale, tf_logits / scale, atol=TOLERANCE, err_msg=key
        )

    # The .keras round trip of the LRN model.
    reference = expected["inception_v1-paper"]
    scale = np.abs(reference).max()
    np.testing.assert_allclose(outputs["reloaded"] / scale, reference / scale, atol=TOLERANCE)

    assert report["tensorflow_modules"] == []
    # A tensor of the backend (a jax.Array, a torch.Tensor), not a tf.Tensor.
    assert report["preprocess_type"] in TENSOR_MODULES[backend]
    pixels = np.random.RandomState(1).randint(0, 256, (2, 4, 4, 3)).astype("uint8")
    np.testing.assert_allclose(
        outputs["preprocess"], keras_inception.preprocess_input(pixels), atol=1e-6
    )
    assert report["decoded"] == [["n02099601", "golden_retriever"], ["n01443537", "goldfish"]]
    spec = keras_inception.get_spec("inception_v3")
    assert sorted(report["features"]) == sorted(spec.endpoints)
    # 75 px in: the last endpoint is the final 1 x 1 grid, 2048 x 0.25 channels.
    assert report["features"][list(spec.endpoints)[-1]] == [2, 1, 1, 512]
