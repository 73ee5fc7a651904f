"""Inception-v3.

Szegedy, Vanhoucke, Ioffe, Shlens, Wojna. "Rethinking the Inception
Architecture for Computer Vision", CVPR 2016 (arXiv:1512.00567).

The graph is the released one (TF-slim ``inception_v3.py`` and
``keras.applications.InceptionV3``), which keeps the paper's valid/same
padding. Where it differs from the paper's Table 1 and figures:

- the stem ends with 1x1 conv 80 -> 3x3 conv 192 -> 3x3/2 max-pool, where the
  table lists 3x3/1, 3x3/2, 3x3/1 convs;
- the 35x35 modules keep a 1x1 -> 5x5 branch that Figure 5 factorizes away;
- there are four factorized 17x17 modules (Mixed_6b-6e), the text says five.

``input_resolution`` selects one of the three stems that Sec. 9 ("Performance
on Lower Resolution Input", Table 2) compares at almost identical cost: 299
(stride 2, then max-pooling: the released network), 151 (stride 1, then
max-pooling) and 79 (stride 1, no max-pooling). "After the first layer" is read
as after the first conv group (``conv2d_1a_3x3``..``conv2d_2b_3x3``), where the
released graph has its first max-pool; the first conv's stride is what changes.
From their own input sizes the three reach a 35x35 grid (36x36 for 79) after
the stem and 8x8 at the end; the weights have the same shapes in all three.
"""

from keras_inception.models import base
from keras_inception.models import blocks
from keras_inception.registry import register_model


def inception_a(x, conv, pool_filters, *, name):
    """35x35 module (Figure 5, released form with the 5x5 branch)."""
    b0 = conv(x, 64, 1, name=f"{name}_branch_0_conv2d_0a_1x1")
    b1 = conv(x, 48, 1, name=f"{name}_branch_1_conv2d_0a_1x1")
    b1 = conv(b1, 64, 5, name=f"{name}_branch_1_conv2d_0b_5x5")
    b2 = conv(x, 64, 1, name=f"{name}_branch_2_conv2d_0a_1x1")
    b2 = conv(b2, 96, 3, name=f"{name}_branch_2_conv2d_0b_3x3")
    b2 = conv(b2, 96, 3, name=f"{name}_branch_2_conv2d_0c_3x3")
    b3 = blocks.avg_pool(x, name=f"{name}_branch_3_avgpool_0a_3x3")
    b3 = conv(b3, pool_filters, 1, name=f"{name}_branch_3_conv2d_0b_1x1")
    return blocks.concat([b0, b1, b2, b3], name=name)


def reduction_a(x, conv, *, name):
    """35x35 -> 17x17 grid reduction (Figure 10)."""
    b0 = conv(x, 384, 3, strides=2, padding="valid", name=f"{name}_branch_0_conv2d_1a_3x3")
    b1 = conv(x, 64, 1, name=f"{name}_branch_1_conv2d_0a_1x1")
    b1 = conv(b1, 96, 3, name=f"{name}_branch_1_conv2d_0b_3x3")
    b1 = conv(b1, 96, 3, strides=2, padding="valid", name=f"{name}_branch_1_conv2d_1a_3x3")
    b2 = blocks.max_pool(x, name=f"{name}_branch_2_maxpool_1a_3x3")
    return blocks.concat([b0, b1, b2], name=name)


def inception_b(x, conv, n, *, name):
    """17x17 module with 7x7 convs factorized into 1x7 and 7x1 (Figure 6)."""
    b0 = conv(x, 192, 1, name=f"{name}_branch_0_conv2d_0a_1x1")
    b1 = conv(x, n, 1, name=f"{name}_branch_1_conv2d_0a_1x1")
    b1 = conv(b1, n, (1, 7), name=f"{name}_branch_1_conv2d_0b_1x7")
    b1 = conv(b1, 192, (7, 1), name=f"{name}_branch_1_conv2d_0c_7x1")
    b2 = conv(x, n, 1, name=f"{name}_branch_2_conv2d_0a_1x1")
    b2 = conv(b2, n, (7, 1), name=f"{name}_branch_2_conv2d_0b_7x1")
    b2 = conv(b2, n, (1, 7), name=f"{name}_branch_2_conv2d_0c_1x7")
    b2 = conv(b2, n, (7, 1), name=f"{name}_branch_2_conv2d_0d_7x1")
    b2 = conv(b2, 192, (1, 7), name=f"{name}_branch_2_conv2d_0e_1x7")
    b3 = blocks.avg_pool(x, name=f"{name}_branch_3_avgpool_0a_3x3")
    b3 = conv(b3, 192, 1, name=f"{name}_branch_3_conv2d_0b_1x1")
    return blocks.concat([b0, b1, b2, b3], name=name)


