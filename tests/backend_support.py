"""The builders on another Keras backend: run as a script under ``KERAS_BACKEND``.

``tests/test_backends.py`` builds every ``(network, variant)`` of the registry
on TensorFlow, saves each model's weights and outputs in a folder, then runs

    KERAS_BACKEND=jax python tests/backend_support.py FOLDER

(or ``KERAS_BACKEND=torch``), which rebuilds the same models on that backend,
loads the same weights and writes what it computed (``FOLDER/<backend>.npz``,
``FOLDER/<backend>.json``) for the test to compare.
"""

import json
import os
import sys

import keras
import numpy as np

import keras_inception

DEPTH_MULTIPLIER = 0.25


def cases():
    """Every ``(network, variant)`` pair of the registry."""
    return [
        (name, variant)
        for name in keras_inception.list_models()
        for variant in keras_inception.get_spec(name).variants
    ]


def input_size(name, variant):
    # The variants of a network share its minimum size.
    return max(75, keras_inception.get_spec(name).min_size)


def build(name, variant, **kwargs):
    """The pair's model at a small input and width, logits out."""
    size = input_size(name, variant)
    return keras_inception.get_model(
        name,
        variant=variant,
        weights=None,
        input_shape=(size, size, 3),
        classes=10,
        depth_multiplier=DEPTH_MULTIPLIER,
        classifier_activation=None,
        **kwargs,
    )


def images(size, seed=0):
    return np.random.RandomState(seed).uniform(-1, 1, (2, size, size, 3)).astype("float32")


def key(name, variant):
    return f"{name}-{variant}"


def run_backend(folder):
    """Rebuilds each pair, loads its TensorFlow weights and records what it computes."""
    outputs, report = {}, {"backend": keras.backend.backend(), "cases": cases()}
    for name, variant in report["cases"]:
        model = build(name, variant)
        model.load_weights(os.path.join(folder, key(name, variant) + ".weights.h5"))
        # predict: one compiled graph per model, cheaper on JAX than op-by-op calls.
        outputs[key(name, variant)] = model.predict(images(input_size(name, variant)), verbose=0)

    pixels = np.random.RandomState(1).randint(0, 256, (2, 4, 4, 3)).astype("uint8")
    scaled = keras_inception.preprocess_input(keras.ops.convert_to_tensor(pixels))
    report["preprocess_type"] = type(scaled).__module__.split(".")[0]
    outputs["preprocess"] = keras.ops.convert_to_numpy(scaled)
    logits = keras.ops.convert_to_tensor(np.eye(1000, dtype="float32")[[207, 1]])
    report["decoded"] = [row[0][:2] for row in keras_inception.decode_predictions(logits)]

    model = build("inception_v3", "released")
    features = keras_inception.feature_extractor(model)(images(75), training=False)
    report["features"] = {label: list(value.shape) for label, value in features.items()}
    report["tensorflow_modules"] = sorted(m for m in sys.modules if m.startswith("tensorflow"))

    # The paper GoogLeNet holds the package's only custom layer (LRN).
    model = build("inception_v1", "paper")
    model.load_weights(os.path.join(folder, key("inception_v1", "paper") + ".weights.h5"))
    path = os.path.join(folder, f"{report['backend']}.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    outputs["reloaded"] = keras.ops.convert_to_numpy(
        reloaded(images(input_size("inception_v1", "paper")), training=False)
    )

    np.savez(os.path.join(folder, f"{report['backend']}.npz"), **outputs)
    with open(os.path.join(folder, f"{report['backend']}.json"), "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    run_backend(sys.argv[1])
