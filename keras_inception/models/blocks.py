"""Building blocks shared by every network of the Inception family.

Every network is a Keras Functional graph of plain layers (no ``Lambda``), so a
model saves to ``.keras``, reloads with ``safe_mode=True`` and converts to
TFLite with builtin ops. Layer names follow the TF-slim scopes of the released
code, lower-cased, with ``/`` written as ``_`` (``Mixed_5b/Branch_1/Conv2d_0a_1x1``
becomes ``mixed_5b_branch_1_conv2d_0a_1x1``); a conv unit's output carries the
unit's name, its layers are ``<unit>_conv`` and ``<unit>_bn``.
"""

from keras import layers

# BatchNormalization as in the released code: no gamma (``scale=False``) and
# epsilon 1e-3. The momentum is Keras's default, which suits short fine-tuning
# runs; TF-slim used 0.9997 for its 100-epoch ImageNet runs.
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.99
# TF-slim's ``min_depth``: no layer narrower than this when ``depth_multiplier < 1``.
MIN_DEPTH = 16


def scaled_depth(filters, depth_multiplier=1.0, min_depth=MIN_DEPTH):
    """Filter count of a layer in a network thinned by ``depth_multiplier`` (TF-slim)."""
    if depth_multiplier == 1.0:
        return filters
    return max(int(filters * depth_multiplier), min_depth)


def conv_bn(
    x,
    filters,
    kernel_size,
    strides=1,
    padding="same",
    *,
    name,
    activation="relu",
    depth_multiplier=1.0,
    batch_norm=True,
):
    """Conv2D (no bias) -> BatchNormalization(scale=False) -> activation.

    Args:
        x: input tensor.
        filters: number of filters before ``depth_multiplier`` is applied.
        kernel_size: int or ``(height, width)``.
        strides: int or pair, default 1.
        padding: ``"same"`` or ``"valid"`` (the papers' "V"), default ``"same"``.
        name: unit name; the output tensor's layer has this name.
        activation: activation after BN, default ``"relu"``; ``None`` for linear.
        depth_multiplier: TF-slim width multiplier, default 1.0.
        batch_norm: default True; False gives the pre-BN unit, Conv2D with
            bias -> activation (GoogLeNet as published).
    """
    x = layers.Conv2D(
        scaled_depth(filters, depth_multiplier),
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=not batch_norm,
        name=f"{name}_conv" if batch_norm or activation is not None else name,
    )(x)
    if batch_norm:
        bn_name = name if activation is None else f"{name}_bn"
        x = layers.BatchNormalization(
            scale=False, epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=bn_name
        )(x)
    if activation is None:
        return x
    return layers.Activation(activation, name=name)(x)


def separable_conv_bn(
    x,
    filters,
    kernel_size,
    strides=1,
    padding="same",
    *,
    channel_multiplier,
    name,
    depth_multiplier=1.0,
):
    """SeparableConv2D (no bias) -> BN(scale=False) -> ReLU (BN-Inception's stem).

    ``channel_multiplier`` is the depthwise multiplier of the separable conv
    (8 in the released BN-Inception); ``depth_multiplier`` thins the network.
    """
    x = layers.SeparableConv2D(
        scaled_depth(filters, depth_multiplier),
        kernel_size,
        strides=strides,
        padding=padding,
        depth_multiplier=channel_multiplier,
        use_bias=False,
        name=f"{name}_conv",
    )(x)
    x = layers.BatchNormalization(
        scale=False, epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{name}_bn"
    )(x)
    return layers.Activation("relu", name=name)(x)


def max_pool(x, pool_size=3, strides=2, padding="valid", *, name):
    """Max pooling with the papers' padding (``"valid"`` unless the figure says otherwise)."""
    return layers.MaxPooling2D(pool_size, strides=strides, padding=padding, name=name)(x)


def avg_pool(x, pool_size=3, strides=1, padding="same", *, name):
    """Average pooling; ``"same"`` excludes the padding from the mean (TF semantics)."""
    return layers.AveragePooling2D(pool_size, strides=strides, padding=padding, name=name)(x)


def concat(branches, *, name):
    """Concatenates the branches of an Inception module along channels."""
    return layers.Concatenate(axis=-1, name=name)(branches)


def scaled_residual(x, branches, scale, *, name, activation="relu"):
    """Inception-ResNet residual: ``act(x + scale * up(concat(branches)))``.

    ``up`` is a linear 1x1 conv with bias (no BN) back to ``x``'s width, named
    ``<name>_conv2d_1x1`` after the released code. The scaling and the sum are
    builtin layers (``Rescaling``, ``Add``), so the graph needs no custom op.
    With ``activation=None`` (the released last block) the sum is the output.
    """
    mixed = concat(branches, name=f"{name}_mixed") if len(branches) > 1 else branches[0]
    up = layers.Conv2D(x.shape[-1], 1, use_bias=True, name=f"{name}_conv2d_1x1")(mixed)
    up = layers.Rescaling(scale, name=f"{name}_scale")(up)
    sum_name = name if activation is None else f"{name}_sum"
    x = layers.Add(name=sum_name)([x, up])
    if activation is None:
        return x
    return layers.Activation(activation, name=name)(x)


