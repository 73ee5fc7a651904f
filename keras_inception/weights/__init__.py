"""Pretrained weights: the registry, the download cache and the converters.

``weights=`` of every builder accepts

- ``"imagenet"``: the model's default published weights (``list_weights()``);
- a registry tag such as ``"imagenet_slim"``;
- a path: a ``keras.applications`` weights file (``.h5`` / ``.weights.h5``),
  a TF-slim checkpoint (prefix, ``.index``, directory, or the published
  ``.tar.gz``), or a file written by ``keras-inception convert``.

Registry weights are found or downloaded by ``download.fetch`` (see there for
``$KERAS_INCEPTION_WEIGHTS`` and offline use); TF-slim archives are converted
on first use and the result cached next to them, with a ``.sha256`` sidecar
checked on every load. A broken or hostile file of any kind is refused with one
``ValueError`` line naming it (see ``files``). As in ``keras.applications``,
``include_top=False`` drops the classifier, and ``classes`` must match the
published classifier when ``include_top=True`` (1000, or 1001 to keep TF-slim's
background class 0, which shifts ImageNet class ``i`` to output ``i + 1``).
"""

import os

import h5py

from keras_inception import faults
from keras_inception.weights import download
from keras_inception.weights import files
from keras_inception.weights import keras_applications
from keras_inception.weights import slim
from keras_inception.weights import store
from keras_inception.weights.registry import WeightsFile
from keras_inception.weights.registry import WeightsRecord
from keras_inception.weights.registry import find_weights
from keras_inception.weights.registry import get_weights
from keras_inception.weights.registry import list_weights
from keras_inception.weights.registry import register_weights
from keras_inception.weights.registry import unregister_weights
from keras_inception.weights.store import NamedWeights

# Bump when a converter's output changes, so stale cached conversions are redone.
_CONVERSION_VERSION = 1


def load_weights(model, weights, *, model_name, variant, include_top, classes):
    """Loads ``weights`` (a registry tag or a path) into ``model``.

    Called by every builder when ``weights`` is not ``None``.

    Args:
        model: the freshly built model.
        weights: ``"imagenet"``, a registry tag, or a path (see the module docstring).
        model_name: registry name of the network.
        variant: the builder's ``variant``; registry weights exist for
            ``"released"`` only.
        include_top: whether the model has its classifier.
        classes: the model's number of classes.

    Returns:
        ``model``, with its weights replaced.

    Raises:
        ValueError: unknown tag or path, weights that do not fit the model
            (every missing, unexpected or mis-shaped variable is named), or a
            file whose checksum does not match.
        FileNotFoundError: registry weights that are not on this machine and
            cannot be downloaded.
    """
    record = find_weights(model_name, weights)
    if record is not None:
        check_record_fits(
            record, weights=weights, variant=variant, include_top=include_top, classes=classes
        )
        named = record_weights(record, model, include_top=include_top)
    elif is_local(weights):
        named = read_weights(weights, model, model_name)
    else:
        tags = ", ".join(["imagenet"] + [r.tag for r in list_weights(model_name)])
        raise ValueError(
            f"`weights` must be None, a tag of the weights registry for {model_name} "
            f"({tags}), or the path of an existing weights file. "
            f"Received: weights={weights!r}"
        )
    store.apply(model, named)
    return model


def check_record_fits(record, *, weights, variant, include_top, classes):
    """Raises ``ValueError`` if a model so configured cannot take ``record``'s weights.

    ``weights`` is what the user passed (``"imagenet"`` or the tag), for the message.
    """
    if variant != record.variant:
        raise ValueError(
            f"Weights {record.tag!r} of {record.model} belong to "
            f"variant={record.variant!r}. Received: variant={variant!r}"
        )
    allowed = {record.classes - record.label_offset, record.classes}
    if include_top and classes not in allowed:
        keep = (
            f" (or {record.classes} to keep TF-slim's background class 0)"
            if record.label_offset
            else ""
        )
        raise ValueError(
            f"If using `weights={weights!r}` with `include_top=True`, `classes` "
            f"should be {record.classes - record.label_offset}{keep}; use "
            "`include_top=False` to fine-tune a new classifier. "
            f"Received: classes={classes!r}"
        )


