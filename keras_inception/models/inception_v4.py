"""Inception-v4.

Szegedy, Ioffe, Vanhoucke, Alemi. "Inception-v4, Inception-ResNet and the
Impact of Residual Connections on Learning", AAAI 2017 (arXiv:1602.07261).

The default graph is the released one (TF-slim ``inception_v4.py``, whose
checkpoints exist). ``variant="paper"`` follows the paper's figures where they
differ from that code (tensorflow/models#3313, #7041):

- the stem's 7x7 factorization (Figure 3, ``Mixed_4a``) runs 7x1 then 1x7,
  the code 1x7 then 7x1;
- the double 7x7 branch of Inception-B (Figure 5) starts with 1x7 and
  alternates 1x7, 7x1, 1x7, 7x1; the code starts with 7x1.

Both variants have the same layers, parameter count and cost; only the
orientation of those kernels differs. Figure 5 also prints the single 7x7
branch as 1x7 -> 1x7, which leaves the 7x7 receptive field half built; both
variants read it as 1x7 -> 7x1, as the code and Figures 11 and 17 do. Figure 3
leaves the stride of ``Mixed_5a``'s 3x3 conv unlabelled; it must be 2 for the
concatenation with the stride-2 pool.

The stem (``stages.inception_v4_stem``) and Reduction-A (``stages.reduction_a``)
are shared with the Inception-ResNets.
"""

from keras_inception.models import base
from keras_inception.models import blocks
from keras_inception.models import stages
from keras_inception.specs import register_model

# Reduction-A filters (k, l, m, n) of the paper's Table 1.
REDUCTION_A_FILTERS = (192, 224, 256, 384)


def inception_a(x, conv, *, name):
    """35x35 Inception-A module (Figure 4): 384 channels."""
    b0 = conv(x, 96, 1, name=f"{name}_branch_0_conv2d_0a_1x1")
    b1 = conv(x, 64, 1, name=f"{name}_branch_1_conv2d_0a_1x1")
    b1 = conv(b1, 96, 3, name=f"{name}_branch_1_conv2d_0b_3x3")
    b2 = conv(x, 64, 1, name=f"{name}_branch_2_conv2d_0a_1x1")
    b2 = blocks.conv_chain(b2, conv, [(96, 3), (96, 3)], name=f"{name}_branch_2")
    b3 = blocks.avg_pool(x, name=f"{name}_branch_3_avgpool_0a_3x3")
    b3 = conv(b3, 96, 1, name=f"{name}_branch_3_conv2d_0b_1x1")
    return blocks.concat([b0, b1, b2, b3], name=name)


def inception_b(x, conv, variant, *, name):
    """17x17 Inception-B module (Figure 5): 1024 channels."""
    b0 = conv(x, 384, 1, name=f"{name}_branch_0_conv2d_0a_1x1")
    b1 = conv(x, 192, 1, name=f"{name}_branch_1_conv2d_0a_1x1")
    b1 = blocks.conv_chain(b1, conv, [(224, (1, 7)), (256, (7, 1))], name=f"{name}_branch_1")
    b2 = conv(x, 192, 1, name=f"{name}_branch_2_conv2d_0a_1x1")
    first = (1, 7) if variant == "paper" else (7, 1)
    kernels = blocks.alternating(first, 4)
    b2 = blocks.conv_chain(
        b2, conv, list(zip((192, 224, 224, 256), kernels)), name=f"{name}_branch_2"
    )
    b3 = blocks.avg_pool(x, name=f"{name}_branch_3_avgpool_0a_3x3")
    b3 = conv(b3, 128, 1, name=f"{name}_branch_3_conv2d_0b_1x1")
    return blocks.concat([b0, b1, b2, b3], name=name)


def reduction_b(x, conv, *, name):
    """17x17 -> 8x8 Reduction-B (Figure 8): 1536 channels."""
    b0 = conv(x, 192, 1, name=f"{name}_branch_0_conv2d_0a_1x1")
    b0 = conv(b0, 192, 3, strides=2, padding="valid", name=f"{name}_branch_0_conv2d_1a_3x3")
    b1 = conv(x, 256, 1, name=f"{name}_branch_1_conv2d_0a_1x1")
    b1 = blocks.conv_chain(b1, conv, [(256, (1, 7)), (320, (7, 1))], name=f"{name}_branch_1")
    b1 = conv(b1, 320, 3, strides=2, padding="valid", name=f"{name}_branch_1_conv2d_1a_3x3")
    b2 = blocks.max_pool(x, name=f"{name}_branch_2_maxpool_1a_3x3")
    return blocks.concat([b0, b1, b2], name=name)


