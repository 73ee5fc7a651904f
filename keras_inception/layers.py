"""Layers that Keras lacks and a network of the family needs.

Each layer is registered under the ``keras_inception`` package, so a model
holding one reloads from ``.keras`` with ``safe_mode=True`` once
``keras_inception`` is imported.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_inception")
class LocalResponseNormalization(keras.layers.Layer):
    """Local response normalization across channels (Krizhevsky et al., 2012).

    Computes ``x / (bias + alpha * sum(x_j ** 2)) ** beta``, the sum running over
    the ``2 * depth_radius + 1`` channels centred on each channel, with
    TensorFlow's semantics (``tf.nn.local_response_normalization``), on any
    Keras 3 backend. On TensorFlow the graph holds TensorFlow's fused ``LRN``
    op, which the TFLite converter maps to its builtin
    ``LOCAL_RESPONSE_NORMALIZATION`` (no Flex op); the other backends compute
    the same sum with ``keras.ops`` (``local_response_normalization``).

    GoogLeNet (Szegedy et al., 2014) uses it twice in its stem without giving
    its constants; the defaults are those of the Caffe reference model
    ``bvlc_googlenet`` (window 5, alpha 1e-4, beta 0.75) in TensorFlow's
    convention, where ``alpha`` is not divided by the window size:
    ``depth_radius=2`` and ``alpha=1e-4 / 5``.

    Args:
        depth_radius: half-width of the channel window, default 2.
        bias: additive constant, default 1.0.
        alpha: scale of the sum of squares, default 2e-5.
        beta: exponent, default 0.75.
        **kwargs: base ``keras.layers.Layer`` arguments (``name``, ``dtype``).
    """

    def __init__(self, depth_radius=2, bias=1.0, alpha=2e-5, beta=0.75, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(depth_radius, int) or isinstance(depth_radius, bool) or depth_radius < 0:
            raise ValueError(
                "`depth_radius` must be a non-negative integer. "
                f"Received: depth_radius={depth_radius!r}"
            )
        for arg, value in (("bias", bias), ("alpha", alpha), ("beta", beta)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ValueError(
                    f"`{arg}` must be a non-negative number. Received: {arg}={value!r}"
                )
        self.depth_radius = depth_radius
        self.bias = float(bias)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                "LocalResponseNormalization normalizes the channels of a "
                "(batch, height, width, channels) map. "
                f"Received: input_shape={tuple(input_shape)!r}"
            )
        super().build(input_shape)

    def call(self, inputs):
        # In float32 whatever the policy: TensorFlow has no bfloat16 LRN kernel
        # on CPU, and a float16 sum of squares overflows.
        x = ops.cast(inputs, "float32")
        constants = dict(
            depth_radius=self.depth_radius, bias=self.bias, alpha=self.alpha, beta=self.beta
        )
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            outputs = tf.nn.local_response_normalization(x, **constants)
        else:
            outputs = local_response_normalization(x, **constants)
        return ops.cast(outputs, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            depth_radius=self.depth_radius, bias=self.bias, alpha=self.alpha, beta=self.beta
        )
        return config


def local_response_normalization(x, depth_radius=2, bias=1.0, alpha=2e-5, beta=0.75):
    """``tf.nn.local_response_normalization`` in ``keras.ops``, for any backend.

    Args:
        x: ``(batch, height, width, channels)`` tensor with a known channel count.
        depth_radius: half-width of the channel window, default 2.
        bias: additive constant, default 1.0.
        alpha: scale of the sum of squares, default 2e-5.
        beta: exponent, default 0.75.

    Returns:
        ``x / (bias + alpha * window_sum(x ** 2)) ** beta``, same shape and dtype.
    """
    channels = x.shape[-1]
    # Zero channels on both sides, so the window is cut at the edges as in TensorFlow.
    squares = ops.pad(ops.square(x), [(0, 0), (0, 0), (0, 0), (depth_radius, depth_radius)])
    window_sum = squares[..., :channels]
    for offset in range(1, 2 * depth_radius + 1):
        window_sum = window_sum + squares[..., offset : offset + channels]
    return x / ops.power(bias + alpha * window_sum, beta)


__all__ = ["LocalResponseNormalization", "local_response_normalization"]
