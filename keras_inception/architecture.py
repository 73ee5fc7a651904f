"""Stage-by-stage description of a network: grid, channels, parameters, multiply-adds.

A *stage* is a named unit of the paper's figure: a stem conv or pool, an
Inception module (``mixed_5b``), a residual block (``block35_3``), a head
layer. Its multiply-adds come from one TensorFlow profile of the whole graph,
attributed to the layer that owns each op.
"""

import dataclasses
import re

import keras
import tensorflow as tf


@dataclasses.dataclass
class Stage:
    """One row of the table: output ``(height, width, channels)``, parameters, multiply-adds."""

    name: str
    output_shape: tuple
    params: int
    macs: int


def _owners(model):
    """Maps each layer name to its stage: the shortest name it extends with ``_``."""
    names = [layer.name for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    owners = {}
    for name in names:
        prefixes = [other for other in names if name.startswith(other + "_")]
        owners[name] = min(prefixes, key=len) if prefixes else name
    return owners


def _op_macs_by_layer(model, input_shape):
    spec = tf.TensorSpec((1, *input_shape), model.inputs[0].dtype)
    graph = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    profile = tf.compat.v1.profiler.profile(graph=graph, options=options, cmd="scope")
    flops = {}
    stack = list(profile.children)
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        parts = node.name.split("/")
        if node.float_ops and len(parts) > 1:
            # Keras scopes each call as "<layer name>_<call index>".
            layer = re.sub(r"_\d+$", "", parts[1])
            flops[layer] = flops.get(layer, 0) + node.float_ops
    return {layer: ops // 2 for layer, ops in flops.items()}


def stage_table(model, input_shape=None):
    """The model's stages in order, with their output shapes, parameters and multiply-adds.

    Args:
        model: a model built by this package.
        input_shape: ``(height, width, channels)`` for the profile; default the
            model's own input shape (must be static).

    Returns:
        A list of ``Stage``.
    """
    input_shape = tuple(input_shape or model.inputs[0].shape[1:])
    if None in input_shape:
        raise ValueError(
            f"stage_table needs a static input size. Received: input_shape={input_shape!r}"
        )
    owners = _owners(model)
    macs = _op_macs_by_layer(model, input_shape)
    stages = {}
    for layer in model.layers:
        if layer.name not in owners:
            continue
        owner = owners[layer.name]
        if owner not in stages:
            stages[owner] = Stage(owner, None, 0, 0)
        stage = stages[owner]
        stage.params += layer.count_params()
        stage.macs += macs.get(layer.name, 0)
        if layer.name == owner:
            stage.output_shape = tuple(model.get_layer(owner).output.shape[1:])
    return list(stages.values())


def _repeat_key(stage):
    return re.sub(r"_\d+$", "", stage.name), stage.output_shape, stage.params, stage.macs


def markdown_table(stages, collapse_repeats=True):
    """A Markdown table of ``stages``; identical consecutive repeated blocks become one row."""
    rows = []
    for stage in stages:
        repeated = rows and _repeat_key(rows[-1][0]) == _repeat_key(stage)
        if collapse_repeats and repeated and re.search(r"_\d+$", stage.name):
            rows[-1][1] += 1
            rows[-1][2] = stage.name
        else:
            rows.append([stage, 1, stage.name])
    lines = ["| stage | output | params | multiply-adds |", "|---|---|---:|---:|"]
    for stage, count, last in rows:
        label = stage.name if count == 1 else f"{stage.name} … {last} (×{count})"
        shape = "×".join(str(d) for d in stage.output_shape) if stage.output_shape else ""
        lines.append(
            f"| {label} | {shape} | {stage.params * count:,} | {stage.macs * count / 1e6:,.1f} M |"
        )
    total_params = sum(s.params for s in stages)
    total_macs = sum(s.macs for s in stages)
    lines.append(f"| **total** | | **{total_params:,}** | **{total_macs / 1e9:,.3f} G** |")
    return "\n".join(lines)
