"""BN-Inception: published topology of both variants, the separable stem, the auxiliary head."""

import numpy as np
import pytest

import keras
import keras_inception


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
    assert keras_inception.InceptionV2(variant=variant, aux_logits=True).count_params() == params_aux


@pytest.mark.parametrize("variant, pool_proj", [("released", 96), ("paper", 128)])
def test_pool_projections_of_4c_and_4d(variant, pool_proj):
    model = keras_inception.InceptionV2(variant=variant, input_shape=(64, 64, 3), include_top=False)
    for block in ("mixed_4d", "mixed_4e"):
        assert model.get_layer(f"{block}_branch_3_conv2d_0b_1x1_conv").filters == pool_proj
    # Figure 5: average pooling in the modules except the last, which max-pools.
    assert isinstance(model.get_layer("mixed_5b_branch_3_avgpool_0a_3x3"), keras.layers.AveragePooling2D)
    assert isinstance(model.get_layer("mixed_5c_branch_3_maxpool_0a_3x3"), keras.layers.MaxPooling2D)


@pytest.mark.parametrize("depth_multiplier, channel_multiplier, filters", [(1.0, 8, 64), (0.25, 5, 16)])
def test_separable_stem(depth_multiplier, channel_multiplier, filters):
    model = keras_inception.InceptionV2(
        input_shape=(64, 64, 3), depth_multiplier=depth_multiplier, include_top=False
    )
    conv = model.get_layer("conv2d_1a_7x7_conv")
    assert isinstance(conv, keras.layers.SeparableConv2D)
    assert conv.kernel_size == (7, 7) and conv.strides == (2, 2)
    assert conv.depth_multiplier == channel_multiplier and conv.filters == filters


@pytest.mark.parametrize("variant", ["released", "paper"])
def test_forward_pass_with_auxiliary_head(variant):
    model = keras_inception.InceptionV2(
        variant=variant, input_shape=(96, 96, 3), depth_multiplier=0.5, classes=6,
        aux_logits=True,
    )
    assert model.get_layer("aux_avg_pool").input is model.get_layer("mixed_4e").output
    x = np.random.RandomState(0).uniform(-1, 1, (2, 96, 96, 3)).astype("float32")
    for training in (False, True):
        outputs = model(x, training=training)
        assert set(outputs) == {"predictions", "aux"}
        for value in outputs.values():
            value = keras.ops.convert_to_numpy(value)
            assert value.shape == (2, 6) and np.isfinite(value).all()
            np.testing.assert_allclose(value.sum(axis=1), 1.0, rtol=1e-5)


def test_smallest_input_builds_with_auxiliary_head():
    size = keras_inception.get_spec("inception_v2").min_size
    model = keras_inception.InceptionV2(
        input_shape=(size, size, 3), depth_multiplier=0.25, aux_logits=True, classes=3
    )
    assert model.get_layer("mixed_5c").output.shape[1:3] == (1, 1)
    outputs = model.predict(np.zeros((1, size, size, 3), "float32"), verbose=0)
    assert all(value.shape == (1, 3) for value in outputs.values())
