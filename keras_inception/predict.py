"""Top-k predictions for image files, from any exported form of a classifier.

``predict_files`` takes a ``.keras`` file (or a training run directory), a
SavedModel directory written by ``export.export_saved_model`` (a version
directory, or the model directory above it: its newest version), or a
``.tflite`` file with its sidecar JSON. Each file gets its own result: one that
cannot be read or decoded gets an error entry and the others are still
predicted. Pixels are prepared by ``export.saved_model.load_pixels``, the
code the SavedModel runs in its graph.

Nothing is decoded before the image's size is read from its header: an image
of more than ``max_pixels`` pixels (a "decompression bomb": a 400 KB PNG can
hold 20000x20000 pixels) gets an error entry, whatever the model kind, and so
does a file larger than any image of that many pixels could be.
"""

import hashlib
import json
import os

import numpy as np
import tensorflow as tf

from keras_inception import image_header

SAVED_MODEL_FILE = "saved_model.pb"
# No image file of ``max_pixels`` pixels is larger than this many bytes a pixel
# (16-bit RGBA PNG stored uncompressed) plus headers.
_MAX_BYTES_PER_PIXEL = 8
_HEADER_ALLOWANCE = 1 << 20


def predict_files(
    paths, model_path, top_k=5, *, max_pixels=image_header.DEFAULT_MAX_PIXELS, precision="auto"
):
    """Predicts the top-``top_k`` classes of each image file.

    Args:
        paths: image file paths (JPEG, PNG, GIF, BMP, WebP).
        model_path: a ``.keras`` file, a run directory, a SavedModel directory
            or a ``.tflite`` file.
        top_k: classes per image, default 5 (at most the number of classes).
        max_pixels: an image of more pixels (read from its header; all frames
            of a GIF together) is not decoded and gets an error entry, default
            ``image_header.DEFAULT_MAX_PIXELS``.
        precision: dtype policy of a ``.keras`` model: ``"auto"`` (default:
            ``keras_inception.precision``'s rule, mixed bfloat16 where there are
            bf16 matrix units) or a policy name. SavedModels and ``.tflite``
            files compute as they were exported.

    Returns:
        One dict per path, in order: ``{"path", "predictions": [{"label",
        "index", "score"}, ...]}`` (best first), or ``{"path", "error"}`` when
        the file cannot be read, is too large or is not a decodable image.

    Raises:
        ValueError: ``top_k`` or ``max_pixels`` is not a positive integer, or
            ``model_path`` is none of the above.
    """
    if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
        raise ValueError(f"`top_k` must be a positive integer. Received: top_k={top_k!r}")
    if not isinstance(max_pixels, int) or isinstance(max_pixels, bool) or max_pixels < 1:
        raise ValueError(
            f"`max_pixels` must be a positive integer. Received: max_pixels={max_pixels!r}"
        )
    predictor = load_predictor(model_path, max_pixels=max_pixels, precision=precision)
    max_bytes = _MAX_BYTES_PER_PIXEL * max_pixels + _HEADER_ALLOWANCE
    results = []
    for path in paths:
        path = os.fspath(path)
        try:
            with open(path, "rb") as f:
                content = f.read(max_bytes + 1)
            if len(content) > max_bytes:
                raise ValueError(
                    f"the file is over {max_bytes} bytes, more than an image of "
                    f"max_pixels={max_pixels} pixels can hold"
                )
            image_header.check_max_pixels(content, max_pixels)
            probabilities = predictor(content)
        except OSError as error:
            reason = error.strerror or error
            results.append({"path": path, "error": f"cannot read the file: {reason}"})
            continue
        except ValueError as error:
            results.append({"path": path, "error": f"not a decodable image: {error}"})
            continue
        except tf.errors.OpError as error:
            reason = op_error_text(error)
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


