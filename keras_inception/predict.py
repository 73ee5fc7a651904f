"""Top-k predictions for image files, from any exported form of a classifier.

``predict_files`` takes a ``.keras`` file (or a training run directory), a
SavedModel directory written by ``export.export_saved_model`` (a version
directory, or the model directory above it: its newest version), or a
``.tflite`` file with its sidecar JSON. Each file gets its own result: one that
cannot be read or decoded gets an error entry and the others are still
predicted. Pixels are prepared by ``export.saved_model.load_pixels``, the
code the SavedModel runs in its graph.
"""

import json
import os

import numpy as np
import tensorflow as tf

SAVED_MODEL_FILE = "saved_model.pb"


def predict_files(paths, model_path, top_k=5):
    """Predicts the top-``top_k`` classes of each image file.

    Args:
        paths: image file paths (JPEG, PNG, GIF, BMP, WebP).
        model_path: a ``.keras`` file, a run directory, a SavedModel directory
            or a ``.tflite`` file.
        top_k: classes per image, default 5 (at most the number of classes).

    Returns:
        One dict per path, in order: ``{"path", "predictions": [{"label",
        "index", "score"}, ...]}`` (best first), or ``{"path", "error"}`` when
        the file cannot be read or is not a decodable image.

    Raises:
        ValueError: ``top_k`` is not a positive integer, or ``model_path`` is
            none of the above.
    """
    if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
        raise ValueError(f"`top_k` must be a positive integer. Received: top_k={top_k!r}")
    predictor = load_predictor(model_path)
    results = []
    for path in paths:
        path = os.fspath(path)
        try:
            with open(path, "rb") as f:
                probabilities = predictor(f.read())
        except OSError as error:
            reason = error.strerror or error
            results.append({"path": path, "error": f"cannot read the file: {reason}"})
            continue
        except tf.errors.OpError as error:
            reason = _op_error_text(error)
            results.append({"path": path, "error": f"not a decodable image: {reason}"})
            continue
        best = np.argsort(-probabilities, kind="stable")[:top_k]
        results.append({
            "path": path,
            "predictions": [
                {"label": predictor.class_names[i], "index": int(i),
                 "score": float(probabilities[i])}
                for i in best
            ],
        })
    return results


def load_predictor(model_path):
    """A callable ``encoded image bytes -> probabilities [classes]`` with ``class_names``.

    Args:
        model_path: as in ``predict_files``.

    Raises:
        ValueError: ``model_path`` is not a model this module reads.
    """
    model_path = os.fspath(model_path)
    if model_path.endswith(".tflite"):
        return _TFLitePredictor(model_path)
    saved_model_dir = _saved_model_dir(model_path)
    if saved_model_dir is not None:
        return _SavedModelPredictor(saved_model_dir)
    return _KerasPredictor(model_path)


class _PixelPredictor:
    """Shared by the backends that take pixels: loads bytes the evaluation pipeline's way."""

    def __init__(self, image_size, central_fraction, input_range, output_kind, class_names):
        from keras_inception.export.saved_model import load_pixels
        from keras_inception.export.source import PIXEL_RANGE
        from keras_inception.preprocessing import preprocess_input

        self.class_names = class_names
        self._output_kind = output_kind
        height, width = image_size
        scale = preprocess_input if tuple(input_range) != PIXEL_RANGE else tf.identity
        self._load = tf.function(
            lambda image_bytes: scale(load_pixels(image_bytes, height, width, central_fraction)),
            input_signature=[tf.TensorSpec([], tf.string)],
        )

    def __call__(self, image_bytes):
        from keras_inception.export.source import to_probabilities

        outputs = self.run(self._load(tf.constant(image_bytes)).numpy()[None])
        return np.asarray(to_probabilities(outputs, self._output_kind))[0]


class _KerasPredictor(_PixelPredictor):
    def __init__(self, model_path):
        from keras_inception.export.source import load_source
        from keras_inception.export.source import resolve_class_names

        self.model, class_names, meta = load_source(model_path)
        super().__init__(
            meta["image_size"], meta["central_fraction"], meta["input_range"],
            meta["output"], resolve_class_names(class_names, meta["num_classes"]),
        )

    def run(self, pixels):
        return self.model(pixels, training=False)


class _TFLitePredictor(_PixelPredictor):
    def __init__(self, model_path):
        from keras_inception.export.tflite import LiteRTClassifier
        from keras_inception.export.tflite import sidecar_path

        sidecar = sidecar_path(model_path)
        if not os.path.isfile(sidecar):
            raise ValueError(
                f"A .tflite model needs its sidecar {os.path.basename(sidecar)} (labels, "
                f"input normalization) beside it. Received: model_path={model_path!r}"
            )
        with open(sidecar, encoding="utf-8") as f:
            facts = json.load(f)
        self.classifier = LiteRTClassifier(model_path)
        super().__init__(
            facts["input"]["image_size"], facts["input"]["central_fraction"],
            facts["input"]["range"], facts["output"]["kind"], facts["labels"],
        )

    def run(self, pixels):
        return self.classifier(pixels)


class _SavedModelPredictor:
    def __init__(self, directory):
        from keras_inception.export.saved_model import LABELS_FILE
        from keras_inception.export.saved_model import SIGNATURE_BYTES

        loaded = tf.saved_model.load(directory)
        signature = loaded.signatures.get(SIGNATURE_BYTES)
        inputs = signature.structured_input_signature[1] if signature is not None else {}
        if len(inputs) != 1 or next(iter(inputs.values())).dtype != tf.string:
            raise ValueError(
                f"The SavedModel has no {SIGNATURE_BYTES!r} signature taking encoded "
                "images; export it with keras_inception.export.export_saved_model. "
                f"Received: model_path={directory!r}"
            )
        self._loaded = loaded  # the signature needs its variables alive
        self._signature = signature
        self._input_name = next(iter(inputs))
        with open(os.path.join(directory, "assets", LABELS_FILE), encoding="utf-8") as f:
            self.class_names = f.read().splitlines()

    def __call__(self, image_bytes):
        outputs = self._signature(**{self._input_name: tf.constant([image_bytes])})
        return outputs["probabilities"].numpy()[0]


def _saved_model_dir(path):
    """``path`` if it is a SavedModel, its newest version if it holds versions, else None."""
    if not os.path.isdir(path):
        return None
    if os.path.isfile(os.path.join(path, SAVED_MODEL_FILE)):
        return path
    from keras_inception.export.serving_config import model_versions

    versions = [
        v for v in model_versions(path)
        if os.path.isfile(os.path.join(path, str(v), SAVED_MODEL_FILE))
    ]
    return os.path.join(path, str(versions[-1])) if versions else None


def _op_error_text(error):
    """The reason of a TensorFlow op error, without the graph-location boilerplate."""
    lines = [
        line.strip() for line in error.message.splitlines()
        if line.strip() and not line.startswith(("Graph execution error", "Detected at node", "\t"))
        and not line.startswith("<stack traces") and "[[{{node" not in line
    ]
    return lines[-1] if lines else error.message.strip()
