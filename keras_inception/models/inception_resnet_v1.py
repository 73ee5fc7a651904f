"""Inception-ResNet-v1.

Szegedy, Ioffe, Vanhoucke, Alemi. "Inception-v4, Inception-ResNet and the
Impact of Residual Connections on Learning", AAAI 2017 (arXiv:1602.07261).

The authors released no code or checkpoint for this network; it exists as the
paper's Figures 14 (stem), 10 (Inception-ResNet-A), 7 (Reduction-A with k, l,
m, n = 192, 192, 256, 384), 11 (Inception-ResNet-B), 12 (Reduction-B) and 13
(Inception-ResNet-C), with 5 / 10 / 5 modules (Figure 15).

The default, ``variant="released"``, is the public TF-slim-style
implementation of FaceNet (davidsandberg/facenet), whose scopes and published
face-embedding checkpoints it matches: the paper's graph plus one last
Inception-ResNet-C module with scale 1.0 and no ReLU, as in the released
Inception-ResNet-v2 (facenet#563). ``variant="paper"`` leaves that module out.
Both end at 8x8x1792 at 299x299, with no final 1x1 conv.
"""

from keras_inception.models import base
from keras_inception.models import blocks
from keras_inception.models import inception_resnet
from keras_inception.models import stages
from keras_inception.specs import register_model

BLOCK35 = (  # Inception-ResNet-A, Figure 10
    ((32, 1),),
    ((32, 1), (32, 3)),
    ((32, 1), (32, 3), (32, 3)),
)
BLOCK17 = (  # Inception-ResNet-B, Figure 11
    ((128, 1),),
    ((128, 1), (128, (1, 7)), (128, (7, 1))),
)
BLOCK8 = (  # Inception-ResNet-C, Figure 13
    ((192, 1),),
    ((192, 1), (192, (1, 3)), (192, (3, 1))),
)
REDUCTION_A_FILTERS = (192, 192, 256, 384)  # (k, l, m, n), Table 1
REDUCTION_B_FILTERS = (384, 256, 256, 256)  # Figure 12
REPEATS = (5, 10, 5)  # Figure 15


def stem(x, conv):
    """299x299x3 -> 35x35x256 (Figure 14)."""
    x = stages.stem_convs(x, conv)  # 147x147x64
    x = blocks.max_pool(x, name="maxpool_3a_3x3")  # 73x73x64
    x = conv(x, 80, 1, padding="valid", name="conv2d_3b_1x1")  # 73x73x80
    x = conv(x, 192, 3, padding="valid", name="conv2d_4a_3x3")  # 71x71x192
    return conv(x, 256, 3, strides=2, padding="valid", name="conv2d_4b_3x3")  # 35x35x256


def backbone(x, conv, variant, residual_scale):
    """Inception-ResNet-v1 body (Figure 15); returns the 8x8x1792 map and the auxiliary tap."""
    scale_a, scale_b, scale_c = residual_scale
    repeats_a, repeats_b, repeats_c = REPEATS
    x = stem(x, conv)  # 35x35x256
    x = inception_resnet.residual_stage(x, conv, BLOCK35, repeats_a, scale_a, prefix="block35")
    x = stages.reduction_a(x, conv, REDUCTION_A_FILTERS, name="mixed_6a")  # 17x17x896
    x = inception_resnet.residual_stage(x, conv, BLOCK17, repeats_b, scale_b, prefix="block17")
    aux = x
    x = inception_resnet.reduction_b(x, conv, REDUCTION_B_FILTERS, name="mixed_7a")  # 8x8x1792
    x = inception_resnet.residual_stage(x, conv, BLOCK8, repeats_c, scale_c, prefix="block8")
    if variant == "released":
        x = inception_resnet.residual_block(
            x, conv, BLOCK8, 1.0, name=f"block8_{repeats_c + 1}", activation=None
        )
    return x, {"aux": (aux, "conv")}


@register_model(
    name="inception_resnet_v1",
    title="Inception-ResNet-v1",
    paper="Szegedy et al., Inception-v4, Inception-ResNet and the Impact of "
    "Residual Connections on Learning, AAAI 2017",
    default_size=299,
    min_size=75,
    final_grid=(8, 1792),
    num_params=24_371_384,
    num_params_aux=27_715_360,
    aux_loss_weight=0.4,
    endpoints={
        "P1": "conv2d_2b_3x3",
        "P2": "conv2d_4a_3x3",
        "P3": "block35_5",
        "P4": "block17_10",
        "P5": "block8_6",
    },
    aux_taps={"aux": "block17_10"},
    macs=6.33,
    accuracy="78.7 / 94.5 (paper, Table 2; no public ImageNet checkpoint)",
    variants={
        "released": {},
        "paper": dict(
            num_params=22_769_848,
            num_params_aux=26_113_824,
            macs=6.23,
            endpoints={
                "P1": "conv2d_2b_3x3",
                "P2": "conv2d_4a_3x3",
                "P3": "block35_5",
                "P4": "block17_10",
                "P5": "block8_5",
            },
        ),
    },
)
def InceptionResNetV1(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="inception_resnet_v1",
    *,
    aux_logits=False,
    dropout_rate=0.2,
    include_preprocessing=False,
    depth_multiplier=1.0,
    variant="released",
    residual_scale=inception_resnet.RESIDUAL_SCALES,
):
    """Inception-ResNet-v1 (Szegedy et al., AAAI 2017).

    Stem (Figure 14) -> 5 x Inception-ResNet-A -> Reduction-A -> 10 x
    Inception-ResNet-B -> Reduction-B -> 5 x Inception-ResNet-C (Figure 15),
    8x8x1792 features at 299x299; the default adds FaceNet's last module
    (scale 1.0, no ReLU), see the module docstring.

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
        name: model name, default ``"inception_resnet_v1"``.
        aux_logits: add a BN auxiliary classifier on the 17x17 grid (after the
            last Inception-ResNet-B module, where Inception-ResNet-v2's
            released code has its own; neither the paper nor FaceNet has one
            for this network); the model then returns ``{"predictions": ...,
            "aux": ...}``. Default False.
        dropout_rate: dropout before the classifier, default 0.2 (keep-prob 0.8
            in the paper's code).
        include_preprocessing: accept raw 0-255 pixels and scale them to
            [-1, 1] inside the graph. Default False.
        depth_multiplier: TF-slim width multiplier for every conv, default 1.0.
        variant: ``"released"`` (FaceNet's graph, with the last scale-1.0
            module) or ``"paper"`` (Figure 15 exactly). Default ``"released"``.
        residual_scale: factor on each residual before the sum, one number for
            every module or a tuple for the 35x35, 17x17 and 8x8 stages.
            Default ``(0.17, 0.10, 0.20)``, FaceNet's (and the released
            Inception-ResNet-v2's); the last module always uses 1.0.

    Returns:
        A ``keras.Model``.
    """
    return base.build_model(
        InceptionResNetV1.spec,
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
        residual_scale=inception_resnet.stage_scales(residual_scale),
    )
