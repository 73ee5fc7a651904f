"""Blocks shared by Inception-ResNet-v1 and -v2.

Szegedy, Ioffe, Vanhoucke, Alemi. "Inception-v4, Inception-ResNet and the
Impact of Residual Connections on Learning", AAAI 2017 (arXiv:1602.07261).

Both networks use the same residual modules with different filter counts, so a
module is a table of branches, each a sequence of ``(filters, kernel)`` convs;
the branches are concatenated, projected back to the input width by a linear
1x1 conv and added to the input after scaling (Section 3.3).
"""

import math
import numbers

from keras_inception.models import blocks

# The released code's residual scales for the 35x35, 17x17 and 8x8 stages; the
# paper recommends scales between 0.1 and 0.3 (Section 3.3).
RESIDUAL_SCALES = (0.17, 0.10, 0.20)


def stage_scales(residual_scale):
    """``residual_scale`` (a number or one per stage) as three floats.

    Raises:
        ValueError: not a non-negative number or a sequence of three of them.
    """
    if isinstance(residual_scale, numbers.Real):
        scales = (residual_scale,) * 3
    elif isinstance(residual_scale, (tuple, list)):
        scales = tuple(residual_scale)
    else:
        scales = ()
    if len(scales) != 3 or not all(
        isinstance(s, numbers.Real) and not isinstance(s, bool) and math.isfinite(s) and s >= 0
        for s in scales
    ):
        raise ValueError(
            "`residual_scale` must be a non-negative number or a tuple of three "
            "(35x35, 17x17 and 8x8 stages). "
            f"Received: residual_scale={residual_scale!r}"
        )
    return tuple(float(s) for s in scales)


def unit_name(branch, index, kernel, length):
    """TF-slim scope of a conv in a residual module's branch.

    A branch made of a single conv is ``Conv2d_1x1``; longer branches count
    ``Conv2d_0a_1x1``, ``Conv2d_0b_3x3``, ...
    """
    if length == 1:
        return f"branch_{branch}_conv2d_{blocks.kernel_tag(kernel)}"
    return f"branch_{branch}_conv2d_0{'abcdefg'[index]}_{blocks.kernel_tag(kernel)}"


def conv_branches(x, conv, branches, *, name):
    """The conv branches of a module, each a tuple of ``(filters, kernel)``; a list of outputs."""
    outputs = []
    for b, branch in enumerate(branches):
        y = x
        for i, (filters, kernel) in enumerate(branch):
            y = conv(y, filters, kernel, name=f"{name}_{unit_name(b, i, kernel, len(branch))}")
        outputs.append(y)
    return outputs


def residual_block(x, conv, branches, scale, *, name, activation="relu"):
    """One Inception-ResNet module: ``act(x + scale * up(concat(branches)))``.

    Args:
        x: input tensor.
        conv: the conv-BN-ReLU unit (``blocks.conv_bn`` with the width bound).
        branches: table of branches, each a tuple of ``(filters, kernel)``.
        scale: residual scale.
        name: block name, e.g. ``"block35_3"``.
        activation: after the sum, default ``"relu"``; ``None`` for the
            released networks' last block.
    """
    outputs = conv_branches(x, conv, branches, name=name)
    return blocks.scaled_residual(x, outputs, scale, name=name, activation=activation)


def residual_stage(x, conv, branches, repeats, scale, *, prefix):
    """``repeats`` residual modules named ``<prefix>_1`` ... ``<prefix>_<repeats>``."""
    for index in range(1, repeats + 1):
        x = residual_block(x, conv, branches, scale, name=f"{prefix}_{index}")
    return x


def reduction_b(x, conv, filters, *, name):
    """17x17 -> 8x8 Reduction-B of the Inception-ResNets (Figures 12 and 18).

    ``filters`` are the widths of the three stride-2 3x3 convs and of the
    middle 3x3 of the third branch, ``(a, b, c, d)``: branches
    1x1 256 -> 3x3/2 a | 1x1 256 -> 3x3/2 b | 1x1 256 -> 3x3 c -> 3x3/2 d | max-pool.
    """
    a, b, c, d = filters
    b0 = conv(x, 256, 1, name=f"{name}_branch_0_conv2d_0a_1x1")
    b0 = conv(b0, a, 3, strides=2, padding="valid", name=f"{name}_branch_0_conv2d_1a_3x3")
    b1 = conv(x, 256, 1, name=f"{name}_branch_1_conv2d_0a_1x1")
    b1 = conv(b1, b, 3, strides=2, padding="valid", name=f"{name}_branch_1_conv2d_1a_3x3")
    b2 = conv(x, 256, 1, name=f"{name}_branch_2_conv2d_0a_1x1")
    b2 = conv(b2, c, 3, name=f"{name}_branch_2_conv2d_0b_3x3")
    b2 = conv(b2, d, 3, strides=2, padding="valid", name=f"{name}_branch_2_conv2d_1a_3x3")
    b3 = blocks.max_pool(x, name=f"{name}_branch_3_maxpool_1a_3x3")
    return blocks.concat([b0, b1, b2, b3], name=name)
