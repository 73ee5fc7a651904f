"""Parameter counts of every (network, variant) against independent figures.

Keras counts a BatchNormalization(scale=False) channel three times (beta,
moving mean, moving variance), PyTorch twice (gamma, beta): a torchvision or
timm count plus one per BN channel is the Keras count of the same graph.

Where no reference publishes a count (the paper variants, BN-Inception,
Inception-ResNet-v1), the expected figure is computed here from the papers'
filter tables, typed in this file from the papers (and, where the papers give
no width, from the released code's), independently of the builders' own
tables: a conv ``k x k`` from ``c_in`` to ``c_out`` has ``k*k*c_in*c_out``
weights plus 3 per output channel (BN) or 1 (bias), a dense layer
``c_in*c_out + c_out``.
"""

import functools

import keras
import pytest

import keras_inception
from keras_inception import registry


def bn_channels(model):
    return sum(
        layer.moving_mean.shape[0]
        for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )


def conv(c_in, c_out, kernel=1, bn=True):
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    return kh * kw * c_in * c_out + (3 if bn else 1) * c_out


def dense(c_in, c_out):
    return c_in * c_out + c_out


def conv_aux(c_in, kernel=5):
    """Inception-v3's BN auxiliary head: 1x1 128 -> kxk 768 -> 1000 classes."""
    return conv(c_in, 128) + conv(128, 768, kernel) + dense(768, 1000)


# GoogLeNet, Table 1 of Szegedy et al. 2014: #1x1, #3x3 reduce, #3x3, #5x5
# reduce, #5x5, pool proj of 3a .. 5b.
GOOGLENET = [
    (64, 96, 128, 16, 32, 32),
    (128, 128, 192, 32, 96, 64),
    (192, 96, 208, 16, 48, 64),
    (160, 112, 224, 24, 64, 64),
    (128, 128, 256, 24, 64, 64),
    (112, 144, 288, 32, 64, 64),
    (256, 160, 320, 32, 128, 128),
    (256, 160, 320, 32, 128, 128),
    (384, 192, 384, 48, 128, 128),
]


def googlenet_paper():
    """Table 1 with true 5x5 convs, conv biases and no BN; aux heads (Sec. 5) on 4a and 4d."""
    total = conv(3, 64, 7, bn=False) + conv(64, 64, bn=False) + conv(64, 192, 3, bn=False)
    c, taps = 192, []
    for i, (n1, r3, n3, r5, n5, pool) in enumerate(GOOGLENET):
        total += sum(
            (
                conv(c, n1, bn=False),
                conv(c, r3, bn=False),
                conv(r3, n3, 3, bn=False),
                conv(c, r5, bn=False),
                conv(r5, n5, 5, bn=False),
                conv(c, pool, bn=False),
            )
        )
        c = n1 + n3 + n5 + pool
        if i in (2, 5):  # 4a, 4d
            taps.append(c)
    total += dense(c, 1000)
    # Ours: 14x14 -> 5x5/3 avg-pool -> 4x4, a BN'd 1x1 conv 128, FC 1024, FC.
    aux = sum(conv(tap, 128) + dense(4 * 4 * 128, 1024) + dense(1024, 1000) for tap in taps)
    return total, total + aux


# BN-Inception, Figure 5 of Ioffe and Szegedy 2015: #1x1, #3x3 reduce, #3x3,
# double #3x3 reduce, double #3x3, pool proj (0: pass-through, stride-2 module).
BN_INCEPTION = [
    (64, 64, 64, 64, 96, 32),
    (64, 64, 96, 64, 96, 64),
    (0, 128, 160, 64, 96, 0),
    (224, 64, 96, 96, 128, 128),
    (192, 96, 128, 96, 128, 128),
    (160, 128, 160, 128, 160, 128),
    (96, 128, 192, 160, 192, 128),
    (0, 128, 192, 192, 256, 0),
    (352, 192, 320, 160, 224, 128),
    (352, 192, 320, 192, 224, 128),
]


def bn_inception(pool_proj_4c_4d):
    """Figure 5 (4c and 4d pool projections as given); aux head on 4d (our design)."""
    # Separable 7x7/2, depthwise multiplier 8: 7*7*3*8 depthwise, 24 -> 64 pointwise.
    total = 7 * 7 * 3 * 8 + 24 * 64 + 3 * 64 + conv(64, 64) + conv(64, 192, 3)
    c = 192
    for i, (n1, r3, n3, rd, nd, pool) in enumerate(BN_INCEPTION):
        if i in (5, 6):
            pool = pool_proj_4c_4d
        total += (conv(c, n1) if n1 else 0) + conv(c, r3) + conv(r3, n3, 3)
        total += conv(c, rd) + conv(rd, nd, 3) + conv(nd, nd, 3) + (conv(c, pool) if pool else 0)
        if i == 6:
            tap = n1 + n3 + nd + pool
        c = n1 + n3 + nd + (pool or c)
    total += dense(c, 1000)
    # 14x14 -> 5x5/3 avg-pool -> 4x4: the head's "5x5" conv shrinks to 4x4.
    return total, total + conv_aux(tap, kernel=4)