def reduction_b(x, conv, *, name):
    """17x17 -> 8x8 grid reduction (released Mixed_7a)."""
    b0 = conv(x, 192, 1, name=f"{name}_branch_0_conv2d_0a_1x1")
    b0 = conv(b0, 320, 3, strides=2, padding="valid", name=f"{name}_branch_0_conv2d_1a_3x3")
    b1 = conv(x, 192, 1, name=f"{name}_branch_1_conv2d_0a_1x1")
    b1 = conv(b1, 192, (1, 7), name=f"{name}_branch_1_conv2d_0b_1x7")
    b1 = conv(b1, 192, (7, 1), name=f"{name}_branch_1_conv2d_0c_7x1")
    b1 = conv(b1, 192, 3, strides=2, padding="valid", name=f"{name}_branch_1_conv2d_1a_3x3")
    b2 = blocks.max_pool(x, name=f"{name}_branch_2_maxpool_1a_3x3")
    return blocks.concat([b0, b1, b2], name=name)


def inception_c(x, conv, *, name):
    """8x8 module with expanded filter bank outputs (Figure 7)."""
    b0 = conv(x, 320, 1, name=f"{name}_branch_0_conv2d_0a_1x1")
    b1 = conv(x, 384, 1, name=f"{name}_branch_1_conv2d_0a_1x1")
    b1 = blocks.concat(
        [
            conv(b1, 384, (1, 3), name=f"{name}_branch_1_conv2d_0b_1x3"),
            conv(b1, 384, (3, 1), name=f"{name}_branch_1_conv2d_0c_3x1"),
        ],
        name=f"{name}_branch_1",
    )
    b2 = conv(x, 448, 1, name=f"{name}_branch_2_conv2d_0a_1x1")
    b2 = conv(b2, 384, 3, name=f"{name}_branch_2_conv2d_0b_3x3")
    b2 = blocks.concat(
        [
            conv(b2, 384, (1, 3), name=f"{name}_branch_2_conv2d_0c_1x3"),
            conv(b2, 384, (3, 1), name=f"{name}_branch_2_conv2d_0d_3x1"),
        ],
        name=f"{name}_branch_2",
    )
    b3 = blocks.avg_pool(x, name=f"{name}_branch_3_avgpool_0a_3x3")
    b3 = conv(b3, 192, 1, name=f"{name}_branch_3_conv2d_0b_1x1")
    return blocks.concat([b0, b1, b2, b3], name=name)


# Sec. 9, Table 2: the stem for each receptive field (the default input size),
# as (stride of the first conv, max-pool after the first conv group). At its own
# size, 151 runs every later layer on the 299 network's grids (same cost); 79
# runs conv2d_2a/2b on 75x75 instead of 147x147 and is 6 % cheaper
# (docs/architectures.md).
STEMS = {299: (2, True), 151: (1, True), 79: (1, False)}
# The smallest input of each stem: one pixel left after Mixed_7a (``min_size``).
MIN_SIZES = {299: 75, 151: 39, 79: 21}


def stem(x, conv, input_resolution=299):
    """299x299x3 -> 35x35x192 (released form of Table 1's first rows).

    With ``input_resolution`` 151 or 79, Table 2's stem for that receptive
    field; the comments give the grids at 299 | 151 | 79 pixels.
    """
    first_stride, first_pool = STEMS[input_resolution]
    x = conv(x, 32, 3, strides=first_stride, padding="valid", name="conv2d_1a_3x3")  # 149|149|77
    x = conv(x, 32, 3, padding="valid", name="conv2d_2a_3x3")  # 147|147|75, x32
    x = conv(x, 64, 3, name="conv2d_2b_3x3")  # 147|147|75, x64
    if first_pool:
        x = blocks.max_pool(x, name="maxpool_3a_3x3")  # 73|73|-, x64
    x = conv(x, 80, 1, padding="valid", name="conv2d_3b_1x1")  # 73|73|75, x80
    x = conv(x, 192, 3, padding="valid", name="conv2d_4a_3x3")  # 71|71|73, x192
    return blocks.max_pool(x, name="maxpool_5a_3x3")  # 35|35|36, x192


