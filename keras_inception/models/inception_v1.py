"""GoogLeNet (Inception-v1).

Szegedy, Liu, Jia, Sermanet, Reed, Anguelov, Erhan, Vanhoucke, Rabinovich.
"Going Deeper with Convolutions", CVPR 2015 (arXiv:1409.4842).

``variant="released"`` (the default) is TF-slim's ``inception_v1.py``, the
graph of the published checkpoints; ``variant="paper"`` is Figure 3 and
Table 1 of the paper. They differ in:

- normalization: the released graph has BatchNormalization after every conv
  and no LRN; the paper has no BN (conv with bias -> ReLU) and a local
  response normalization after the first max-pool and after the 3x3 conv of
  the stem;
- the "5x5" branch of every module: a true 5x5 conv in the paper, a 3x3 conv
  in the released code (tensorflow/models#443);
- the max-pool before 5a: 3x3/2 in the paper, 2x2/2 (``MaxPool_5a_2x2``) in
  the released code.

Every conv and pool is "same" padded (the paper's Figure 3 marks "V" only on
1x1 convs, where padding changes nothing, and on the heads' average pools),
so the grid goes 224 -> 112 -> 56 -> 28 -> 14 -> 7. The classifier is the
family's shared head (global average pool -> dropout -> dense); the paper's
7x7/1 "V" average pool is the same operation at 224x224.
"""

import functools

from keras_inception.layers import LocalResponseNormalization
from keras_inception.models import base
from keras_inception.models import blocks
from keras_inception.specs import register_model

# Table 1, one row per Inception module: #1x1, #3x3 reduce, #3x3, #5x5 reduce,
# #5x5, pool proj. Keys are the released scopes (the paper's 3a is Mixed_3b).
MODULE_FILTERS = {
    "mixed_3b": (64, 96, 128, 16, 32, 32),  # 3a: 28x28x256
    "mixed_3c": (128, 128, 192, 32, 96, 64),  # 3b: 28x28x480
    "mixed_4b": (192, 96, 208, 16, 48, 64),  # 4a: 14x14x512
    "mixed_4c": (160, 112, 224, 24, 64, 64),  # 4b: 14x14x512
    "mixed_4d": (128, 128, 256, 24, 64, 64),  # 4c: 14x14x512
    "mixed_4e": (112, 144, 288, 32, 64, 64),  # 4d: 14x14x528
    "mixed_4f": (256, 160, 320, 32, 128, 128),  # 4e: 14x14x832
    "mixed_5b": (256, 160, 320, 32, 128, 128),  # 5a: 7x7x832
    "mixed_5c": (384, 192, 384, 48, 128, 128),  # 5b: 7x7x1024
}


def inception_module(x, conv, filters, wide_kernel, *, name):
    """Inception module with dimension reductions (Figure 2b).

    ``wide_kernel`` is the kernel of the "5x5" branch: 5 in the paper, 3 in
    the released code.
    """
    n1x1, n3x3_reduce, n3x3, n5x5_reduce, n5x5, pool_proj = filters
    b0 = conv(x, n1x1, 1, name=f"{name}_branch_0_conv2d_0a_1x1")
    b1 = conv(x, n3x3_reduce, 1, name=f"{name}_branch_1_conv2d_0a_1x1")
    b1 = conv(b1, n3x3, 3, name=f"{name}_branch_1_conv2d_0b_3x3")
    b2 = conv(x, n5x5_reduce, 1, name=f"{name}_branch_2_conv2d_0a_1x1")
    b2 = conv(
        b2,
        n5x5,
        wide_kernel,
        name=f"{name}_branch_2_conv2d_0b_{blocks.kernel_tag(wide_kernel)}",
    )
    b3 = blocks.max_pool(x, 3, strides=1, padding="same", name=f"{name}_branch_3_maxpool_0a_3x3")
    b3 = conv(b3, pool_proj, 1, name=f"{name}_branch_3_conv2d_0b_1x1")
    return blocks.concat([b0, b1, b2, b3], name=name)


def stem(x, conv, paper):
    """224x224x3 -> 28x28x192 (Table 1 up to the second max-pool)."""
    x = conv(x, 64, 7, strides=2, name="conv2d_1a_7x7")  # 112x112x64
    x = blocks.max_pool(x, 3, strides=2, padding="same", name="maxpool_2a_3x3")  # 56x56x64
    if paper:
        x = LocalResponseNormalization(name="maxpool_2a_3x3_lrn")(x)
    x = conv(x, 64, 1, name="conv2d_2b_1x1")  # 56x56x64
    x = conv(x, 192, 3, name="conv2d_2c_3x3")  # 56x56x192
    if paper:
        x = LocalResponseNormalization(name="conv2d_2c_3x3_lrn")(x)
    return blocks.max_pool(x, 3, strides=2, padding="same", name="maxpool_3a_3x3")