def inception_v3_paper():
    """Table 1, Figures 5, 6, 7, 10, widths as read in docs/architectures.md."""
    total = (
        conv(3, 32, 3)
        + conv(32, 32, 3)
        + conv(32, 64, 3)
        + conv(64, 80, 3)
        + conv(80, 192, 3)
        + conv(192, 288, 3)
    )
    for _ in range(3):  # Figure 5: 1x1 64 | 1x1 48 -> 3x3 64 | 1x1 64 -> 3x3 96 -> 3x3 96 | pool 64
        total += (
            conv(288, 64)
            + conv(288, 48)
            + conv(48, 64, 3)
            + conv(288, 64)
            + conv(64, 96, 3)
            + conv(96, 96, 3)
            + conv(288, 64)
        )
    # Figure 10: 1x1 192 -> 3x3/2 384 | 1x1 64 -> 3x3 96 -> 3x3/2 96 | pool: 768.
    total += conv(288, 192) + conv(192, 384, 3) + conv(288, 64) + conv(64, 96, 3) + conv(96, 96, 3)
    for n in (128, 160, 160, 160, 192):  # Figure 6, n = 7
        total += conv(768, 192) + conv(768, n) + conv(n, n, (1, 7)) + conv(n, 192, (7, 1))
        total += conv(768, n) + 3 * conv(n, n, (1, 7)) + conv(n, 192, (1, 7)) + conv(768, 192)
    # Figure 10: 1x1 192 -> 3x3/2 320 | 1x1 192 -> 3x3 192 -> 3x3/2 192 | pool: 1280.
    total += conv(768, 192) + conv(192, 320, 3) + conv(768, 192) + 2 * conv(192, 192, 3)
    for c in (1280, 2048):  # Figure 7
        total += conv(c, 320) + conv(c, 384) + 2 * conv(384, 384, (1, 3))
        total += conv(c, 448) + conv(448, 384, 3) + 2 * conv(384, 384, (1, 3)) + conv(c, 192)
    total += dense(2048, 1000)
    return total, total + conv_aux(768)


def inception_v4_stem():
    """Figure 3: 299x299x3 -> 35x35x384."""
    return (
        conv(3, 32, 3)
        + conv(32, 32, 3)
        + conv(32, 64, 3)
        + conv(64, 96, 3)
        + conv(160, 64)
        + conv(64, 96, 3)
        + conv(160, 64)
        + 2 * conv(64, 64, (1, 7))
        + conv(64, 96, 3)
        + conv(192, 192, 3)
    )


def residual(c, branches):
    """An Inception-ResNet module: conv branches of (c_in, c_out, kernel), biased up-projection."""
    convs = sum(conv(a, b, k) for branch in branches for a, b, k in branch)
    return convs + conv(sum(branch[-1][1] for branch in branches), c, bn=False)


def inception_resnet(stem, c35, a, reduction_a, b, reduction_b, c_mid, repeats, last):
    """Stem, A x n, Reduction-A (k, l, m, n), B x n, Reduction-B, C x n (Figure 15)."""
    k, l, m, n = reduction_a  # noqa: E741  (Table 1's names)
    c17 = c35 + m + n
    r0, r1, r2, r3 = reduction_b
    c8 = c17 + r0 + r1 + r3
    total = stem + repeats[0] * residual(c35, a(c35))
    total += conv(c35, n, 3) + conv(c35, k) + conv(k, l, 3) + conv(l, m, 3)
    total += repeats[1] * residual(c17, b(c17))
    total += (
        3 * conv(c17, 256)
        + conv(256, r0, 3)
        + conv(256, r1, 3)
        + conv(256, r2, 3)
        + conv(r2, r3, 3)
    )
    total += (repeats[2] + last) * residual(c8, c_mid(c8))
    return total, c17, c8


def inception_resnet_v1(repeats_c8):
    """Figures 14, 10, 7 (192, 192, 256, 384), 11, 12, 13; 5 / 10 / 5 (+ FaceNet's last) modules."""
    stem = (
        conv(3, 32, 3)
        + conv(32, 32, 3)
        + conv(32, 64, 3)
        + conv(64, 80)
        + conv(80, 192, 3)
        + conv(192, 256, 3)
    )
    total, c17, c8 = inception_resnet(
        stem,
        256,
        lambda c: [[(c, 32, 1)], [(c, 32, 1), (32, 32, 3)], [(c, 32, 1), (32, 32, 3), (32, 32, 3)]],
        (192, 192, 256, 384),
        lambda c: [[(c, 128, 1)], [(c, 128, 1), (128, 128, (1, 7)), (128, 128, (7, 1))]],
        (384, 256, 256, 256),
        lambda c: [[(c, 192, 1)], [(c, 192, 1), (192, 192, (1, 3)), (192, 192, (3, 1))]],
        (5, 10, 5),
        repeats_c8,
    )
    total += dense(c8, 1000)
    return total, total + conv_aux(c17)


