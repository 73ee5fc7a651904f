"""BN-Inception: published topology of both variants, the separable stem, the auxiliary head."""

import keras
import numpy as np
import pytest

import keras_inception

SMALLEST = keras_inception.get_spec("inception_v2").min_size


def stages(variant):
    """(layer, grid, channels) after every stage at 224x224 (Figure 5)."""
    wide = 608 if variant == "paper" else 576
    return [
        ("conv2d_1a_7x7", 112, 64),
        ("maxpool_2a_3x3", 56, 64),
        ("conv2d_2b_1x1", 56, 64),
        ("conv2d_2c_3x3", 56, 192),
        ("maxpool_3a_3x3", 28, 192),
        ("mixed_3b", 28, 256),
        ("mixed_3c", 28, 320),
        ("mixed_4a", 14, 576),
        ("mixed_4b", 14, 576),
        ("mixed_4c", 14, 576),
        ("mixed_4d", 14, wide),
        ("mixed_4e", 14, wide),
        ("mixed_5a", 7, wide + 448),
        ("mixed_5b", 7, 1024),
        ("mixed_5c", 7, 1024),
    ]


@pytest.mark.parametrize(
    "variant, params, params_aux",
    [("released", 11_198_240, 13_616_520), ("paper", 11_288_544, 13_710_920)],
)
def test_parameter_counts_and_grid_after_every_stage(variant, params, params_aux):
    model = keras_inception.InceptionV2(variant=variant)
    assert model.count_params() == params
    for layer, grid, channels in stages(variant):
        assert model.get_layer(layer).output.shape == (None, grid, grid, channels), layer
    assert (
        keras_inception.InceptionV2(variant=variant, aux_logits=True).count_params() == params_aux
    )


@pytest.mark.parametrize(
    "variant, depth_multiplier, pool_proj, channel_multiplier, stem_filters",
    [("released", 1.0, 96, 8, 64), ("paper", 1.0, 128, 8, 64), ("released", 0.25, 24, 5, 16)],
)
def test_separable_stem_and_pool_projections(
    variant, depth_multiplier, pool_proj, channel_multiplier, stem_filters
):
    model = keras_inception.InceptionV2(
        variant=variant,
        input_shape=(64, 64, 3),
        depth_multiplier=depth_multiplier,
        include_top=False,
    )
    stem = model.get_layer("conv2d_1a_7x7_conv")
    assert isinstance(stem, keras.layers.SeparableConv2D)
    assert stem.kernel_size == (7, 7) and stem.strides == (2, 2)
    # Depthwise multiplier 8, capped on thinned nets below the pointwise width / 3.
    assert stem.depth_multiplier == channel_multiplier and stem.filters == stem_filters
    for block in ("mixed_4d", "mixed_4e"):
        assert model.get_layer(f"{block}_branch_3_conv2d_0b_1x1_conv").filters == pool_proj
    # Figure 5: average pooling in the modules except the last, which max-pools.
    assert isinstance(
        model.get_layer("mixed_5b_branch_3_avgpool_0a_3x3"), keras.layers.AveragePooling2D
    )
    assert isinstance(
        model.get_layer("mixed_5c_branch_3_maxpool_0a_3x3"), keras.layers.MaxPooling2D
    )


@pytest.mark.parametrize("variant, size", [("released", 96), ("paper", 96), ("released", SMALLEST)])
def test_auxiliary_head_on_4d(variant, size):
    model = keras_inception.InceptionV2(
        variant=variant,
        input_shape=(size, size, 3),
        depth_multiplier=0.5,
        classes=6,
        aux_logits=True,
    )
    assert model.get_layer("aux_avg_pool").input is model.get_layer("mixed_4e").output
    outputs = model(np.ones((1, size, size, 3), "float32"), training=False)
    assert sorted(outputs) == ["aux", "predictions"]
    for value in outputs.values():
        value = keras.ops.convert_to_numpy(value)
        assert value.shape == (1, 6) and np.isfinite(value).all()
