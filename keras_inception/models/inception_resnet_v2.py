"""Inception-ResNet-v2.

Szegedy, Ioffe, Vanhoucke, Alemi. "Inception-v4, Inception-ResNet and the
Impact of Residual Connections on Learning", AAAI 2017 (arXiv:1602.07261).

The default graph is the released one (TF-slim ``inception_resnet_v2.py``,
built "under the advice of the authors", tensorflow/models#1553, and
``keras.applications.InceptionResNetV2``, which it equals layer for layer).
``variant="paper"`` follows the paper (Figures 15-19) where the two differ:

- stem: the Inception-v4 stem (Figure 3, 35x35x384) instead of the
  Inception-v3 stem followed by ``Mixed_5b`` (35x35x320);
- 5 / 10 / 5 residual modules instead of 10 / 20 / 10;
- no extra last module (the code's ``Block8``: scale 1.0, no ReLU) and no
  final 1x1 conv to 1536 channels;
- residual widths: the figures print the up-projections as 384 / 1154 / 2048,
  but Reduction-A and Reduction-B (Figures 7 and 18) produce 1152 and 2144
  channels from a 384-channel stem, and a residual sum needs equal widths. The
  paper variant projects back to the width of each module's input, 384 / 1152
  / 2144, so its features are 8x8x2144.

The branch widths inside the modules and the reductions are the same in both.
"""

from keras_inception.models import base
from keras_inception.models import blocks
from keras_inception.models import inception_resnet
from keras_inception.models import stages
from keras_inception.specs import register_model

# Residual modules as tables: one tuple of (filters, kernel) convs per branch.
BLOCK35 = (  # Inception-ResNet-A, Figure 16
    ((32, 1),),
    ((32, 1), (32, 3)),
    ((32, 1), (48, 3), (64, 3)),
)
BLOCK17 = (  # Inception-ResNet-B, Figure 17
    ((192, 1),),
    ((128, 1), (160, (1, 7)), (192, (7, 1))),
)
BLOCK8 = (  # Inception-ResNet-C, Figure 19
    ((192, 1),),
    ((192, 1), (224, (1, 3)), (256, (3, 1))),
)
MIXED_5B = (  # the conv branches of the released code's 35x35 module after the v3 stem
    ((96, 1),),
    ((48, 1), (64, 5)),
    ((64, 1), (96, 3), (96, 3)),
)
REDUCTION_A_FILTERS = (256, 256, 384, 384)  # (k, l, m, n), Table 1
REDUCTION_B_FILTERS = (384, 288, 288, 320)  # Figure 18
# Residual modules per stage (35x35, 17x17, 8x8), not counting the released
# code's extra last module.
REPEATS = {"released": (10, 20, 9), "paper": (5, 10, 5)}

# keras.applications.InceptionResNetV2's names where they differ from ours:
# each block's ReLU is ``<block>_ac`` (ours ``<block>``), its up-projection
# ``<block>_conv`` (ours ``<block>_conv2d_1x1``), and the last conv unit
# ``conv_7b`` (ours ``conv2d_7b_1x1``). The last module (``block8_10``, no
# ReLU) ends in an unnamed layer there; ``block8_10`` itself is ours too.
KERAS_APPLICATIONS_NAMES = {
    **{
        f"{block}_{i}_{suffix}": f"{block}_{i}{ours}"
        for block, count in (("block35", 10), ("block17", 20), ("block8", 10))
        for i in range(1, count + 1)
        for suffix, ours in (("ac", ""), ("conv", "_conv2d_1x1"))
        if not (block == "block8" and i == count and suffix == "ac")
    },
    "conv_7b": "conv2d_7b_1x1_conv",
    "conv_7b_bn": "conv2d_7b_1x1_bn",
    "conv_7b_ac": "conv2d_7b_1x1",
}


def mixed_5b(x, conv):
    """35x35x192 -> 35x35x320: the Inception module the released code adds after its stem."""
    branches = inception_resnet.conv_branches(x, conv, MIXED_5B, name="mixed_5b")
    pool = blocks.avg_pool(x, name="mixed_5b_branch_3_avgpool_0a_3x3")
    branches.append(conv(pool, 64, 1, name="mixed_5b_branch_3_conv2d_0b_1x1"))
    return blocks.concat(branches, name="mixed_5b")


