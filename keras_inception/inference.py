"""Inference copies of a trained network: batch norm folded into the convs, bfloat16.

Used by the SavedModel export (``serving_copy``) and by ``predict`` and
``evaluate`` on Keras models (``fold_batch_norm`` under the chosen precision).

At inference a BatchNormalization after a convolution is an affine map per
channel, ``y = conv(x) * a + b`` with ``a = gamma / sqrt(var + eps)`` and
``b = beta - mean * a``, so it can be folded into the convolution's kernel
and bias (Ioffe & Szegedy 2015, Sec. 3.1: at inference the normalization is
a fixed linear transform). A SavedModel keeps its variables as variables, so
TensorFlow does not fold them at load time: unfolded, every conv of an
Inception network is followed by elementwise ops at run time, and under
bfloat16 by two casts as well (Keras computes batch norm in float32). Folded,
conv + bias + ReLU is a pattern TensorFlow's graph optimizer fuses into one
kernel.

``serving_copy(model, "bfloat16")`` is that folded graph computed in
bfloat16 (Keras's ``mixed_bfloat16`` policy: bfloat16 activations and
matrix products, float32 variables), with the classifier head and its
activation kept in float32, so inputs and outputs stay float32. It pays on
CPUs with bfloat16 matrix units (AMX, ``amx_bf16`` in the CPU flags); see
docs/serving.md for when to choose it.
"""

import keras
import numpy as np

from keras_inception import precision as precision_lib

PRECISIONS = ("float32", "bfloat16")
# The Keras dtype policy each export precision computes under.
_POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}
_FOLDABLE = ("Conv2D", "SeparableConv2D", "DepthwiseConv2D")


def serving_copy(model, precision="float32"):
    """A copy of a Functional classifier for serving: batch norm folded, in ``precision``.

    Args:
        model: a Functional ``keras.Model``.
        precision: ``"float32"`` (default) or ``"bfloat16"`` (see the module
            docstring).

    Returns:
        A new ``keras.Model`` with the same inputs, outputs and layer names
        (a folded batch norm becomes an ``Identity`` layer of its name).

    Raises:
        ValueError: an unknown ``precision``.
    """
    if precision not in PRECISIONS:
        raise ValueError(
            f"`precision` must be one of {PRECISIONS}. Received: precision={precision!r}"
        )
    return precision_lib.with_policy(fold_batch_norm(model), _POLICIES[precision])


def fold_batch_norm(model):
    """A copy of a Functional ``model`` with each conv-then-batch-norm pair folded into the conv.

    A ``BatchNormalization`` is folded when its only input is a
    ``Conv2D``, ``SeparableConv2D`` or ``DepthwiseConv2D`` without activation
    whose output nothing else uses; the conv gains a bias and the batch norm
    becomes an ``Identity`` layer with the same name, so feature endpoints
    and outputs keep their names. Other batch norms, and layers of nested
    models, are copied as they are. Outputs equal the original's within
    float32 rounding (inference mode).

    Args:
        model: a Functional ``keras.Model``.

    Returns:
        The folded copy (``model`` itself when there is nothing to fold).
    """
    config = model.get_config()
    layers = {layer["name"]: layer for layer in config["layers"]}
    consumers = {}
    for layer in config["layers"]:
        for name in _inbound_layer_names(layer):
            consumers.setdefault(name, []).append(layer["name"])
    outputs = set(_output_layer_names(config["output_layers"]))
    pairs = {}  # batch norm name -> conv name
    for layer in config["layers"]:
        if layer["class_name"] != "BatchNormalization" or len(layer["inbound_nodes"]) != 1:
            continue
        sources = _inbound_layer_names(layer)
        if len(sources) != 1:
            continue
        conv = layers[sources[0]]
        if (
            conv["class_name"] in _FOLDABLE
            and len(conv["inbound_nodes"]) == 1
            and consumers.get(conv["name"]) == [layer["name"]]
            and conv["name"] not in outputs
            and conv["config"].get("activation") in (None, "linear")
            and layer["config"]["axis"] in (-1, 3, [-1], [3])
        ):
            pairs[layer["name"]] = conv["name"]
    if not pairs:
        return model
    for bn_name, conv_name in pairs.items():
        layers[conv_name]["config"]["use_bias"] = True
        bn = layers[bn_name]
        bn.update(
            module="keras.layers",
            class_name="Identity",
            registered_name=None,
            config={
                "name": bn_name,
                "trainable": bn["config"].get("trainable", True),
                "dtype": bn["config"].get("dtype"),
            },
        )
        for node in bn["inbound_nodes"]:
            # ``training`` and ``mask`` are arguments of batch norm, not of Identity.
            node["kwargs"] = {}
    folded = model.__class__.from_config(config)
    convs = {conv: bn for bn, conv in pairs.items()}
    for layer in folded.layers:
        original = model.get_layer(layer.name)
        if layer.name in pairs or not original.weights:
            continue
        if layer.name in convs:
            layer.set_weights(_folded_weights(original, model.get_layer(convs[layer.name])))
        else:
            layer.set_weights(original.get_weights())
    return folded


def _folded_weights(conv, bn):
    """The conv's weights with ``bn`` folded in, bias last."""
    variance = keras.ops.convert_to_numpy(bn.moving_variance).astype(np.float64)
    mean = keras.ops.convert_to_numpy(bn.moving_mean).astype(np.float64)
    factor = 1.0 / np.sqrt(variance + bn.epsilon)
    if bn.scale:
        factor = factor * keras.ops.convert_to_numpy(bn.gamma)
    shift = -mean * factor
    if bn.center:
        shift = shift + keras.ops.convert_to_numpy(bn.beta)
    weights = conv.get_weights()
    bias = weights.pop() if conv.use_bias else 0.0
    kernel = weights[-1]  # the pointwise kernel of a separable conv
    if conv.__class__.__name__ == "DepthwiseConv2D":
        # Output channel c * multiplier + m comes from input channel c.
        scaled = kernel * factor.reshape(kernel.shape[2], kernel.shape[3])
    else:
        scaled = kernel * factor
    weights[-1] = scaled.astype(kernel.dtype)
    return [*weights, (bias * factor + shift).astype(kernel.dtype)]


def _inbound_layer_names(layer_config):
    """The layers whose outputs a Functional config's layer entry takes."""
    names = []

    def walk(value):
        if isinstance(value, dict):
            inner = value.get("config")
            if isinstance(inner, dict) and inner.get("keras_history"):
                names.append(inner["keras_history"][0])
                return
            for item in value.values():
                walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)

    walk(layer_config["inbound_nodes"])
    return names


def _output_layer_names(output_layers):
    """The layer names of a Functional config's ``output_layers`` (``[name, node, index]``)."""
    if isinstance(output_layers, dict):
        return [name for value in output_layers.values() for name in _output_layer_names(value)]
    if output_layers and isinstance(output_layers[0], str):
        return [output_layers[0]]
    return [name for value in output_layers for name in _output_layer_names(value)]
