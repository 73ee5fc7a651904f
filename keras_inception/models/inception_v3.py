"""Inception-v3.

Szegedy, Vanhoucke, Ioffe, Shlens, Wojna. "Rethinking the Inception
Architecture for Computer Vision", CVPR 2016 (arXiv:1512.00567).

The default graph is the released one (TF-slim ``inception_v3.py`` and
``keras.applications.InceptionV3``), which keeps the paper's valid/same
padding. ``variant="paper"`` builds the paper as written where the two differ:

- stem: Table 1's rows, 3x3/2 V 32 -> 3x3 V 32 -> 3x3 S 64 -> max-pool 3x3/2 V
  -> 3x3 V 80 -> 3x3/2 V 192 -> 3x3 S 288 (35x35x288); the released stem has
  1x1 80 -> 3x3 V 192 -> max-pool 3x3/2 (35x35x192). The table marks only the
  third conv "padded", but its last conv must be padded too for the next row's
  35x35x288 (docs/architectures.md);
- the 35x35 modules as Figure 5 draws them, 1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 ->
  3x3 | pool -> 1x1, 288 channels each as the text says; the released code
  keeps a 1x1 -> 5x5 branch (tensorflow/models#406) and starts at 256;
- five 17x17 modules (Figure 6, as the text of Sec. 6 counts them), their
  double 7x7 branch starting with 1x7 as the figure does; the code has four
  (``Mixed_6b``-``6e``), starting with 7x1;
- both grid reductions as Figure 10, a 1x1 first in each conv branch and a
  3x3 before the stride-2 conv; the released ``Mixed_6a`` has no 1x1 in its
  single-conv branch and ``Mixed_7a`` a 1x7 -> 7x1 pair for the 3x3;
- the 8x8 modules (Figure 7) and the BN auxiliary head (Sec. 4, Table 3: BN on its
  conv and fully connected layers, here the 5x5 conv 768 over the whole 5x5
  grid) are the same in both.

The paper gives no filter counts for its modules; the paper variant keeps the
released widths (the choices it adds are in docs/architectures.md).

``input_resolution`` selects one of the three stems that Sec. 9 ("Performance
on Lower Resolution Input", Table 2) compares at almost identical cost: 299
(stride 2, then max-pooling: the released network), 151 (stride 1, then
max-pooling) and 79 (stride 1, no max-pooling). "After the first layer" is read
as after the first conv group (``conv2d_1a_3x3``..``conv2d_2b_3x3``), where the
released graph has its first max-pool; the first conv's stride is what changes.
From their own input sizes the three reach a 35x35 grid (36x36 for 79) after
the stem and 8x8 at the end; the weights have the same shapes in all three.
Both variants accept all three.
"""

from keras_inception.models import base
from keras_inception.models import blocks
from keras_inception.models import stages
from keras_inception.specs import register_model

# The 35x35 modules (Figure 5) and their pool projections: the released code
# widens them 256 -> 288 -> 288; the text has "3 traditional inception modules
# at the 35x35 with 288 filters each", after a stem that ends at 35x35x288.
MODULES_35 = {
    "released": {"mixed_5b": 32, "mixed_5c": 64, "mixed_5d": 64},
    "paper": {"mixed_5b": 64, "mixed_5c": 64, "mixed_5d": 64},
}
# The 17x17 modules (Figure 6, n = 7) and the width ``n`` of their 7x7
# factorizations: four in the released code, five in the text (Sec. 6, Table 1).
MODULES_17 = {
    "released": {"mixed_6b": 128, "mixed_6c": 160, "mixed_6d": 160, "mixed_6e": 192},
    "paper": {
        "mixed_6b": 128,
        "mixed_6c": 160,
        "mixed_6d": 160,
        "mixed_6e": 160,
        "mixed_6f": 192,
    },
}
# Grid reductions as two conv branches of (filters, kernel), the last conv
# 3x3/2 "V", beside a 3x3/2 max-pool. Figure 10 puts a 1x1 first in both conv
# branches and a 3x3 before the stride-2 conv of one; the released code drops
# the 1x1 of Mixed_6a and factorizes Mixed_7a's 3x3 into 1x7 and 7x1.
REDUCTIONS = {
    "released": {
        "mixed_6a": (((384, 3),), ((64, 1), (96, 3), (96, 3))),  # 17x17x768
        "mixed_7a": (((192, 1), (320, 3)), ((192, 1), (192, (1, 7)), (192, (7, 1)), (192, 3))),
    },
    "paper": {
        "mixed_6a": (((192, 1), (384, 3)), ((64, 1), (96, 3), (96, 3))),  # 17x17x768
        "mixed_7a": (((192, 1), (320, 3)), ((192, 1), (192, 3), (192, 3))),  # 8x8x1280
    },
}


