"""Multiply-adds of a model, measured from its TensorFlow graph."""

import tensorflow as tf


def model_flops(model, input_shape=None):
    """Floating-point operations of one forward pass at batch 1 (TF profiler).

    The count comes from TensorFlow's graph profiler over the model's traced
    inference graph, so it covers every op, not a formula. Multiply-adds are
    half of it (``model_flops(m) // 2``).

    Args:
        model: a Keras model with a single image input.
        input_shape: ``(height, width, channels)``; default the model's own
            (required if the model was built with unknown spatial size).

    Returns:
        The number of FLOPs as an int.
    """
    shape = tuple(input_shape or model.inputs[0].shape[1:])
    if None in shape:
        raise ValueError(f"model_flops needs a static input size. Received: input_shape={shape!r}")
    spec = tf.TensorSpec((1, *shape), model.inputs[0].dtype)
    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    graph = concrete.graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    info = tf.compat.v1.profiler.profile(graph=graph, options=options)
    return int(info.total_float_ops)


def model_macs(model, input_shape=None):
    """Multiply-adds of one forward pass at batch 1 (half of ``model_flops``)."""
    return model_flops(model, input_shape) // 2
