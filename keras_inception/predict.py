"""Top-k predictions for image files, from any exported form of a classifier.

``predict_files`` takes a ``.keras`` file (or a training run directory), a
SavedModel directory written by ``export.export_saved_model`` (a version
directory, or the model directory above it: its newest version), or a
``.tflite`` file with its sidecar JSON. Each file gets its own result: one that
cannot be read or decoded gets an error entry and the others are still
predicted. Pixels are prepared by ``export.saved_model.load_pixels``, the
code the SavedModel runs in its graph. ``keras_inception.loading`` loads the
model, for ``evaluate`` too.

Nothing is decoded before the image's size is read from its header: an image
of more than ``max_pixels`` pixels (a "decompression bomb": a 400 KB PNG can
hold 20000x20000 pixels) gets an error entry, whatever the model kind, and so
does a file larger than any image of that many pixels could be.
"""

import os

import numpy as np
import tensorflow as tf

from keras_inception import image_header

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
        results.append(
            {
                "path": path,
                "predictions": [
                    {
                        "label": predictor.class_names[i],
                        "index": int(i),
                        "score": float(probabilities[i]),
                    }
                    for i in best
                ],
            }
        )
    return results


def load_predictor(model_path, *, max_pixels=image_header.DEFAULT_MAX_PIXELS, precision="auto"):
    """A callable ``encoded image bytes -> probabilities [classes]`` with ``class_names``.

    The model is loaded by ``keras_inception.loading.load_classifier``, as
    ``evaluate`` loads it.

    Args:
        model_path: as in ``predict_files``.
        max_pixels: larger images raise ``InvalidArgumentError`` before they
            are decoded, default ``image_header.DEFAULT_MAX_PIXELS``. (A
            SavedModel applies the limit it was exported with.)
        precision: as in ``predict_files``.

    Raises:
        ValueError: ``model_path`` is not a model this module reads.
    """
    from keras_inception.loading import load_classifier

    classifier = load_classifier(os.fspath(model_path), precision=precision)
    return _Predictor(classifier, max_pixels)


class _Predictor:
    """Encoded image bytes -> probabilities, and the class names of a ``Classifier``."""

    def __init__(self, classifier, max_pixels):
        self.classifier = classifier
        self.class_names = classifier.labels()
        self._predict = classifier.bytes_predictor(max_pixels)

    def __call__(self, image_bytes):
        return self._predict(image_bytes)


def op_error_text(error):
    """The reason of a TensorFlow op error in one line, without the graph-location boilerplate.

    ``image_header.tf_check_max_pixels`` failures read as their message, e.g.
    ``image is 20000x20000 = 400000000 pixels, over max_pixels=40000000``.
    """
    lines = [
        line.strip()
        for line in error.message.splitlines()
        if line.strip()
        and not line.startswith(("Graph execution error", "Detected at node", "\t"))
        and not line.startswith("<stack traces")
        and "[[{{node" not in line
    ]
    reason = lines[-1] if lines else error.message.strip()
    # ``{{function_node ...}}`` prefixes and `` [Op:...]`` suffixes say where, not why.
    reason = reason.rsplit("}} ", 1)[-1].split(" [Op:")[0]
    if reason.startswith("assertion failed: [") and reason.endswith("]"):
        reason = reason[len("assertion failed: [") : -1]
    return reason