def classifier_head(x, *, include_top, pooling, classes, classifier_activation, dropout_rate):
    """Global pooling -> dropout -> dense classifier (or pooled/unpooled features).

    The dense layer always computes in float32, so the logits and softmax stay
    accurate under a mixed-precision policy.
    """
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout_rate:
            x = layers.Dropout(dropout_rate, name="dropout")(x)
        return layers.Dense(
            classes, activation=classifier_activation, dtype="float32", name="predictions"
        )(x)
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x


def auxiliary_head(
    x,
    *,
    classes,
    classifier_activation,
    name,
    style="conv",
    depth_multiplier=1.0,
):
    """Auxiliary classifier on an intermediate grid.

    ``style="conv"`` is the BN auxiliary head of Inception-v3 (also used by the
    released Inception-v4 and Inception-ResNet-v2): avg-pool 5x5/3 V -> 1x1 conv
    128 -> 5x5 conv 768 V -> dense. ``style="fc"`` is GoogLeNet's (Szegedy et
    al. 2014, Sec. 5): avg-pool 5x5/3 V -> 1x1 conv 128 -> FC 1024 -> dropout
    0.7 -> dense. On small inputs the kernels shrink to the grid, as in TF-slim.
    """
    height, width = x.shape[1], x.shape[2]
    if height is None or width is None:
        raise ValueError(
            "The auxiliary head needs a static input size; build the model with "
            f"a fixed input_shape. Received: grid of shape {tuple(x.shape[1:])}"
        )
    pool = (min(5, height), min(5, width))
    x = avg_pool(x, pool, strides=3, padding="valid", name=f"{name}_avg_pool")
    x = conv_bn(x, 128, 1, name=f"{name}_conv2d_1b_1x1", depth_multiplier=depth_multiplier)
    if style == "conv":
        kernel = (x.shape[1], x.shape[2])
        x = conv_bn(
            x,
            768,
            kernel,
            padding="valid",
            name=f"{name}_conv2d_2a_5x5",
            depth_multiplier=depth_multiplier,
        )
        x = layers.Flatten(name=f"{name}_flatten")(x)
    elif style == "fc":
        x = layers.Flatten(name=f"{name}_flatten")(x)
        x = layers.Dense(1024, activation="relu", name=f"{name}_fc")(x)
        x = layers.Dropout(0.7, name=f"{name}_dropout")(x)
    else:
        raise ValueError(f"Unknown auxiliary head style. Received: style={style!r}")
    return layers.Dense(classes, activation=classifier_activation, dtype="float32", name=name)(x)


def kernel_tag(kernel):
    """``"3x3"`` for ``3`` and ``"7x1"`` for ``(7, 1)``, as in TF-slim scope names."""
    if isinstance(kernel, int):
        kernel = (kernel, kernel)
    return f"{kernel[0]}x{kernel[1]}"


def alternating(first, length):
    """``length`` kernels alternating between ``first`` and its transpose (an nxn factorized)."""
    second = first[::-1]
    return tuple(first if i % 2 == 0 else second for i in range(length))


def conv_chain(x, conv, units, *, name):
    """Convs ``[(filters, kernel), ...]`` in sequence, named ``conv2d_0b_*``, ``0c`` ..."""
    for letter, (filters, kernel) in zip("bcdefg", units):
        x = conv(x, filters, kernel, name=f"{name}_conv2d_0{letter}_{kernel_tag(kernel)}")
    return x


def split_3x3(x, conv, filters, *, name, letters):
    """The 1x3 and 3x1 convs side by side that end the 8x8 modules' branches.

    Szegedy et al. 2016 (Inception-v3), Figure 7; the Inception-C modules of
    Inception-v4 (Szegedy et al. 2017, Figure 6) reuse it.
    """
    first, second = letters
    return concat(
        [
            conv(x, filters, (1, 3), name=f"{name}_conv2d_0{first}_1x3"),
            conv(x, filters, (3, 1), name=f"{name}_conv2d_0{second}_3x1"),
        ],
        name=name,
    )


def preprocessing_layer():
    """Maps raw 0-255 pixels to [-1, 1] inside the graph (``x / 127.5 - 1``)."""
    return layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocessing")


__all__ = [
    "BN_EPSILON",
    "BN_MOMENTUM",
    "alternating",
    "auxiliary_head",
    "avg_pool",
    "classifier_head",
    "concat",
    "conv_bn",
    "conv_chain",
    "kernel_tag",
    "max_pool",
    "preprocessing_layer",
    "scaled_depth",
    "scaled_residual",
    "separable_conv_bn",
    "split_3x3",
]
