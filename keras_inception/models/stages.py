"""Stems and grid reductions that several networks of the family share.

Inception-v3 (Szegedy et al., "Rethinking the Inception Architecture for
Computer Vision", CVPR 2016) opens every later network with its first three
convs; its released stem is also the released Inception-ResNet-v2's. The
Inception-v4 stem (Szegedy et al., "Inception-v4, Inception-ResNet and the
Impact of Residual Connections on Learning", AAAI 2017, Figure 3) is also the
paper Inception-ResNet-v2's, and Reduction-A (Figure 7) with its ``(k, l, m,
n)`` of Table 1 belongs to Inception-v4 and both Inception-ResNets.

Grids in the comments are those at 299x299 input.
"""

from keras_inception.models import blocks

# Inception-v3, Sec. 9, Table 2: the stem for each receptive field (the default
# input size), as (stride of the first conv, max-pool after the first conv
# group). At its own size, 151 runs every later layer on the 299 network's
# grids (same cost); 79 runs conv2d_2a/2b on 75x75 instead of 147x147 and is
# 6 % cheaper (docs/architectures.md).
LOW_RESOLUTION_STEMS = {299: (2, True), 151: (1, True), 79: (1, False)}
# The smallest input of each of those stems: one pixel left after the last
# grid reduction, for the released and the paper Inception-v3 alike.
LOW_RESOLUTION_MIN_SIZES = {299: 75, 151: 39, 79: 21}


def stem_convs(x, conv, first_stride=2):
    """299x299x3 -> 147x147x64: the three convs that open Inception-v3, v4 and the ResNets."""
    x = conv(x, 32, 3, strides=first_stride, padding="valid", name="conv2d_1a_3x3")  # 149x149x32
    x = conv(x, 32, 3, padding="valid", name="conv2d_2a_3x3")  # 147x147x32
    return conv(x, 64, 3, name="conv2d_2b_3x3")  # 147x147x64


def inception_v3_stem(x, conv, input_resolution=299):
    """299x299x3 -> 35x35x192: the released Inception-v3 stem (TF-slim, keras.applications).

    With ``input_resolution`` 151 or 79, Table 2's stem for that receptive
    field; the comments give the grids at 299 | 151 | 79 pixels.
    """
    first_stride, first_pool = LOW_RESOLUTION_STEMS[input_resolution]
    x = stem_convs(x, conv, first_stride)  # 147|147|75, x64
    if first_pool:
        x = blocks.max_pool(x, name="maxpool_3a_3x3")  # 73|73|-, x64
    x = conv(x, 80, 1, padding="valid", name="conv2d_3b_1x1")  # 73|73|75, x80
    x = conv(x, 192, 3, padding="valid", name="conv2d_4a_3x3")  # 71|71|73, x192
    return blocks.max_pool(x, name="maxpool_5a_3x3")  # 35|35|36, x192


def inception_v4_stem(x, conv, variant):
    """299x299x3 -> 35x35x384: the Inception-v4 stem (Figure 3).

    ``variant="paper"`` runs the 7x7 factorization of ``Mixed_4a`` as 7x1
    then 1x7, as the figure prints it; the released code runs 1x7 then 7x1.
    """
    x = stem_convs(x, conv)  # 147x147x64

    b0 = blocks.max_pool(x, name="mixed_3a_branch_0_maxpool_0a_3x3")
    b1 = conv(x, 96, 3, strides=2, padding="valid", name="mixed_3a_branch_1_conv2d_0a_3x3")
    x = blocks.concat([b0, b1], name="mixed_3a")  # 73x73x160

    b0 = conv(x, 64, 1, name="mixed_4a_branch_0_conv2d_0a_1x1")
    b0 = conv(b0, 96, 3, padding="valid", name="mixed_4a_branch_0_conv2d_1a_3x3")
    b1 = conv(x, 64, 1, name="mixed_4a_branch_1_conv2d_0a_1x1")
    first = (7, 1) if variant == "paper" else (1, 7)
    b1 = blocks.conv_chain(
        b1, conv, [(64, k) for k in blocks.alternating(first, 2)], name="mixed_4a_branch_1"
    )
    b1 = conv(b1, 96, 3, padding="valid", name="mixed_4a_branch_1_conv2d_1a_3x3")
    x = blocks.concat([b0, b1], name="mixed_4a")  # 71x71x192

    b0 = conv(x, 192, 3, strides=2, padding="valid", name="mixed_5a_branch_0_conv2d_1a_3x3")
    b1 = blocks.max_pool(x, name="mixed_5a_branch_1_maxpool_1a_3x3")
    return blocks.concat([b0, b1], name="mixed_5a")  # 35x35x384


def reduction_a(x, conv, filters, *, name):
    """35x35 -> 17x17 Reduction-A (Inception-v4 paper, Figure 7) with the (k, l, m, n) of Table 1.

    Output channels: ``n + m + x``'s own (the max-pool branch passes it on).
    """
    k, l, m, n = filters  # noqa: E741  (Table 1's names)
    b0 = conv(x, n, 3, strides=2, padding="valid", name=f"{name}_branch_0_conv2d_1a_3x3")
    b1 = conv(x, k, 1, name=f"{name}_branch_1_conv2d_0a_1x1")
    b1 = conv(b1, l, 3, name=f"{name}_branch_1_conv2d_0b_3x3")
    b1 = conv(b1, m, 3, strides=2, padding="valid", name=f"{name}_branch_1_conv2d_1a_3x3")
    b2 = blocks.max_pool(x, name=f"{name}_branch_2_maxpool_1a_3x3")
    return blocks.concat([b0, b1, b2], name=name)


__all__ = [
    "LOW_RESOLUTION_MIN_SIZES",
    "LOW_RESOLUTION_STEMS",
    "inception_v3_stem",
    "inception_v4_stem",
    "reduction_a",
    "stem_convs",
]
