"""One loader for a saved classifier in any of its forms: ``load_classifier``.

``predict`` and ``evaluate`` both go through it. The forms:

- a ``keras.Model``, a ``.keras`` file, a training run directory or a registry
  name (``export.load_source``: ImageNet weights for a name);
- a SavedModel written by ``export.export_saved_model``: a version directory,
  or the TF-Serving model directory above it (its newest version, as TF
  Serving serves it);
- a ``.tflite`` file from ``export.export_tflite``, with the sidecar JSON beside
  it that holds its labels, input size, input range and evaluation crop.

Each becomes a ``Classifier``: float32 pixels in 0..255 at its input size in,
softmax probabilities out, whatever range the model takes and whether it ends
in logits. Pixels come from encoded images through ``export.saved_model``'s
``load_pixels``, the code a SavedModel runs in its graph.
"""

import dataclasses
import hashlib
import json
import os

import numpy as np
import tensorflow as tf

from keras_inception import image_header

SAVED_MODEL_FILE = "saved_model.pb"


@dataclasses.dataclass
class Classifier:
    """A loaded classifier, whatever form it was saved in.

    Attributes:
        name: what it was loaded from (a path, a registry name or the model's
            name).
        kind: ``"keras"``, ``"saved_model"`` or ``"tflite"``.
        image_size: ``(height, width)`` of its input.
        num_classes: number of classes.
        class_names: label ``i`` is ``class_names[i]``; ``None`` when the saved
            form records none.
        central_fraction: the evaluation crop it was trained or exported with.
        predict: float32 ``[n, height, width, 3]`` pixels in 0..255 ->
            probabilities ``[n, num_classes]`` (a tensor or an array).
        bytes_signature: a SavedModel's in-graph path from one encoded image to
            its probabilities (``None`` for the other kinds), used by
            ``predict_bytes``: it decodes, checks ``max_pixels`` and crops with
            what it was exported with.
    """

    name: str
    kind: str
    image_size: tuple
    num_classes: int
    class_names: list = None
    central_fraction: float = 0.875
    predict: object = None
    bytes_signature: object = None
    # The SavedModel's signatures need their variables alive; the interpreter
    # reads a .tflite from this buffer.
    keep_alive: object = dataclasses.field(default=None, repr=False)

    def labels(self):
        """``class_names``, or ``"0"``, ``"1"``, ... when the saved form records none."""
        from keras_inception.export.source import resolve_class_names

        return resolve_class_names(self.class_names, self.num_classes)

    def bytes_predictor(self, max_pixels=image_header.DEFAULT_MAX_PIXELS):
        """A function ``encoded image bytes -> probabilities [num_classes]`` (NumPy).

        Args:
            max_pixels: larger images (by their header) raise
                ``InvalidArgumentError`` before they are decoded, default
                ``image_header.DEFAULT_MAX_PIXELS``. A SavedModel applies the
                limit it was exported with.
        """
        if self.bytes_signature is not None:
            signature = self.bytes_signature
            (input_name,) = signature.structured_input_signature[1]

            def run_signature(image_bytes):
                outputs = signature(**{input_name: tf.constant([image_bytes])})
                return outputs["probabilities"].numpy()[0]

            return run_signature
        from keras_inception.export.saved_model import load_pixels

        height, width = self.image_size
        load = tf.function(
            lambda image_bytes: load_pixels(
                image_bytes, height, width, self.central_fraction, max_pixels
            ),
            input_signature=[tf.TensorSpec([], tf.string)],
        )

        def run(image_bytes):
            pixels = load(tf.constant(image_bytes)).numpy()[None]
            return np.asarray(self.predict(pixels))[0]

        return run


