"""Converter from ``keras.applications`` weight files (Inception-v3, Inception-ResNet-v2).

The ``keras.applications`` graphs name their conv/BN layers automatically
(``conv2d_57``, ``batch_normalization_57``) and Keras itself loads these files
by the order of the weighted layers, not by name. Our released graphs create
the same layers in the same order, so the converter pairs the n-th ``Conv2D``
of the file with the n-th ``Conv2D`` of the model (likewise for
``BatchNormalization`` and ``Dense``), leaving the model's auxiliary heads
aside; ``store.apply`` then checks every shape.

Both file layouts are read:

- the legacy HDF5 layout of the published files (Keras 2 ``save_weights``,
  or ``model_weights`` inside a full-model ``.h5``): ``layer_names`` in model
  order, each layer's ``weight_names``;
- the Keras 3 ``.weights.h5`` layout: ``layers/<class>[_<n>]/vars/<i>``,
  numbered per layer class in model order.
"""

import re

import h5py
from keras import layers as keras_layers

from keras_inception.weights import files
from keras_inception.weights import store

# The weighted layer classes of the family, by the key Keras 3 files use for them.
_CLASS_KEYS = {
    keras_layers.Conv2D: "conv2d",
    keras_layers.SeparableConv2D: "separable_conv2d",
    keras_layers.BatchNormalization: "batch_normalization",
    keras_layers.Dense: "dense",
}
_KERAS3_KEY = re.compile(r"^(?P<cls>[a-z_0-9]+?)(?:_(?P<n>\d+))?$")


def is_keras_layout(f):
    """Whether the open HDF5 file ``f`` is in the legacy or the Keras 3 layout."""
    return _legacy_group(f) is not None or "layers" in f


def read_keras_file(path):
    """The weighted layers of a Keras weights file, grouped by layer class.

    Returns:
        ``{class key: [(name in the file, [arrays in Keras order]), ...]}`` in
        model order.

    Raises:
        ValueError: the file is in neither layout, is truncated or corrupt, or
            holds something besides numeric arrays (see ``files.vet_hdf5``).
    """
    with files.reading(path, "Keras weights file"), h5py.File(path, "r") as f:
        files.vet_hdf5(f, path)
        group = _legacy_group(f)
        if group is not None:
            return _read_legacy(group, path)
        if "layers" in f:
            return _read_keras3(f["layers"], path)
    raise ValueError(
        "Not a Keras weights file (neither the legacy HDF5 layout nor the "
        f"Keras 3 .weights.h5 layout). Received: path={path!r}"
    )


def convert(path, model):
    """Weights of a ``keras.applications`` file, keyed by ``model``'s layer names.

    Args:
        path: a ``.h5`` / ``.weights.h5`` file.
        model: the model to fill (any ``include_top``; its auxiliary heads are
            left out of the pairing when the file has fewer layers than the
            whole model).

    Returns:
        A ``store.NamedWeights``.

    Raises:
        ValueError: the file's layers cannot be paired with the model's (the
            counts per layer class are given).
    """
    entries = read_keras_file(path)
    order = _pairing_order(model, entries, path)
    layers, origin = {}, {}
    for key, model_layers in order.items():
        for layer, (file_name, arrays) in zip(model_layers, entries.get(key, [])):
            names = [v.name for v in layer.weights]
            if len(arrays) != len(names):
                raise ValueError(
                    f"Layer {file_name!r} of the file has {len(arrays)} variables, "
                    f"{layer.name!r} of the model {len(names)}. Received: path={path!r}"
                )
            layers[layer.name] = dict(zip(names, arrays))
            origin[layer.name] = file_name
    classes = None
    if store.PREDICTIONS in layers:
        classes = int(layers[store.PREDICTIONS]["kernel"].shape[-1])
    return store.NamedWeights(
        layers,
        classes=classes,
        source=str(path),
        origin=origin,
    )


def _pairing_order(model, entries, path):
    """The model's weighted layers per class key, the same number as the file's."""
    heads = store.auxiliary_heads(model)
    every, without_heads = {}, {}
    for layer in model.layers:
        if not layer.weights:
            continue
        key = _CLASS_KEYS.get(type(layer))
        if key is None:
            raise ValueError(
                f"Layer {layer.name!r} ({type(layer).__name__}) has no Keras-file "
                f"counterpart. Received: path={path!r}"
            )
        every.setdefault(key, []).append(layer)
        if not store.in_heads(layer.name, heads):
            without_heads.setdefault(key, []).append(layer)
    file_counts = _sizes(entries)
    for order in (every, without_heads):
        counts = _sizes(order)
        # A file with a classifier fills a model without one (the top is dropped).
        without_top = {k: n for k, n in file_counts.items() if k != "dense"}
        if counts in (file_counts, without_top):
            if "dense" in file_counts and "dense" not in counts:
                order["dense"] = []
            return order
    raise ValueError(
        "The weighted layers of the file do not pair with the model's: the file "
        f"has {_counts(file_counts)}, model {model.name!r} {_counts(_sizes(without_heads))} "
        "(besides its auxiliary heads). Is it a keras.applications file of the same "
        f"network? Received: path={path!r}"
    )


def _legacy_group(f):
    if "layer_names" in f.attrs:
        return f
    if "model_weights" in f and "layer_names" in f["model_weights"].attrs:
        return f["model_weights"]
    return None


def _read_legacy(group, path):
    entries = {}
    for raw in group.attrs["layer_names"]:
        name = _text(raw)
        layer = group[name]
        if not isinstance(layer, h5py.Group):
            raise ValueError(f"Layer {name!r} of {path!r} is not a group of weights.")
        weight_names = [_text(w) for w in layer.attrs.get("weight_names", [])]
        if not weight_names:
            continue
        arrays = [_array(layer[w], path) for w in weight_names]
        entries.setdefault(_legacy_class_key(weight_names, arrays), []).append((name, arrays))
    return entries


def _legacy_class_key(weight_names, arrays):
    short = {w.rsplit("/", 1)[-1].split(":")[0] for w in weight_names}
    if "moving_mean" in short:
        return "batch_normalization"
    if "depthwise_kernel" in short:
        return "separable_conv2d"
    return "conv2d" if arrays[0].ndim == 4 else "dense"


def _read_keras3(group, path):
    numbered = {}
    for key, layer in group.items():
        match = _KERAS3_KEY.match(key)
        variables = layer.get("vars") if isinstance(layer, h5py.Group) else None
        if match is None or not isinstance(variables, h5py.Group) or not len(variables):
            continue
        arrays = [_array(variables[str(i)], path) for i in range(len(variables))]
        numbered.setdefault(match["cls"], []).append((int(match["n"] or 0), key, arrays))
    return {
        cls: [(key, arrays) for _, key, arrays in sorted(items)] for cls, items in numbered.items()
    }


def _array(item, path):
    if not isinstance(item, h5py.Dataset):
        raise ValueError(f"{item.name!r} of {path!r} is not an array of weights.")
    return item[()]


def _text(value):
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _sizes(order):
    return {key: len(items) for key, items in order.items()}


def _counts(counts):
    return ", ".join(f"{n} {key}" for key, n in sorted(counts.items()))