def inception_resnet_v2_paper():
    """Figures 3, 16, 7 (256, 256, 384, 384), 17, 18, 19; 5/10/5 modules; widths 384/1152/2144."""
    total, c17, c8 = inception_resnet(
        inception_v4_stem(),
        384,
        lambda c: [[(c, 32, 1)], [(c, 32, 1), (32, 32, 3)], [(c, 32, 1), (32, 48, 3), (48, 64, 3)]],
        (256, 256, 384, 384),
        lambda c: [[(c, 192, 1)], [(c, 128, 1), (128, 160, (1, 7)), (160, 192, (7, 1))]],
        (384, 288, 288, 320),
        lambda c: [[(c, 192, 1)], [(c, 192, 1), (192, 224, (1, 3)), (224, 256, (3, 1))]],
        (5, 10, 5),
        0,
    )
    assert (c17, c8) == (1152, 2144)
    total += dense(c8, 1000)
    return total, total + conv_aux(c17)


# Published counts (PyTorch convention unless "keras"), with their sources.
TORCHVISION_GOOGLENET = 6_624_904  # torchvision googlenet IMAGENET1K_V1 num_params (no aux)
TORCHVISION_INCEPTION_V3_AUX = 27_161_264  # torchvision inception_v3 IMAGENET1K_V1, with aux
KERAS_INCEPTION_V3 = 23_851_784  # keras.applications InceptionV3 (keras-applications README 23.9M)
TIMM_INCEPTION_V4 = 42_679_816  # timm inception_v4 (results-imagenet.csv 42.68M; osmr imgclsmob)
KERAS_INCEPTION_RESNET_V2 = 55_873_736  # keras.applications InceptionResNetV2 (keras.io 55.9M)


@functools.cache
def published_plus_bn(count, name, **kwargs):
    """A PyTorch-convention count in Keras's: one more per BN channel of our model."""
    return count + bn_channels(keras_inception.get_model(name, **kwargs))


def expected_counts(name, variant):
    """``(without aux, with aux or None)`` from the sources above or the tables in this file."""
    if (name, variant) == ("inception_v1", "released"):
        return published_plus_bn(TORCHVISION_GOOGLENET, name), None
    if (name, variant) == ("inception_v1", "paper"):
        return googlenet_paper()
    if name == "inception_v2":
        return bn_inception(128 if variant == "paper" else 96)
    if (name, variant) == ("inception_v3", "released"):
        aux = published_plus_bn(TORCHVISION_INCEPTION_V3_AUX, name, aux_logits=True)
        return KERAS_INCEPTION_V3, aux
    if (name, variant) == ("inception_v3", "paper"):
        return inception_v3_paper()
    if name == "inception_v4":  # the paper variant only turns kernels: same count
        return published_plus_bn(TIMM_INCEPTION_V4, name), None
    if name == "inception_resnet_v1":
        return inception_resnet_v1(1 if variant == "released" else 0)
    if (name, variant) == ("inception_resnet_v2", "released"):
        return KERAS_INCEPTION_RESNET_V2, None
    return inception_resnet_v2_paper()


PAIRS = [(spec.name, spec.variant) for spec in registry.list_specs()]


@pytest.mark.parametrize("name,variant", PAIRS, ids=[f"{n}-{v}" for n, v in PAIRS])
def test_spec_counts_match_independent_figures(name, variant):
    """The spec's counts (test_models.py checks that the models have them)."""
    spec = keras_inception.get_spec(name, variant)
    params, params_aux = expected_counts(name, variant)
    assert spec.num_params == params
    if params_aux is not None:
        assert spec.num_params_aux == params_aux


def test_calculator_reproduces_a_published_count():
    """This file's arithmetic gives torchvision's GoogLeNet, so its paper figures can be trusted."""
    released_googlenet = conv(3, 64, 7) + conv(64, 64) + conv(64, 192, 3) + dense(1024, 1000)
    c = 192
    for n1, r3, n3, r5, n5, pool in GOOGLENET:  # released: 3x3 in the "5x5" branch, BN
        released_googlenet += (
            conv(c, n1)
            + conv(c, r3)
            + conv(r3, n3, 3)
            + conv(c, r5)
            + conv(r5, n5, 3)
            + conv(c, pool)
        )
        c = n1 + n3 + n5 + pool
    assert released_googlenet == published_plus_bn(TORCHVISION_GOOGLENET, "inception_v1")