def inception_a(x, conv, pool_filters, wide_kernel, *, name):
    """35x35 module (Figure 5): 1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 -> 3x3 | pool -> 1x1.

    ``wide_kernel`` is the kernel of the second branch: 3 in Figure 5, 5 in
    the released code.
    """
    b0 = conv(x, 64, 1, name=f"{name}_branch_0_conv2d_0a_1x1")
    b1 = conv(x, 48, 1, name=f"{name}_branch_1_conv2d_0a_1x1")
    b1 = conv(
        b1, 64, wide_kernel, name=f"{name}_branch_1_conv2d_0b_{blocks.kernel_tag(wide_kernel)}"
    )
    b2 = conv(x, 64, 1, name=f"{name}_branch_2_conv2d_0a_1x1")
    b2 = blocks.conv_chain(b2, conv, [(96, 3), (96, 3)], name=f"{name}_branch_2")
    b3 = blocks.avg_pool(x, name=f"{name}_branch_3_avgpool_0a_3x3")
    b3 = conv(b3, pool_filters, 1, name=f"{name}_branch_3_conv2d_0b_1x1")
    return blocks.concat([b0, b1, b2, b3], name=name)


def grid_reduction(x, conv, branches, *, name):
    """Grid reduction (Figure 10): conv branches ending in a 3x3/2 "V" conv and a 3x3/2 max-pool."""
    outputs = []
    for b, branch in enumerate(branches):
        y = x
        for i, (filters, kernel) in enumerate(branch):
            last = i == len(branch) - 1
            step = "1a" if last else f"0{'abcdefg'[i]}"
            y = conv(
                y,
                filters,
                kernel,
                strides=2 if last else 1,
                padding="valid" if last else "same",
                name=f"{name}_branch_{b}_conv2d_{step}_{blocks.kernel_tag(kernel)}",
            )
        outputs.append(y)
    outputs.append(blocks.max_pool(x, name=f"{name}_branch_{len(branches)}_maxpool_1a_3x3"))
    return blocks.concat(outputs, name=name)


def inception_b(x, conv, n, first, *, name):
    """17x17 module with the 7x7 convs factorized into 1x7 and 7x1 (Figure 6).

    ``first`` is the first kernel of the double 7x7 branch: ``(1, 7)`` as in
    the figure, ``(7, 1)`` in the released code.
    """
    b0 = conv(x, 192, 1, name=f"{name}_branch_0_conv2d_0a_1x1")
    b1 = conv(x, n, 1, name=f"{name}_branch_1_conv2d_0a_1x1")
    b1 = blocks.conv_chain(b1, conv, [(n, (1, 7)), (192, (7, 1))], name=f"{name}_branch_1")
    b2 = conv(x, n, 1, name=f"{name}_branch_2_conv2d_0a_1x1")
    kernels = blocks.alternating(first, 4)
    b2 = blocks.conv_chain(b2, conv, list(zip((n, n, n, 192), kernels)), name=f"{name}_branch_2")
    b3 = blocks.avg_pool(x, name=f"{name}_branch_3_avgpool_0a_3x3")
    b3 = conv(b3, 192, 1, name=f"{name}_branch_3_conv2d_0b_1x1")
    return blocks.concat([b0, b1, b2, b3], name=name)


def inception_c(x, conv, *, name):
    """8x8 module with expanded filter bank outputs (Figure 7): 2048 channels."""
    b0 = conv(x, 320, 1, name=f"{name}_branch_0_conv2d_0a_1x1")
    b1 = conv(x, 384, 1, name=f"{name}_branch_1_conv2d_0a_1x1")
    b1 = blocks.split_3x3(b1, conv, 384, name=f"{name}_branch_1", letters="bc")
    b2 = conv(x, 448, 1, name=f"{name}_branch_2_conv2d_0a_1x1")
    b2 = conv(b2, 384, 3, name=f"{name}_branch_2_conv2d_0b_3x3")
    b2 = blocks.split_3x3(b2, conv, 384, name=f"{name}_branch_2", letters="cd")
    b3 = blocks.avg_pool(x, name=f"{name}_branch_3_avgpool_0a_3x3")
    b3 = conv(b3, 192, 1, name=f"{name}_branch_3_conv2d_0b_1x1")
    return blocks.concat([b0, b1, b2, b3], name=name)


def paper_stem(x, conv, input_resolution=299):
    """299x299x3 -> 35x35x288: Table 1's stem, read as in docs/architectures.md.

    With ``input_resolution`` 151 or 79, Table 2's stem for that receptive
    field; the comments give the grids at 299 | 151 | 79 pixels.
    """
    first_stride, first_pool = stages.LOW_RESOLUTION_STEMS[input_resolution]
    x = stages.stem_convs(x, conv, first_stride)  # 147|147|75, x64
    if first_pool:
        x = blocks.max_pool(x, name="maxpool_3a_3x3")  # 73|73|-, x64
    x = conv(x, 80, 3, padding="valid", name="conv2d_3b_3x3")  # 71|71|73, x80
    x = conv(x, 192, 3, strides=2, padding="valid", name="conv2d_4a_3x3")  # 35|35|36, x192
    return conv(x, 288, 3, name="conv2d_5a_3x3")  # 35|35|36, x288