def load_classifier(source, *, precision="auto"):
    """Loads a classifier from any form ``keras_inception`` saves it in.

    Args:
        source: a ``keras.Model``; a ``.keras`` file; a training run directory;
            a registry name (ImageNet weights); a SavedModel directory from
            ``export.export_saved_model`` (a version, or the model directory:
            its newest version); or a ``.tflite`` file with its sidecar JSON
            (``export.sidecar_path``).
        precision: dtype policy of a Keras model: ``"auto"`` (default:
            ``keras_inception.precision``'s rule) or a policy name. SavedModels
            and ``.tflite`` files compute as they were exported.

    Returns:
        A ``Classifier``.

    Raises:
        ValueError: ``source`` is none of the above, a SavedModel lacks the
            signatures ``export_saved_model`` writes, a model directory's
            newest version is not a complete SavedModel, or a ``.tflite``
            file's sidecar is missing, describes another model or was not
            written by ``keras_inception.export``.
    """
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if path.endswith(".tflite"):
            return _tflite_classifier(path)
        saved_model_dir = saved_model_path(path)
        if saved_model_dir is not None:
            return _saved_model_classifier(saved_model_dir)
    return _keras_classifier(source, precision)


def saved_model_path(path):
    """The SavedModel that ``path`` names, or ``None`` when it names none.

    Args:
        path: a SavedModel directory (it holds ``saved_model.pb``), or a
            TF-Serving model directory of numbered versions: its newest
            version, the one TF Serving serves.

    Raises:
        ValueError: the newest version of a model directory is not a complete
            SavedModel (predicting with an older one would hide a broken
            export), unless the directory is a training run directory.
    """
    from keras_inception.export.serving_config import model_versions
    from keras_inception.export.source import RUN_CHECKPOINTS

    path = os.fspath(path)
    if not os.path.isdir(path):
        return None
    if os.path.isfile(os.path.join(path, SAVED_MODEL_FILE)):
        return path
    versions = model_versions(path)
    if not versions or any(os.path.isfile(os.path.join(path, n)) for n in RUN_CHECKPOINTS):
        return None
    newest = os.path.join(path, str(versions[-1]))
    if not os.path.isfile(os.path.join(newest, SAVED_MODEL_FILE)):
        raise ValueError(
            f"The newest version of the model directory, {versions[-1]}, holds no "
            f"{SAVED_MODEL_FILE}: it is not a complete SavedModel (TF Serving would "
            "not serve it either); export it again or remove it. "
            f"Received: path={path!r}"
        )
    return newest


def _keras_classifier(source, precision):
    import keras

    from keras_inception import inference
    from keras_inception import precision as precision_lib
    from keras_inception.export.source import SCALED_RANGE
    from keras_inception.export.source import load_source
    from keras_inception.export.source import to_probabilities
    from keras_inception.preprocessing import preprocess_input

    model, class_names, meta = load_source(source)
    # Batch norm folded into the convs: the same outputs within float32
    # rounding, fewer ops (keras_inception.inference).
    model = precision_lib.with_policy(
        inference.fold_batch_norm(model), precision_lib.resolve(precision)[0]
    )
    scale = tuple(meta["input_range"]) == SCALED_RANGE
    height, width = meta["image_size"]

    @tf.function(input_signature=[tf.TensorSpec((None, height, width, 3), tf.float32)])
    def predict(pixels):
        outputs = model(preprocess_input(pixels) if scale else pixels, training=False)
        return to_probabilities(outputs, meta["output"])

    name = model.name if isinstance(source, keras.Model) else meta["source"]
    return Classifier(
        name,
        "keras",
        (height, width),
        meta["num_classes"],
        class_names,
        meta["central_fraction"],
        predict,
        keep_alive=model,
    )


