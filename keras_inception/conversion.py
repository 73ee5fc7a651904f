"""Published weights rewritten as a file that every variant of the network loads.

``convert_weights`` (``keras-inception convert``) builds the network by its
registry name, fills it from the source and writes its weights keyed by layer
name. It sits above both ``keras_inception.weights``, which reads and applies
weights without knowing the builders, and ``keras_inception.registry``, which
builds the networks (whose builders load weights through
``keras_inception.weights``).
"""

import functools
import os

from keras_inception import faults
from keras_inception import weights
from keras_inception.registry import get_model
from keras_inception.weights import download
from keras_inception.weights import files
from keras_inception.weights import keras_applications
from keras_inception.weights import store
from keras_inception.weights.store import NamedWeights


def convert_weights(
    source,
    model_name,
    out,
    *,
    keep_background=False,
    exclude=None,
    depth_multiplier=1.0,
):
    """Converts published weights into a converted-weights file (``keras-inception convert``).

    The weights are loaded into a model built for them (every variable
    checked), then written keyed by layer name: ``get_model(model_name,
    weights=out, ...)`` loads the file with or without the classifier and the
    auxiliary heads.

    Args:
        source: a weights file or checkpoint (see
            ``keras_inception.weights.read_weights``), or a registry tag of
            ``model_name`` (fetched first).
        model_name: registry name of the network.
        out: the file to write, e.g. ``"inception_v4.weights.h5"``.
        keep_background: keep TF-slim's background class 0 (1001 classes, ImageNet
            class ``i`` at output ``i + 1``); default False drops it (1000 classes).
        exclude: for TF-slim checkpoints, a regular expression of variables to skip.
        depth_multiplier: width multiplier of the checkpoint's network, default 1.0.

    Returns:
        A report: ``out``, ``sha256`` (of ``out``, also in ``<out>.sha256``),
        ``model``, ``classes``, ``label_offset``, ``heads``, ``variables``
        (number written), ``params`` and ``dropped`` layers.
    """
    build = functools.partial(get_model, model_name, depth_multiplier=depth_multiplier)
    record = None if weights.is_local(source) else weights.get_weights(model_name, source)
    model = None
    if record is not None and record.is_slim:
        named = weights.record_weights(record)
    else:
        path = download.fetch(record.file) if record is not None else os.fspath(source)
        if weights.hdf5_kind(path) == "keras":
            model = build(include_top="dense" in keras_applications.read_keras_file(path))
        named = weights.read_weights(path, model, model_name, exclude=exclude)
    faults.point("convert.source_read")
    if model is None:
        classes = named.classes
        if classes is not None and not keep_background:
            classes -= named.label_offset
        model = build(
            include_top=classes is not None,
            classes=classes or 1000,
            aux_logits=bool(named.heads),
        )
    report = store.apply(model, named)
    offset = named.label_offset if keep_background else 0
    written = NamedWeights.from_model(model, label_offset=offset, source=str(source))
    written.save(out)
    return {
        "out": os.fspath(out),
        "sha256": files.read_checksum(out),
        "model": model_name,
        "classes": written.classes,
        "label_offset": offset,
        "heads": list(written.heads),
        "variables": report["assigned"],
        "params": model.count_params(),
        "dropped": report["dropped"],
    }


__all__ = ["convert_weights"]
