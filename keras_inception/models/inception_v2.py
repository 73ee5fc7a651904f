"""BN-Inception (Inception-v2).

Ioffe, Szegedy. "Batch Normalization: Accelerating Deep Network Training by
Reducing Internal Covariate Shift", ICML 2015 (arXiv:1502.03167), Appendix,
Figure 5.

GoogLeNet with BatchNormalization before every ReLU, its 5x5 convs replaced
by two 3x3 convs, a third 28x28 module, average or max pooling inside the
modules, stride-2 modules (3c, 4e) instead of the pools between stages, and a
separable 7x7 conv (depthwise multiplier 8) as the first layer. The paper and
TF-slim's ``inception_v2.py`` (the published checkpoints; ``variant="released"``,
the default) agree on all of this and differ only in the pool projections of
4c and 4d (``Mixed_4d``, ``Mixed_4e``): 128 in Figure 5 (``variant="paper"``),
96 in the released code. With 128, those modules output 608 channels and 4e
1056, where Figure 5 prints 576 and 1024 (the released widths); the grid sizes
are the same in both variants: 224 -> 112 -> 56 -> 28 -> 14 -> 7, every conv
and pool "same" padded.

The paper counts 13.6M parameters; the released graph has 11.2M and the
paper's filter table 11.3M, a gap that neither source explains.
"""

from keras_inception.models import base
from keras_inception.models import blocks
from keras_inception.specs import register_model

# Figure 5, one row per module that keeps the grid: #1x1, #3x3 reduce, #3x3,
# double #3x3 reduce, double #3x3, pool type, pool proj (released values).
# Keys are the released scopes (the paper's 3a is Mixed_3b).
MODULE_FILTERS = {
    "mixed_3b": (64, 64, 64, 64, 96, "avg", 32),  # 3a: 28x28x256
    "mixed_3c": (64, 64, 96, 64, 96, "avg", 64),  # 3b: 28x28x320
    "mixed_4b": (224, 64, 96, 96, 128, "avg", 128),  # 4a: 14x14x576
    "mixed_4c": (192, 96, 128, 96, 128, "avg", 128),  # 4b: 14x14x576
    "mixed_4d": (160, 128, 160, 128, 160, "avg", 96),  # 4c: 14x14x576
    "mixed_4e": (96, 128, 192, 160, 192, "avg", 96),  # 4d: 14x14x576
    "mixed_5b": (352, 192, 320, 160, 224, "avg", 128),  # 5a: 7x7x1024
    "mixed_5c": (352, 192, 320, 192, 224, "max", 128),  # 5b: 7x7x1024
}
# Figure 5's pool projections where the released code differs.
PAPER_POOL_PROJ = {"mixed_4d": 128, "mixed_4e": 128}
# The stride-2 modules: #3x3 reduce, #3x3, double #3x3 reduce, double #3x3;
# the pool branch is a 3x3/2 max-pool passed through.
REDUCTION_FILTERS = {
    "mixed_4a": (128, 160, 64, 96),  # 3c: 14x14x576
    "mixed_5a": (128, 192, 192, 256),  # 4e: 7x7x1024
}


def inception_module(x, conv, filters, *, name):
    """Inception module with the 5x5 conv factorized into two 3x3 convs."""
    n1x1, n3x3_reduce, n3x3, double_reduce, double, pool, pool_proj = filters
    b0 = conv(x, n1x1, 1, name=f"{name}_branch_0_conv2d_0a_1x1")
    b1 = conv(x, n3x3_reduce, 1, name=f"{name}_branch_1_conv2d_0a_1x1")
    b1 = conv(b1, n3x3, 3, name=f"{name}_branch_1_conv2d_0b_3x3")
    b2 = conv(x, double_reduce, 1, name=f"{name}_branch_2_conv2d_0a_1x1")
    b2 = conv(b2, double, 3, name=f"{name}_branch_2_conv2d_0b_3x3")
    b2 = conv(b2, double, 3, name=f"{name}_branch_2_conv2d_0c_3x3")
    pool_layer = blocks.avg_pool if pool == "avg" else blocks.max_pool
    b3 = pool_layer(x, 3, strides=1, padding="same", name=f"{name}_branch_3_{pool}pool_0a_3x3")
    b3 = conv(b3, pool_proj, 1, name=f"{name}_branch_3_conv2d_0b_1x1")
    return blocks.concat([b0, b1, b2, b3], name=name)


def reduction_module(x, conv, filters, *, name):
    """Stride-2 module: the last conv of each branch and the max-pool halve the grid."""
    n3x3_reduce, n3x3, double_reduce, double = filters
    b0 = conv(x, n3x3_reduce, 1, name=f"{name}_branch_0_conv2d_0a_1x1")
    b0 = conv(b0, n3x3, 3, strides=2, name=f"{name}_branch_0_conv2d_1a_3x3")
    b1 = conv(x, double_reduce, 1, name=f"{name}_branch_1_conv2d_0a_1x1")
    b1 = conv(b1, double, 3, name=f"{name}_branch_1_conv2d_0b_3x3")
    b1 = conv(b1, double, 3, strides=2, name=f"{name}_branch_1_conv2d_1a_3x3")
    b2 = blocks.max_pool(x, 3, strides=2, padding="same", name=f"{name}_branch_2_maxpool_1a_3x3")
    return blocks.concat([b0, b1, b2], name=name)