def record_weights(record, model=None, *, include_top=True):
    """The ``NamedWeights`` of a registry record, fetched (and converted) as needed.

    ``model`` (the model to fill) is needed for ``keras.applications`` records,
    whose files are matched to the model's layers by order. TF-slim archives
    are converted once; the converted file is cached with its ``.sha256``
    sidecar and checked against it on every later load. An archive without a
    published checksum is pinned only once its conversion has succeeded.
    """
    file = record.file_for(include_top)
    if not record.is_slim:
        return keras_applications.convert(download.fetch(file), model)
    converted = download.cache_path(
        download.CACHE_SUBDIR,
        "keras_inception",
        f"{record.model}_{record.tag}.v{_CONVERSION_VERSION}.weights.h5",
    )
    if os.path.exists(converted):
        if files.read_checksum(converted) is not None:
            return NamedWeights.load(converted)
        # Published but never checksummed: a conversion killed before its end.
        os.remove(converted)
    path, digest = download.fetch_unpinned(file)
    try:
        named = slim.convert_archive(path, record.model)
    except ValueError as error:
        if digest is None:
            raise
        raise ValueError(
            f"{error} {path} was not pinned: if it is a truncated download, delete it "
            "and it is downloaded again on next use."
        ) from None
    faults.point("convert.archive_converted")
    # Pinned before the cache is written: a crash in between leaves no cache, and
    # the rerun converts the (now pinned) archive again.
    if digest is not None:
        download.pin(file, digest)
    os.makedirs(os.path.dirname(converted), exist_ok=True)
    named.save(converted)
    return named


def read_weights(path, model, model_name, *, exclude=None):
    """The ``NamedWeights`` of a weights file of any supported kind, for ``model``.

    Args:
        path: the file (see the module docstring for the kinds).
        model: the model to fill; needed for ``keras.applications`` files only
            (matched by layer order), else may be ``None``.
        model_name: registry name of the network.
        exclude: for TF-slim checkpoints, a regular expression of variables to skip.

    Raises:
        ValueError: the file is of no supported kind, or is truncated or corrupt.
    """
    path = os.fspath(path)
    kind = hdf5_kind(path)
    if kind == "named":
        return NamedWeights.load(path)
    if kind == "keras":
        if model is None:
            raise ValueError(
                "A keras.applications weights file is matched to a model's layers "
                f"by order: a model is needed. Received: model={model!r}"
            )
        return keras_applications.convert(path, model)
    if slim.is_archive(path):
        return slim.convert_archive(path, model_name, exclude=exclude)
    if kind is None and slim.is_checkpoint(path):
        return slim.convert(path, model_name, exclude=exclude)
    raise ValueError(
        "Unsupported weights file: expected a keras.applications .h5/.weights.h5, "
        "a TF-slim checkpoint or .tar.gz, or a file from `keras-inception convert`. "
        f"Received: weights={path!r}"
    )


def hdf5_kind(path):
    """``"named"`` (``keras-inception convert``), ``"keras"``, ``"hdf5"`` (neither) or ``None``.

    ``None`` when ``path`` is not an HDF5 file at all. The file, given by the
    user, is read in a child process first (``files.probe_hdf5``).

    Raises:
        ValueError: an HDF5 file that is truncated or corrupt.
    """
    if not (os.path.isfile(path) and h5py.is_hdf5(path)):
        return None
    files.probe_hdf5(path)
    with files.reading(path, "HDF5 weights file"), h5py.File(path, "r") as f:
        if f.attrs.get("format") == store.FORMAT:
            return "named"
        return "keras" if keras_applications.is_keras_layout(f) else "hdf5"


def is_local(path):
    """Whether ``path`` names a file, directory or checkpoint prefix on this machine."""
    return os.path.exists(path) or os.path.isfile(f"{path}.index")


__all__ = [
    "NamedWeights",
    "WeightsFile",
    "WeightsRecord",
    "check_record_fits",
    "find_weights",
    "get_weights",
    "list_weights",
    "load_weights",
    "read_weights",
    "record_weights",
    "register_weights",
    "unregister_weights",
]