def backbone(x, conv, variant, residual_scale):
    """Inception-ResNet-v2 body (Figure 15); returns the final map and the auxiliary tap."""
    scale_a, scale_b, scale_c = residual_scale
    repeats_a, repeats_b, repeats_c = REPEATS[variant]
    if variant == "released":
        x = stages.inception_v3_stem(x, conv)  # 35x35x192
        x = mixed_5b(x, conv)  # 35x35x320
    else:
        x = stages.inception_v4_stem(x, conv, variant)  # 35x35x384
    # Grids as released (paper): 35x35x320 (384) -> 17x17x1088 (1152) -> 8x8x2080 (2144).
    x = inception_resnet.residual_stage(x, conv, BLOCK35, repeats_a, scale_a, prefix="block35")
    x = stages.reduction_a(x, conv, REDUCTION_A_FILTERS, name="mixed_6a")
    x = inception_resnet.residual_stage(x, conv, BLOCK17, repeats_b, scale_b, prefix="block17")
    aux = x
    x = inception_resnet.reduction_b(x, conv, REDUCTION_B_FILTERS, name="mixed_7a")
    x = inception_resnet.residual_stage(x, conv, BLOCK8, repeats_c, scale_c, prefix="block8")
    if variant == "released":
        x = inception_resnet.residual_block(
            x, conv, BLOCK8, 1.0, name=f"block8_{repeats_c + 1}", activation=None
        )
        x = conv(x, 1536, 1, name="conv2d_7b_1x1")  # 8x8x1536
    return x, {"aux": (aux, "conv")}


@register_model(
    name="inception_resnet_v2",
    title="Inception-ResNet-v2",
    paper="Szegedy et al., Inception-v4, Inception-ResNet and the Impact of "
    "Residual Connections on Learning, AAAI 2017",
    default_size=299,
    min_size=75,
    final_grid=(8, 1536),
    num_params=55_873_736,
    num_params_aux=59_242_288,
    aux_loss_weight=0.4,
    endpoints={
        "P1": "conv2d_2b_3x3",
        "P2": "conv2d_4a_3x3",
        "P3": "block35_10",
        "P4": "block17_20",
        "P5": "conv2d_7b_1x1",
    },
    aux_taps={"aux": "block17_20"},
    keras_applications_names=KERAS_APPLICATIONS_NAMES,
    macs=13.20,
    variants={
        "released": {},
        "paper": dict(
            final_grid=(8, 2144),
            num_params=32_450_360,
            num_params_aux=35_827_104,
            macs=9.28,
            endpoints={
                "P1": "conv2d_2b_3x3",
                "P2": "mixed_4a",
                "P3": "block35_5",
                "P4": "block17_10",
                "P5": "block8_5",
            },
            aux_taps={"aux": "block17_10"},
            keras_applications_names={},
        ),
    },
)
def InceptionResNetV2(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="inception_resnet_v2",
    *,
    aux_logits=False,
    dropout_rate=0.2,
    include_preprocessing=False,
    depth_multiplier=1.0,
    variant="released",
    residual_scale=inception_resnet.RESIDUAL_SCALES,
):
    """Inception-ResNet-v2 (Szegedy et al., AAAI 2017).

    Released graph: Inception-v3 stem -> ``mixed_5b`` -> 10 x Inception-ResNet-A
    -> Reduction-A -> 20 x Inception-ResNet-B -> Reduction-B -> 9 x
    Inception-ResNet-C -> a last module with scale 1.0 and no ReLU -> 1x1 conv
    1536; 8x8x1536 features at 299x299, the same graph and parameter count as
    ``keras.applications.InceptionResNetV2``. See the module docstring for the
    paper variant.

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
        name: model name, default ``"inception_resnet_v2"``.
        aux_logits: add the released code's BN auxiliary classifier on the
            17x17 grid (after the last Inception-ResNet-B module); the model
            then returns ``{"predictions": ..., "aux": ...}``. Default False.
        dropout_rate: dropout before the classifier, default 0.2 (keep-prob 0.8
            in the paper's code).
        include_preprocessing: accept raw 0-255 pixels and scale them to
            [-1, 1] inside the graph. Default False.
        depth_multiplier: TF-slim width multiplier for every conv, default 1.0.
        variant: ``"released"`` (TF-slim and keras.applications, the
            checkpoints' graph) or ``"paper"`` (Figure 15, 8x8x2144 features).
            Default ``"released"``.
        residual_scale: factor on each residual before the sum, one number for
            every module or a tuple for the 35x35, 17x17 and 8x8 stages.
            Default ``(0.17, 0.10, 0.20)``, the released code's; the released
            last module always uses 1.0.

    Returns:
        A ``keras.Model``.
    """
    return base.build_model(
        InceptionResNetV2.spec,
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
