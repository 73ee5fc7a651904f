"""ImageNet input scaling and label decoding, offline.

The class index (``assets/imagenet_class_index.json``, WordNet id and name per
class, the same file ``keras.applications`` downloads) ships inside the package,
so ``decode_predictions`` works without a network.
"""

import functools
import json
import os

import numpy as np

_ASSETS = os.path.join(os.path.dirname(__file__), "assets")


def preprocess_input(x):
    """Scales 0-255 pixels to [-1, 1] (``x / 127.5 - 1``), as the Inception papers' code.

    Args:
        x: NumPy array, or a tensor of the Keras backend (or a symbolic
            ``keras.Input``), of pixels in [0, 255], any shape.

    Returns:
        A new float32 array/tensor of the same kind (the input is never
        modified in place).
    """
    if isinstance(x, np.ndarray) or np.isscalar(x) or isinstance(x, (list, tuple)):
        return np.asarray(x, dtype=np.float32) / 127.5 - 1.0
    import keras

    return keras.ops.cast(x, "float32") / 127.5 - 1.0


@functools.lru_cache(maxsize=None)
def imagenet_classes():
    """The 1000 ImageNet classes as ``[(wordnet_id, name), ...]`` in label order."""
    with open(os.path.join(_ASSETS, "imagenet_class_index.json")) as f:
        index = json.load(f)
    return tuple(tuple(index[str(i)]) for i in range(len(index)))


def decode_predictions(preds, top=5):
    """Top-``top`` ImageNet classes of a batch of predictions.

    Args:
        preds: array of shape ``(batch, 1000)``, or ``(batch, 1001)`` from a
            TF-slim model whose class 0 is "background" (it is dropped).
        top: number of classes per sample, default 5.

    Returns:
        One list per sample of ``(wordnet_id, class_name, score)``, best first.
    """
    preds = np.asarray(preds)
    if preds.ndim != 2 or preds.shape[1] not in (1000, 1001):
        raise ValueError(
            "`decode_predictions` expects a batch of ImageNet predictions, shape "
            f"(samples, 1000) or (samples, 1001). Received: preds.shape={preds.shape}"
        )
    if preds.shape[1] == 1001:
        preds = preds[:, 1:]
    classes = imagenet_classes()
    results = []
    for row in preds:
        best = np.argsort(row)[::-1][:top]
        results.append([(*classes[i], float(row[i])) for i in best])
    return results
