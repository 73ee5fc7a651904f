"""What every builder shares: argument checks, input, heads, outputs, weights.

Each network file only describes its body (``backbone``); ``build_model``
wraps it with the ``keras.applications`` semantics.
"""

import functools

import keras
from keras import layers

from keras_inception.models import blocks

_POOLING = (None, "avg", "max")


def validate_arguments(
    *,
    weights,
    include_top,
    classes,
    pooling,
    classifier_activation,
    aux_logits,
    dropout_rate,
    depth_multiplier,
    variant,
    spec,
):
    """Raises ``ValueError`` naming the received value for any bad argument."""
    if not (weights is None or isinstance(weights, str)):
        raise ValueError(
            "The `weights` argument should be either `None` (random "
            "initialization), `'imagenet'` (pre-training on ImageNet), a tag of "
            "the weights registry, or the path to the weights file to be loaded. "
            f"Received: weights={weights!r}"
        )
    if not isinstance(classes, int) or isinstance(classes, bool) or classes < 1:
        raise ValueError(f"`classes` must be a positive integer. Received: classes={classes!r}")
    if pooling not in _POOLING:
        raise ValueError(
            f"`pooling` must be one of None, 'avg' or 'max'. Received: pooling={pooling!r}"
        )
    if include_top and classifier_activation is not None:
        try:
            keras.activations.get(classifier_activation)
        except ValueError:
            raise ValueError(
                "`classifier_activation` must be a Keras activation or None. "
                f"Received: classifier_activation={classifier_activation!r}"
            ) from None
    if aux_logits and not include_top:
        raise ValueError(
            "The auxiliary head is a classifier: `aux_logits=True` requires "
            f"`include_top=True`. Received: aux_logits={aux_logits!r}, "
            f"include_top={include_top!r}"
        )
    if not 0.0 <= dropout_rate < 1.0:
        raise ValueError(
            f"`dropout_rate` must be in [0, 1). Received: dropout_rate={dropout_rate!r}"
        )
    if not depth_multiplier > 0:
        raise ValueError(
            f"`depth_multiplier` must be positive. Received: depth_multiplier={depth_multiplier!r}"
        )
    if variant not in spec.variants:
        raise ValueError(f"`variant` must be one of {spec.variants}. Received: variant={variant!r}")


def resolve_input_shape(input_shape, input_tensor, *, spec, weights):
    """The ``(height, width, channels)`` to build with, checked against the minimum."""
    if keras.config.image_data_format() != "channels_last":
        raise ValueError(
            "keras_inception builds channels_last models only. Received: "
            f"keras.config.image_data_format()={keras.config.image_data_format()!r}"
        )
    if input_shape is None and input_tensor is not None:
        input_shape = tuple(keras.ops.shape(input_tensor)[1:])
    if input_shape is None:
        return (spec.default_size, spec.default_size, 3)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(
            "`input_shape` must be a tuple of three integers (height, width, "
            f"channels). Received: input_shape={input_shape!r}"
        )
    channels = input_shape[-1]
    if weights is not None and channels != 3:
        raise ValueError(
            f"Pretrained weights expect 3 input channels. Received: input_shape={input_shape!r}"
        )
    for size in input_shape[:2]:
        if size is not None and size < spec.min_size:
            raise ValueError(
                f"Input size must be at least {spec.min_size}x{spec.min_size} "
                f"for {spec.name}. Received: input_shape={input_shape!r}"
            )
    return input_shape


def build_model(
    spec,
    backbone,
    *,
    include_top,
    weights,
    input_tensor,
    input_shape,
    pooling,
    classes,
    classifier_activation,
    name,
    aux_logits,
    dropout_rate,
    include_preprocessing,
    depth_multiplier,
    variant="released",
    input_resolution=None,
    **backbone_kwargs,
):
    """Builds ``backbone`` with the ``keras.applications`` input/head/weights semantics.

    ``backbone(x, conv, variant=..., **backbone_kwargs)`` returns the final
    feature map and ``{output_name: (tensor, style)}`` for its auxiliary heads.
    ``spec`` is the network's (released) spec; the model is built from, and
    marked with, the spec of ``variant`` at ``input_resolution`` (passed on to
    ``backbone`` unless ``None``).
    """
    validate_arguments(
        weights=weights,
        include_top=include_top,
        classes=classes,
        pooling=pooling,
        classifier_activation=classifier_activation,
        aux_logits=aux_logits,
        dropout_rate=dropout_rate,
        depth_multiplier=depth_multiplier,
        variant=variant,
        spec=spec,
    )
    spec = spec.for_variant(variant).at_resolution(input_resolution)
    if input_resolution is not None:
        backbone_kwargs["input_resolution"] = spec.default_size
    input_shape = resolve_input_shape(input_shape, input_tensor, spec=spec, weights=weights)
    # The marker layer ties the model to its spec (registry.spec_of): the
    # input layer when the builder makes it, else an Identity on the caller's.
    if input_tensor is None:
        image = layers.Input(shape=input_shape, name=spec.marker)
        inputs = image
    elif keras.backend.is_keras_tensor(input_tensor):
        image = layers.Identity(name=spec.marker)(input_tensor)
        inputs = keras.utils.get_source_inputs(input_tensor)
    else:
        image = layers.Input(tensor=input_tensor, shape=input_shape, name=spec.marker)
        inputs = image

    x = blocks.preprocessing_layer()(image) if include_preprocessing else image
    conv = functools.partial(blocks.conv_bn, depth_multiplier=depth_multiplier)
    features, aux_taps = backbone(x, conv, variant=variant, **backbone_kwargs)
    outputs = blocks.classifier_head(
        features,
        include_top=include_top,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        dropout_rate=dropout_rate,
    )
    if aux_logits:
        heads = {"predictions": outputs}
        for head_name, (tap, style) in aux_taps.items():
            heads[head_name] = blocks.auxiliary_head(
                tap,
                classes=classes,
                classifier_activation=classifier_activation,
                name=head_name,
                style=style,
                depth_multiplier=depth_multiplier,
            )
        outputs = heads
    model = keras.Model(inputs, outputs, name=name)

    if weights is not None:
        from keras_inception import weights as weights_lib

        weights_lib.load_weights(
            model,
            weights,
            model_name=spec.name,
            variant=variant,
            include_top=include_top,
            classes=classes,
        )
    return model