def backbone(x, conv, variant, input_resolution=299):
    """Inception-v3 body; returns the 8x8x2048 map and the auxiliary tap."""
    del variant  # the released graph is the only one with checkpoints
    x = stem(x, conv, input_resolution)
    x = inception_a(x, conv, 32, name="mixed_5b")  # 35x35x256
    x = inception_a(x, conv, 64, name="mixed_5c")  # 35x35x288
    x = inception_a(x, conv, 64, name="mixed_5d")  # 35x35x288
    x = reduction_a(x, conv, name="mixed_6a")  # 17x17x768
    for n, name in zip((128, 160, 160, 192), ("mixed_6b", "mixed_6c", "mixed_6d", "mixed_6e")):
        x = inception_b(x, conv, n, name=name)  # 17x17x768
    aux = x
    x = reduction_b(x, conv, name="mixed_7a")  # 8x8x1280
    x = inception_c(x, conv, name="mixed_7b")  # 8x8x2048
    x = inception_c(x, conv, name="mixed_7c")  # 8x8x2048
    return x, {"aux": (aux, "conv")}


@register_model(
    name="inception_v3",
    paper="Szegedy et al., Rethinking the Inception Architecture for Computer Vision, CVPR 2016",
    default_size=299,
    min_size=MIN_SIZES[299],
    final_grid=(8, 2048),
    num_params=23_851_784,
    num_params_aux=27_179_376,
    aux_loss_weight=0.4,
    endpoints={
        "P1": "conv2d_2b_3x3",
        "P2": "conv2d_4a_3x3",
        "P3": "mixed_5d",
        "P4": "mixed_6e",
        "P5": "mixed_7c",
    },
    input_resolutions=MIN_SIZES,
)
def InceptionV3(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="inception_v3",
    *,
    aux_logits=False,
    dropout_rate=0.2,
    include_preprocessing=False,
    depth_multiplier=1.0,
    variant="released",
    input_resolution=299,
):
    """Inception-v3 (Szegedy et al., CVPR 2016), the released architecture.

    Args:
        include_top: whether to include the classifier, default True.
        weights: ``None`` (random init, the default), ``"imagenet"``, a tag of
            the weights registry, or the path of a weights file.
        input_tensor: optional Keras tensor to use as the image input.
        input_shape: ``(height, width, channels)``, default
            ``(input_resolution, input_resolution, 3)``; at least 75x75 (39x39
            with ``input_resolution=151``, 21x21 with 79); ``(None, None, 3)``
            builds a size-agnostic model.
        pooling: with ``include_top=False``: ``None`` (the 4D map), ``"avg"``
            or ``"max"``. Default None.
        classes: number of classes, default 1000.
        classifier_activation: activation of the classifier(s), default
            ``"softmax"``; ``None`` returns logits.
        name: model name, default ``"inception_v3"``.
        aux_logits: add the BN auxiliary classifier on the 17x17 grid; the model
            then returns ``{"predictions": ..., "aux": ...}``. Default False.
        dropout_rate: dropout before the classifier, default 0.2 (keep-prob 0.8
            in the paper's code).
        include_preprocessing: accept raw 0-255 pixels and scale them to
            [-1, 1] inside the graph. Default False.
        depth_multiplier: TF-slim width multiplier for every conv, default 1.0.
        variant: ``"released"`` (the only one; accepted for a signature shared
            by the whole family). Default ``"released"``.
        input_resolution: the receptive field of Sec. 9 / Table 2 whose stem
            to build: ``299`` (default: stride 2, then max-pooling, the
            released network), ``151`` (stride 1, then max-pooling) or ``79``
            (stride 1, no max-pooling); also the default input size. The
            published weights belong to the 299 stem.

    Returns:
        A ``keras.Model``.
    """
    spec = InceptionV3.spec.at_resolution(input_resolution)
    if spec is not InceptionV3.spec and isinstance(weights, str) and _published(weights):
        raise ValueError(
            "The published Inception-v3 weights were trained with the 299 stem; "
            "with another `input_resolution` pass `weights=None` or the path of "
            "weights trained with that stem. "
            f"Received: weights={weights!r}, input_resolution={input_resolution!r}"
        )
    return base.build_model(
        spec, backbone, include_top=include_top, weights=weights,
        input_tensor=input_tensor, input_shape=input_shape, pooling=pooling,
        classes=classes, classifier_activation=classifier_activation, name=name,
        aux_logits=aux_logits, dropout_rate=dropout_rate,
        include_preprocessing=include_preprocessing, depth_multiplier=depth_multiplier,
        variant=variant, input_resolution=spec.default_size,
    )


def _published(weights):
    """Whether ``weights`` names a record of the weights registry (not a file)."""
    from keras_inception.weights import registry as weights_registry

    return weights == "imagenet" or weights_registry.find_weights("inception_v3", weights) is not None
