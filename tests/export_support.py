"""Shared by the export and predict tests: a small classifier trained on digits.

A thin Inception-v3 (75 px, ``depth_multiplier=0.5``) is trained for a few
epochs on the embedded ``"digits"`` set and saved as a run directory; its
exports are built from it. Everything is built once per test session, also
under ``pytest-xdist``: the workers share one directory and a file lock, and
the second worker finds the first one's files.
"""

import contextlib
import fcntl
import io
import json
import os

import numpy as np

IMAGE_SIZE = 75
# The trained model: at half width and four epochs its int8 export keeps
# 99-100% top-1 agreement; at a quarter width its int8 error flips about 2%.
DEPTH_MULTIPLIER = 0.5
EPOCHS = 4
# The graph-level checks need no width.
TINY_DEPTH_MULTIPLIER = 0.25
# A 20 % validation split of digits (360 images): the first 200 calibrate int8,
# the other 160 are the held-out parity set.
VALIDATION_SPLIT = 0.2
NUM_CALIBRATION_IMAGES = 200
NUM_PARITY_IMAGES = 160


def calibration_stream():
    """The digits validation images the exports calibrate and check parity on, in order."""
    from keras_inception import data

    return list(
        data.calibration_images(
            "digits",
            IMAGE_SIZE,
            num_images=NUM_CALIBRATION_IMAGES + NUM_PARITY_IMAGES,
            batch_size=40,
            validation_split=VALIDATION_SPLIT,
        )
    )


def tiny_model(**kwargs):
    """An untrained, fast Inception-v3 (3 classes, 75 px) for graph-level checks."""
    from keras_inception import InceptionV3

    options = dict(
        input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3), depth_multiplier=TINY_DEPTH_MULTIPLIER, classes=3
    )
    return InceptionV3(**{**options, **kwargs})


def small_model(activation=None, include_preprocessing=False, size=16):
    """A few-layer classifier (3 classes): exports in seconds, for checks that need no Inception.

    Named like the package's models: ``predictions`` (the classifier) and,
    with ``include_preprocessing``, a ``preprocessing`` layer taking 0-255.
    """
    import keras

    inputs = keras.Input((size, size, 3), name="image")
    x = inputs
    if include_preprocessing:
        x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="preprocessing")(x)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, activation=activation, name="predictions")(x)
    return keras.Model(inputs, outputs, name="small")


def session_dir(tmp_path_factory):
    """A directory shared by all workers of this test session."""
    root = tmp_path_factory.getbasetemp()
    return root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root


@contextlib.contextmanager
def built_once(tmp_path_factory, name):
    """Yields ``(path, missing)`` under a session-wide lock; build ``path`` when missing."""
    root = session_dir(tmp_path_factory)
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = root / name
        done = root / f"{name}.done"
        yield path, not done.exists()
        done.touch()


def digits_run(tmp_path_factory):
    """A digits classifier's run directory: ``best.keras``, ``config.json``, ``class_names.json``.

    The model outputs logits (``classifier_activation=None``), so the exports'
    softmax and the float32 logit bound are both exercised.
    """
    with built_once(tmp_path_factory, "digits_run") as (run, missing):
        if missing:
            _train(run)
    return run


def digits_tflite(tmp_path_factory, mode):
    """``(path, report)`` of the digits run exported to TFLite in ``mode``.

    The calibration source is the digits validation split, split as above.
    """
    run = digits_run(tmp_path_factory)
    with built_once(tmp_path_factory, f"digits_{mode}") as (directory, missing):
        path = directory / f"digits_{mode}.tflite"
        if missing:
            from keras_inception import export

            report = export.export_tflite(
                run,
                path,
                mode=mode,
                calibration_data=calibration_stream(),
                num_calibration_images=NUM_CALIBRATION_IMAGES,
                num_parity_images=NUM_PARITY_IMAGES,
            )
            (directory / "report.json").write_text(json.dumps(report))
    return path, json.loads((directory / "report.json").read_text())


def digits_saved_model(tmp_path_factory):
    """The version directory of the digits run exported as a SavedModel."""
    run = digits_run(tmp_path_factory)
    with built_once(tmp_path_factory, "digits_saved_model") as (base, missing):
        if missing:
            from keras_inception import export

            export.export_saved_model(run, base_dir=base, model_name="digits")
    return base / "digits" / "1"


def digit_png_files(directory):
    """Writes one 8x8 digit per class (its last in the set) as ``digit_<index>_<label>.png``."""
    from PIL import Image

    from keras_inception import data

    images, labels = data.load_digits_rgb()
    for digit in range(10):
        index = int(np.flatnonzero(labels == digit)[-1])
        buffer = io.BytesIO()
        Image.fromarray(images[index]).save(buffer, "PNG")
        (directory / f"digit_{index}_{digit}.png").write_bytes(buffer.getvalue())


def _train(run):
    import keras

    from keras_inception import InceptionV3
    from keras_inception import data

    train, info = data.build_dataset(
        data.DataConfig(
            "digits",
            split="train",
            image_size=IMAGE_SIZE,
            batch_size=32,
            augment="none",
            deterministic=True,
        )
    )
    keras.utils.set_random_seed(0)
    model = InceptionV3(
        input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3),
        depth_multiplier=DEPTH_MULTIPLIER,
        classes=len(info.class_names),
        classifier_activation=None,
    )
    # A run of a few dozen steps: the moving statistics must settle within it.
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9
    # No metrics and a prebuilt optimizer keep tracing the train step to
    # one pass over a small graph: on two CPU cores it costs more than the steps.
    model.compile(
        # Decaying to zero ends on settled weights: confident, stable margins
        # that the int8 agreement check can rely on.
        optimizer=keras.optimizers.Adam(
            keras.optimizers.schedules.CosineDecay(2e-3, EPOCHS * info.steps_per_epoch)
        ),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.optimizer.build(model.trainable_variables)
    history = model.fit(train, epochs=EPOCHS, verbose=0, shuffle=False)
    run.mkdir(parents=True, exist_ok=True)
    model.save(run / "best.keras")
    data.save_class_names(str(run / "class_names.json"), info.class_names)
    (run / "config.json").write_text(
        json.dumps(
            {
                "model": "inception_v3",
                "image_size": IMAGE_SIZE,
                "central_fraction": 1.0,
            }
        )
    )
    (run / "summary.json").write_text(json.dumps({"loss": history.history["loss"][-1]}))