def backbone(x, conv, variant, input_resolution=299):
    """Inception-v3 body (Table 1); returns the 8x8x2048 map and the auxiliary tap."""
    paper = variant == "paper"
    if paper:
        x = paper_stem(x, conv, input_resolution)  # 35x35x288
    else:
        x = stages.inception_v3_stem(x, conv, input_resolution)  # 35x35x192
    for name, pool_filters in MODULES_35[variant].items():
        x = inception_a(x, conv, pool_filters, 3 if paper else 5, name=name)  # 35x35x288
    x = grid_reduction(x, conv, REDUCTIONS[variant]["mixed_6a"], name="mixed_6a")  # 17x17x768
    for name, n in MODULES_17[variant].items():
        x = inception_b(x, conv, n, (1, 7) if paper else (7, 1), name=name)  # 17x17x768
    aux = x
    x = grid_reduction(x, conv, REDUCTIONS[variant]["mixed_7a"], name="mixed_7a")  # 8x8x1280
    x = inception_c(x, conv, name="mixed_7b")  # 8x8x2048
    x = inception_c(x, conv, name="mixed_7c")  # 8x8x2048
    return x, {"aux": (aux, "conv")}


# keras.applications.InceptionV3's names for the joins of the released graph.
KERAS_APPLICATIONS_NAMES = {
    **{
        f"mixed{i}": ours
        for i, ours in enumerate(
            (
                "mixed_5b",
                "mixed_5c",
                "mixed_5d",
                "mixed_6a",
                "mixed_6b",
                "mixed_6c",
                "mixed_6d",
                "mixed_6e",
                "mixed_7a",
                "mixed_7b",
                "mixed_7c",
            )
        )
    },
    "mixed9_0": "mixed_7b_branch_1",
    "mixed9_1": "mixed_7c_branch_1",
}


@register_model(
    name="inception_v3",
    title="Inception-v3",
    paper="Szegedy et al., Rethinking the Inception Architecture for Computer Vision, CVPR 2016",
    default_size=299,
    min_size=stages.LOW_RESOLUTION_MIN_SIZES[299],
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
    input_resolutions=stages.LOW_RESOLUTION_MIN_SIZES,
    aux_taps={"aux": "mixed_6e"},
    keras_applications_names=KERAS_APPLICATIONS_NAMES,
    macs=5.73,
    variants={
        "released": {},
        "paper": dict(
            num_params=25_512_712,
            num_params_aux=28_840_304,
            endpoints={
                "P1": "conv2d_2b_3x3",
                "P2": "conv2d_3b_3x3",
                "P3": "mixed_5d",
                "P4": "mixed_6f",
                "P5": "mixed_7c",
            },
            aux_taps={"aux": "mixed_6f"},
            keras_applications_names={},
            macs=6.29,
        ),
    },
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
    """Inception-v3 (Szegedy et al., CVPR 2016).

    Stem (Table 1) -> 3 x Figure 5 -> grid reduction -> 4 (paper: 5) x
    Figure 6 -> grid reduction -> 2 x Figure 7, 8x8x2048 features at 299x299;
    see the module docstring for the two variants.

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
        aux_logits: add the BN auxiliary classifier on the last 17x17 module
            (``mixed_6e``; paper: ``mixed_6f``); the model
            then returns ``{"predictions": ..., "aux": ...}``. Default False.
        dropout_rate: dropout before the classifier, default 0.2 (keep-prob 0.8
            in the paper's code).
        include_preprocessing: accept raw 0-255 pixels and scale them to
            [-1, 1] inside the graph. Default False.
        depth_multiplier: TF-slim width multiplier for every conv, default 1.0.
        variant: ``"released"`` (TF-slim and keras.applications, the
            checkpoints' graph) or ``"paper"`` (Table 1 and Figures 5-7 and 10,
            see the module docstring). Default ``"released"``.
        input_resolution: the receptive field of Sec. 9 / Table 2 whose stem
            to build: ``299`` (default: stride 2, then max-pooling, the
            released network), ``151`` (stride 1, then max-pooling) or ``79``
            (stride 1, no max-pooling); also the default input size. The
            published weights belong to the 299 stem.

    Returns:
        A ``keras.Model``.
    """
    InceptionV3.spec.at_resolution(input_resolution)  # a bad value fails before the weights
    if input_resolution != 299 and isinstance(weights, str) and _published(weights):
        raise ValueError(
            "The published Inception-v3 weights were trained with the 299 stem; "
            "with another `input_resolution` pass `weights=None` or the path of "
            "weights trained with that stem. "
            f"Received: weights={weights!r}, input_resolution={input_resolution!r}"
        )
    return base.build_model(
        InceptionV3.spec,
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
        input_resolution=input_resolution,
    )


def _published(weights):
    """Whether ``weights`` names a record of the weights registry (not a file)."""
    from keras_inception.weights import registry as weights_registry

    return (
        weights == "imagenet" or weights_registry.find_weights("inception_v3", weights) is not None
    )