def load_predictor(model_path, *, max_pixels=image_header.DEFAULT_MAX_PIXELS, precision="auto"):
    """A callable ``encoded image bytes -> probabilities [classes]`` with ``class_names``.

    Args:
        model_path: as in ``predict_files``.
        max_pixels: larger images raise ``InvalidArgumentError`` before they
            are decoded, default ``image_header.DEFAULT_MAX_PIXELS``. (A
            SavedModel applies the limit it was exported with.)
        precision: as in ``predict_files``.

    Raises:
        ValueError: ``model_path`` is not a model this module reads.
    """
    model_path = os.fspath(model_path)
    if model_path.endswith(".tflite"):
        return _TFLitePredictor(model_path, max_pixels)
    saved_model_dir = _saved_model_dir(model_path)
    if saved_model_dir is not None:
        return _SavedModelPredictor(saved_model_dir)
    return _KerasPredictor(model_path, max_pixels, precision)


class _PixelPredictor:
    """Shared by the backends that take pixels: loads bytes the evaluation pipeline's way."""

    def __init__(
        self, image_size, central_fraction, input_range, output_kind, class_names, max_pixels
    ):
        from keras_inception.export.saved_model import load_pixels
        from keras_inception.export.source import PIXEL_RANGE
        from keras_inception.preprocessing import preprocess_input

        self.class_names = class_names
        self._output_kind = output_kind
        height, width = image_size
        scale = preprocess_input if tuple(input_range) != PIXEL_RANGE else tf.identity
        self._load = tf.function(
            lambda image_bytes: scale(
                load_pixels(image_bytes, height, width, central_fraction, max_pixels)
            ),
            input_signature=[tf.TensorSpec([], tf.string)],
        )

    def __call__(self, image_bytes):
        from keras_inception.export.source import to_probabilities

        outputs = self.run(self._load(tf.constant(image_bytes)).numpy()[None])
        return np.asarray(to_probabilities(outputs, self._output_kind))[0]


class _KerasPredictor(_PixelPredictor):
    def __init__(self, model_path, max_pixels, precision):
        from keras_inception import precision as precision_lib
        from keras_inception.export.source import load_source
        from keras_inception.export.source import resolve_class_names

        model, class_names, meta = load_source(model_path)
        self.model = precision_lib.with_policy(model, precision_lib.resolve(precision)[0])
        super().__init__(
            meta["image_size"], meta["central_fraction"], meta["input_range"],
            meta["output"], resolve_class_names(class_names, meta["num_classes"]), max_pixels,
        )

    def run(self, pixels):
        return self.model(pixels, training=False)


class _TFLitePredictor(_PixelPredictor):
    def __init__(self, model_path, max_pixels):
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
        with open(model_path, "rb") as f:
            content = f.read()
        expected = facts.get("model_sha256")
        if expected is not None and hashlib.sha256(content).hexdigest() != expected:
            raise ValueError(
                f"The sidecar {os.path.basename(sidecar)} describes another model than "
                f"{os.path.basename(model_path)} (an export was interrupted between "
                f"the two files?); export it again. Received: model_path={model_path!r}"
            )
        self._content = content  # the interpreter reads the model from this buffer
        self.classifier = LiteRTClassifier(model_content=content)
        try:
            super().__init__(
                facts["input"]["image_size"], facts["input"]["central_fraction"],
                facts["input"]["range"], facts["output"]["kind"], facts["labels"], max_pixels,
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(
                f"The sidecar {os.path.basename(sidecar)} is not one written by "
                f"keras_inception.export ({error!r}). Received: model_path={model_path!r}"
            ) from None

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


def op_error_text(error):
    """The reason of a TensorFlow op error in one line, without the graph-location boilerplate.

    ``image_header.tf_check_max_pixels`` failures read as their message, e.g.
    ``image is 20000x20000 = 400000000 pixels, over max_pixels=40000000``.
    """
    lines = [
        line.strip() for line in error.message.splitlines()
        if line.strip() and not line.startswith(("Graph execution error", "Detected at node", "\t"))
        and not line.startswith("<stack traces") and "[[{{node" not in line
    ]
    reason = lines[-1] if lines else error.message.strip()
    # ``{{function_node ...}}`` prefixes and `` [Op:...]`` suffixes say where, not why.
    reason = reason.rsplit("}} ", 1)[-1].split(" [Op:")[0]
    if reason.startswith("assertion failed: [") and reason.endswith("]"):
        reason = reason[len("assertion failed: ["):-1]
    return reason