def inception_c(x, conv, *, name):
    """8x8 Inception-C module (Figure 6): 1536 channels."""
    b0 = conv(x, 256, 1, name=f"{name}_branch_0_conv2d_0a_1x1")
    b1 = conv(x, 384, 1, name=f"{name}_branch_1_conv2d_0a_1x1")
    b1 = blocks.split_3x3(b1, conv, 256, name=f"{name}_branch_1", letters="bc")
    b2 = conv(x, 384, 1, name=f"{name}_branch_2_conv2d_0a_1x1")
    b2 = blocks.conv_chain(b2, conv, [(448, (3, 1)), (512, (1, 3))], name=f"{name}_branch_2")
    b2 = blocks.split_3x3(b2, conv, 256, name=f"{name}_branch_2", letters="de")
    b3 = blocks.avg_pool(x, name=f"{name}_branch_3_avgpool_0a_3x3")
    b3 = conv(b3, 256, 1, name=f"{name}_branch_3_conv2d_0b_1x1")
    return blocks.concat([b0, b1, b2, b3], name=name)


def backbone(x, conv, variant):
    """Inception-v4 body (Figure 9); returns the 8x8x1536 map and the auxiliary tap."""
    x = stages.inception_v4_stem(x, conv, variant)  # 35x35x384
    for suffix in "bcde":
        x = inception_a(x, conv, name=f"mixed_5{suffix}")  # 35x35x384
    x = stages.reduction_a(x, conv, REDUCTION_A_FILTERS, name="mixed_6a")  # 17x17x1024
    for suffix in "bcdefgh":
        x = inception_b(x, conv, variant, name=f"mixed_6{suffix}")  # 17x17x1024
    aux = x
    x = reduction_b(x, conv, name="mixed_7a")  # 8x8x1536
    for suffix in "bcd":
        x = inception_c(x, conv, name=f"mixed_7{suffix}")  # 8x8x1536
    return x, {"aux": (aux, "conv")}


@register_model(
    name="inception_v4",
    title="Inception-v4",
    paper="Szegedy et al., Inception-v4, Inception-ResNet and the Impact of "
    "Residual Connections on Learning, AAAI 2017",
    default_size=299,
    min_size=75,
    final_grid=(8, 1536),
    num_params=42_711_400,
    num_params_aux=46_071_760,
    aux_loss_weight=0.4,
    endpoints={
        "P1": "conv2d_2b_3x3",
        "P2": "mixed_4a",
        "P3": "mixed_5e",
        "P4": "mixed_6h",
        "P5": "mixed_7d",
    },
    aux_taps={"aux": "mixed_6h"},
    macs=12.29,
    # The paper variant only turns some 1x7 kernels into 7x1: the same counts.
    variants={"released": {}, "paper": {}},
)
def InceptionV4(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="inception_v4",
    *,
    aux_logits=False,
    dropout_rate=0.2,
    include_preprocessing=False,
    depth_multiplier=1.0,
    variant="released",
):
    """Inception-v4 (Szegedy et al., AAAI 2017).

    Stem (Figure 3) -> 4 x Inception-A -> Reduction-A -> 7 x Inception-B ->
    Reduction-B -> 3 x Inception-C (Figure 9), 8x8x1536 features at 299x299.

    Args:
        include_top: whether to include the classifier, default True.
        weights: ``None`` (random init, the default), ``"imagenet"``, a tag of
            the weights registry, or the path of a weights file.
        input_tensor: optional Keras tensor to use as the image input.
        input_shape: ``(height, width, channels)``, default ``(299, 299, 3)``;
            at least 75x75; ``(None, None, 3)`` builds a size-agnostic model.
        pooling: with ``include_top=False``: ``None`` (the 4D map), ``"avg"``
            or ``"max"``. Default None.
        classes: number of classes, default 1000.
        classifier_activation: activation of the classifier(s), default
            ``"softmax"``; ``None`` returns logits.
        name: model name, default ``"inception_v4"``.
        aux_logits: add the released code's BN auxiliary classifier on the
            17x17 grid (``Mixed_6h``; the paper shows none); the model then
            returns ``{"predictions": ..., "aux": ...}``. Default False.
        dropout_rate: dropout before the classifier, default 0.2 (keep-prob 0.8
            in the paper's code).
        include_preprocessing: accept raw 0-255 pixels and scale them to
            [-1, 1] inside the graph. Default False.
        depth_multiplier: TF-slim width multiplier for every conv, default 1.0.
        variant: ``"released"`` (TF-slim, the checkpoints' graph) or
            ``"paper"`` (the figures' 1x7/7x1 orders, see the module
            docstring). Default ``"released"``.

    Returns:
        A ``keras.Model``.
    """
    return base.build_model(
        InceptionV4.spec,
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
    )