def stem(x, conv, multiplier):
    """224x224x3 -> 28x28x192 (Figure 5 up to the second max-pool)."""
    # TF-slim caps the depthwise multiplier so that the depthwise stage never
    # has more channels than the pointwise output: 8 unless the net is thinned.
    channel_multiplier = min(blocks.scaled_depth(64, multiplier) // 3, 8)
    x = blocks.separable_conv_bn(
        x,
        64,
        7,
        strides=2,
        channel_multiplier=channel_multiplier,
        depth_multiplier=multiplier,
        name="conv2d_1a_7x7",
    )  # 112x112x64
    x = blocks.max_pool(x, 3, strides=2, padding="same", name="maxpool_2a_3x3")  # 56x56x64
    x = conv(x, 64, 1, name="conv2d_2b_1x1")  # 56x56x64
    x = conv(x, 192, 3, name="conv2d_2c_3x3")  # 56x56x192
    return blocks.max_pool(x, 3, strides=2, padding="same", name="maxpool_3a_3x3")


def backbone(x, conv, variant, multiplier):
    """BN-Inception body; returns the 7x7x1024 map and the auxiliary tap.

    ``multiplier`` is the model's ``depth_multiplier``, which the separable
    stem conv needs besides ``conv``.
    """
    filters = dict(MODULE_FILTERS)
    if variant == "paper":
        for name, pool_proj in PAPER_POOL_PROJ.items():
            filters[name] = (*filters[name][:-1], pool_proj)

    x = stem(x, conv, multiplier)  # 28x28x192
    for name in ("mixed_3b", "mixed_3c"):
        x = inception_module(x, conv, filters[name], name=name)  # 28x28x320
    x = reduction_module(x, conv, REDUCTION_FILTERS["mixed_4a"], name="mixed_4a")  # 14x14x576
    for name in ("mixed_4b", "mixed_4c", "mixed_4d", "mixed_4e"):
        x = inception_module(x, conv, filters[name], name=name)  # 14x14x576 (paper: 608)
    aux = x
    x = reduction_module(x, conv, REDUCTION_FILTERS["mixed_5a"], name="mixed_5a")  # 7x7x1024
    for name in ("mixed_5b", "mixed_5c"):
        x = inception_module(x, conv, filters[name], name=name)  # 7x7x1024
    return x, {"aux": (aux, "conv")}


@register_model(
    name="inception_v2",
    title="BN-Inception (Inception-v2)",
    paper=(
        "Ioffe and Szegedy, Batch Normalization: Accelerating Deep Network "
        "Training by Reducing Internal Covariate Shift, ICML 2015"
    ),
    default_size=224,
    min_size=32,
    final_grid=(7, 1024),
    num_params=11_198_240,
    num_params_aux=13_616_520,
    aux_loss_weight=0.4,
    endpoints={
        "P1": "conv2d_1a_7x7",
        "P2": "conv2d_2c_3x3",
        "P3": "mixed_3c",
        "P4": "mixed_4e",
        "P5": "mixed_5c",
    },
    aux_taps={"aux": "mixed_4e"},
    macs=1.94,
    variants={
        "released": {},
        "paper": dict(num_params=11_288_544, num_params_aux=13_710_920, macs=1.96),
    },
)
def InceptionV2(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="inception_v2",
    *,
    aux_logits=False,
    dropout_rate=0.2,
    include_preprocessing=False,
    depth_multiplier=1.0,
    variant="released",
):
    """BN-Inception / Inception-v2 (Ioffe and Szegedy, ICML 2015).

    The two variants (see the module docstring) differ only in two pool
    projections. Neither the paper nor the released code has an auxiliary
    classifier: the paper's network has "no fully-connected layers" besides
    the top softmax, which rules out GoogLeNet's FC heads. With
    ``aux_logits=True`` we add one, of the design its authors used next
    (Inception-v3's BN auxiliary head: avg pool 5x5/3 V -> 1x1 conv 128 ->
    5x5 conv 768 V -> dense) at the same place, on the last module before the
    final reduction (``mixed_4e``, 14x14), weighted 0.4 in the loss as
    Inception-v3's.

    The input size must be at least 32x32 (the network's total stride): any
    size builds, as every layer is "same" padded, but below 32 the last
    reductions see a 1x1 grid and stop reducing.

    Args:
        include_top: whether to include the classifier, default True.
        weights: ``None`` (random init, the default), ``"imagenet"``, a tag of
            the weights registry, or the path of a weights file.
        input_tensor: optional Keras tensor to use as the image input.
        input_shape: ``(height, width, channels)``, default ``(224, 224, 3)``;
            at least 32x32; ``(None, None, 3)`` builds a size-agnostic model.
        pooling: with ``include_top=False``: ``None`` (the 4D map), ``"avg"``
            or ``"max"``. Default None.
        classes: number of classes, default 1000.
        classifier_activation: activation of the classifier(s), default
            ``"softmax"``; ``None`` returns logits.
        name: model name, default ``"inception_v2"``.
        aux_logits: add the (non-published) BN auxiliary classifier on the
            14x14 grid; the model then returns ``{"predictions": ...,
            "aux": ...}``. Needs a static input size. Default False.
        dropout_rate: dropout before the classifier, default 0.2 (keep-prob
            0.8 in the released code; the paper's fastest runs used none).
        include_preprocessing: accept raw 0-255 pixels and scale them to
            [-1, 1] inside the graph. Default False.
        depth_multiplier: TF-slim width multiplier for every conv, default 1.0.
        variant: ``"released"`` (TF-slim) or ``"paper"`` (Figure 5's pool
            projections of 128 in 4c and 4d). Default ``"released"``.

    Returns:
        A ``keras.Model``.
    """
    return base.build_model(
        InceptionV2.spec,
        backbone,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        name=name,
        aux_logits=aux_logits,
        dropout_rate=dropout_rate,
        include_preprocessing=include_preprocessing,
        depth_multiplier=depth_multiplier,
        variant=variant,
        multiplier=depth_multiplier,
    )
