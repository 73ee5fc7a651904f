"""The input pipeline's colour distortion as a Keras layer, for the model's step.

An accelerator training Inception-v3 consumes thousands of images a second;
on the host's CPU, TF-slim's colour distortion of each image costs about as
much as decoding its JPEG (docs/performance.md, "Input pipeline"). With
``DataConfig(color_in_model=True)`` the pipeline leaves it out and a
``ColorDistortion`` layer at the model's input applies the same distortion to
each batch inside the compiled training step, on the device::

    train, info = data.build_dataset(DataConfig(
        "photos/", image_size=299, batch_size=256, color_in_model=True))
    model = keras.Sequential([
        keras.Input((299, 299, 3)),
        data.ColorDistortion(info.color_in_model),
        keras_inception.InceptionV3(weights=None, classes=info.num_classes),
    ])
"""

import keras

from keras_inception.data import preprocessing


@keras.saving.register_keras_serializable(package="keras_inception")
class ColorDistortion(keras.layers.Layer):
    """TF-slim's colour distortion of each training image, inside the model.

    Szegedy et al., "Rethinking the Inception Architecture" (CVPR 2016), and
    TF-slim's ``distort_color``: brightness, saturation, hue and contrast in
    one of four random orders, then a clip, with random parameters for each
    image of the batch (``preprocessing.distort_color_batch``, the same
    distribution as the input pipeline's per-image op). Applied in training
    only; otherwise the inputs pass through unchanged.

    Its ops are TensorFlow's: it needs the TensorFlow backend, and it computes
    in float32 whatever the dtype policy (hue and saturation lose too much
    in bfloat16).

    Args:
        mode: ``"full"`` (default) or ``"fast"`` (brightness and saturation),
            as ``DatasetInfo.color_in_model`` names it.
        value_range: ``(low, high)`` of the input pixels, default ``(-1, 1)``
            (``build_dataset`` with ``scale=True``); ``(0, 255)`` with
            ``scale=False``.
        seed: int, or ``None`` (default) for a random one.
        **kwargs: base ``keras.layers.Layer`` arguments (``name``).

    Raises:
        ValueError: an unknown ``mode``, an empty ``value_range``, or a Keras
            backend other than TensorFlow.
    """

    def __init__(self, mode="full", value_range=(-1.0, 1.0), seed=None, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        preprocessing.check_color_mode(mode)
        low, high = value_range
        if not low < high:
            raise ValueError(
                f"`value_range` must be (low, high) with low < high. "
                f"Received: value_range={value_range!r}"
            )
        if keras.backend.backend() != "tensorflow":
            raise ValueError(
                "ColorDistortion runs TensorFlow ops and needs the TensorFlow backend. "
                f"Received: backend={keras.backend.backend()!r}"
            )
        self.mode = mode
        self.value_range = (float(low), float(high))
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        import tensorflow as tf

        low, high = self.value_range
        images = (inputs - low) / (high - low)
        seed = tf.cast(self.seed_generator.next(), tf.int64)
        images = preprocessing.distort_color_batch(images, seed, self.mode)
        return images * (high - low) + low

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "mode": self.mode,
            "value_range": self.value_range,
            "seed": self.seed,
        }