def backbone(x, conv, variant):
    """GoogLeNet body; returns the 7x7x1024 map and the taps of both auxiliary heads."""
    paper = variant == "paper"
    if paper:
        conv = functools.partial(conv, batch_norm=False)
    module = functools.partial(inception_module, conv=conv, wide_kernel=5 if paper else 3)

    x = stem(x, conv, paper)  # 28x28x192
    for name in ("mixed_3b", "mixed_3c"):
        x = module(x, filters=MODULE_FILTERS[name], name=name)  # 28x28x480
    x = blocks.max_pool(x, 3, strides=2, padding="same", name="maxpool_4a_3x3")  # 14x14x480
    taps = {}
    for name in ("mixed_4b", "mixed_4c", "mixed_4d", "mixed_4e", "mixed_4f"):
        x = taps[name] = module(x, filters=MODULE_FILTERS[name], name=name)  # 14x14x832
    if paper:
        x = blocks.max_pool(x, 3, strides=2, padding="same", name="maxpool_5a_3x3")
    else:
        x = blocks.max_pool(x, 2, strides=2, padding="same", name="maxpool_5a_2x2")
    for name in ("mixed_5b", "mixed_5c"):
        x = module(x, filters=MODULE_FILTERS[name], name=name)  # 7x7x1024
    # The paper's auxiliary classifiers sit on 4a and 4d.
    return x, {"aux_1": (taps["mixed_4b"], "fc"), "aux_2": (taps["mixed_4e"], "fc")}


@register_model(
    name="inception_v1",
    title="GoogLeNet (Inception-v1)",
    paper="Szegedy et al., Going Deeper with Convolutions, CVPR 2015",
    default_size=224,
    min_size=32,
    final_grid=(7, 1024),
    num_params=6_632_184,
    num_params_aux=13_012_424,
    aux_loss_weight=0.3,
    endpoints={
        "P1": "conv2d_1a_7x7",
        "P2": "conv2d_2c_3x3",
        "P3": "mixed_3c",
        "P4": "mixed_4f",
        "P5": "mixed_5c",
    },
    aux_taps={"aux_1": "mixed_4b", "aux_2": "mixed_4e"},
    macs=1.51,
    variants={
        "released": {},
        "paper": dict(num_params=6_998_552, num_params_aux=13_378_792, macs=1.59),
    },
)
def InceptionV1(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="inception_v1",
    *,
    aux_logits=False,
    dropout_rate=0.2,
    include_preprocessing=False,
    depth_multiplier=1.0,
    variant="released",
):
    """GoogLeNet / Inception-v1 (Szegedy et al., CVPR 2015).

    The two variants (see the module docstring) have the same grid sizes and
    channels at every stage. The auxiliary heads are the paper's design (avg
    pool 5x5/3 V -> 1x1 conv 128 -> FC 1024 -> dropout 0.7 -> FC) on 4a and 4d
    (``mixed_4b``, ``mixed_4e``), weighted 0.3 each in the paper's loss. The
    released code has no auxiliary heads and its checkpoints none: in that
    variant they are ours (as torchvision's GoogLeNet adds them). In both
    variants their 1x1 conv is followed by BatchNormalization, which the
    paper's heads lack.

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
        name: model name, default ``"inception_v1"``.
        aux_logits: add the two auxiliary classifiers; the model then returns
            ``{"predictions": ..., "aux_1": ..., "aux_2": ...}``. Needs a
            static input size. Default False.
        dropout_rate: dropout before the classifier, default 0.2 (keep-prob
            0.8 in the released code; the paper used 0.4).
        include_preprocessing: accept raw 0-255 pixels and scale them to
            [-1, 1] inside the graph. Default False.
        depth_multiplier: TF-slim width multiplier for every conv, default 1.0.
        variant: ``"released"`` (TF-slim, BN, no LRN, 3x3 "5x5" branches,
            2x2/2 pool before 5a) or ``"paper"`` (no BN, LRN, true 5x5
            branches, 3x3/2 pool before 5a). Default ``"released"``.

    Returns:
        A ``keras.Model``.
    """
    return base.build_model(
        InceptionV1.spec,
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


GoogLeNet = InceptionV1