def _saved_model_classifier(path):
    """A SavedModel of ``export_saved_model``: its pixels and encoded-image signatures."""
    from keras_inception.export import saved_model

    loaded = tf.saved_model.load(path)
    pixels = loaded.signatures.get(saved_model.SIGNATURE_PIXELS)
    image_bytes = loaded.signatures.get(saved_model.SIGNATURE_BYTES)
    byte_inputs = image_bytes.structured_input_signature[1] if image_bytes is not None else {}
    if (
        pixels is None
        or len(byte_inputs) != 1
        or next(iter(byte_inputs.values())).dtype != tf.string
    ):
        raise ValueError(
            f"The SavedModel lacks the {saved_model.SIGNATURE_PIXELS!r} signature or a "
            f"{saved_model.SIGNATURE_BYTES!r} signature taking encoded images; export "
            "it with keras_inception.export.export_saved_model. "
            f"Received: path={path!r}"
        )
    height, width = pixels.structured_input_signature[1]["pixels"].shape[1:3]
    num_classes = int(pixels.structured_outputs["probabilities"].shape[-1])
    labels_path = os.path.join(path, "assets", saved_model.LABELS_FILE)
    class_names = None
    if os.path.isfile(labels_path):
        with open(labels_path, encoding="utf-8") as f:
            class_names = f.read().splitlines()

    def predict(batch):
        return pixels(pixels=tf.convert_to_tensor(batch, tf.float32))["probabilities"]

    return Classifier(
        path,
        "saved_model",
        (int(height), int(width)),
        num_classes,
        class_names,
        _saved_model_crop(path),
        predict,
        bytes_signature=image_bytes,
        keep_alive=loaded,
    )


def _saved_model_crop(path):
    """The evaluation crop a SavedModel was exported with (its graph applies it itself)."""
    from keras_inception.export.saved_model import META_FILE
    from keras_inception.export.source import DEFAULT_CENTRAL_FRACTION

    try:
        with open(os.path.join(path, META_FILE), encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return DEFAULT_CENTRAL_FRACTION
    crop = meta.get("central_fraction") if isinstance(meta, dict) else None
    return crop if isinstance(crop, (int, float)) else DEFAULT_CENTRAL_FRACTION


def _tflite_classifier(path):
    """A ``.tflite`` of ``export_tflite`` in LiteRT, described by its sidecar JSON."""
    from keras_inception.export.source import PIXEL_RANGE
    from keras_inception.export.source import to_probabilities
    from keras_inception.export.tflite import LiteRTClassifier
    from keras_inception.export.tflite import sidecar_path
    from keras_inception.preprocessing import preprocess_input

    sidecar = sidecar_path(path)
    if not os.path.isfile(sidecar):
        raise ValueError(
            f"A .tflite model needs its sidecar {os.path.basename(sidecar)} (labels, "
            f"input normalization) beside it. Received: model_path={path!r}"
        )
    with open(sidecar, encoding="utf-8") as f:
        facts = json.load(f)
    with open(path, "rb") as f:
        content = f.read()
    expected = facts.get("model_sha256") if isinstance(facts, dict) else None
    if expected is not None and hashlib.sha256(content).hexdigest() != expected:
        raise ValueError(
            f"The sidecar {os.path.basename(sidecar)} describes another model than "
            f"{os.path.basename(path)} (an export was interrupted between "
            f"the two files?); export it again. Received: model_path={path!r}"
        )
    try:
        height, width = (int(side) for side in facts["input"]["image_size"])
        central_fraction = float(facts["input"]["central_fraction"])
        scaled = tuple(facts["input"]["range"]) != PIXEL_RANGE
        output_kind = facts["output"]["kind"]
        class_names = [str(name) for name in facts["labels"]]
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(
            f"The sidecar {os.path.basename(sidecar)} is not one written by "
            f"keras_inception.export ({error!r}). Received: model_path={path!r}"
        ) from None
    interpreter = LiteRTClassifier(model_content=content)
    num_classes = int(interpreter.output["shape"][-1])
    if len(class_names) != num_classes:
        raise ValueError(
            f"The sidecar {os.path.basename(sidecar)} lists {len(class_names)} labels for "
            f"a model of {num_classes} classes. Received: model_path={path!r}"
        )

    def predict(pixels):
        pixels = np.asarray(pixels, np.float32)
        outputs = interpreter(preprocess_input(pixels) if scaled else pixels)
        return np.asarray(to_probabilities(outputs, output_kind))

    return Classifier(
        path,
        "tflite",
        (height, width),
        num_classes,
        class_names,
        central_fraction,
        predict,
        keep_alive=content,
    )


__all__ = ["Classifier", "SAVED_MODEL_FILE", "load_classifier", "saved_model_path"]
