"""Inception-ResNet-v1 and -v2: counts, grids, variants, residual scales, keras.applications.

Full-size models are only built symbolically, except in the slow 299x299
comparison with keras.applications; forward passes run at 75x75.
"""

import functools

import keras
import numpy as np
import pytest

import keras_inception
from keras_inception.models import blocks
from keras_inception.models import inception_resnet_v1
from keras_inception.models import inception_resnet_v2
from test_inception_v4 import STAGES as V4_STAGES
from test_inception_v4 import assert_stages
from test_inception_v4 import assert_trains_through_both_heads

THIN = dict(input_shape=(75, 75, 3), depth_multiplier=0.25)


def stage(prefix, repeats, size, channels):
    return [(f"{prefix}_{i}", size, channels) for i in range(1, repeats + 1)]


V3_STEM = [
    ("conv2d_1a_3x3", 149, 32),
    ("conv2d_2a_3x3", 147, 32),
    ("conv2d_2b_3x3", 147, 64),
    ("maxpool_3a_3x3", 73, 64),
    ("conv2d_3b_1x1", 73, 80),
    ("conv2d_4a_3x3", 71, 192),
]
# (layer, grid size, channels) after every stage at 299x299.
IRV2_RELEASED = [
    *V3_STEM,
    ("maxpool_5a_3x3", 35, 192),
    ("mixed_5b", 35, 320),
    *stage("block35", 10, 35, 320),
    ("mixed_6a", 17, 1088),
    *stage("block17", 20, 17, 1088),
    ("mixed_7a", 8, 2080),
    *stage("block8", 10, 8, 2080),
    ("conv2d_7b_1x1", 8, 1536),
]
IRV2_PAPER = [
    *V4_STAGES[:6],  # the Inception-v4 stem, to mixed_5a (35x35x384)
    *stage("block35", 5, 35, 384),
    ("mixed_6a", 17, 1152),
    *stage("block17", 10, 17, 1152),
    ("mixed_7a", 8, 2144),
    *stage("block8", 5, 8, 2144),
]
IRV1_PAPER = [
    *V3_STEM,
    ("conv2d_4b_3x3", 35, 256),
    *stage("block35", 5, 35, 256),
    ("mixed_6a", 17, 896),
    *stage("block17", 10, 17, 896),
    ("mixed_7a", 8, 1792),
    *stage("block8", 5, 8, 1792),
]
IRV1_RELEASED = [*IRV1_PAPER, ("block8_6", 8, 1792)]

BUILDERS = {
    "inception_resnet_v1": keras_inception.InceptionResNetV1,
    "inception_resnet_v2": keras_inception.InceptionResNetV2,
}
# name, variant, stages, final grid, params without / with the auxiliary head.
FULL_SIZE = [
    ("inception_resnet_v2", "released", IRV2_RELEASED, (8, 1536), 55_873_736, 59_242_288),
    ("inception_resnet_v2", "paper", IRV2_PAPER, (8, 2144), 32_450_360, 35_827_104),
    ("inception_resnet_v1", "released", IRV1_RELEASED, (8, 1792), 24_371_384, 27_715_360),
    ("inception_resnet_v1", "paper", IRV1_PAPER, (8, 1792), 22_769_848, 26_113_824),
]


@pytest.mark.parametrize(
    "name,variant,stages,final_grid,params,params_aux",
    FULL_SIZE,
    ids=[f"{row[0]}-{row[1]}" for row in FULL_SIZE],
)
def test_counts_and_grid_after_every_stage(name, variant, stages, final_grid, params, params_aux):
    model = BUILDERS[name](aux_logits=True, variant=variant)
    assert model.count_params() == params_aux
    aux = sum(layer.count_params() for layer in model.layers if layer.name.startswith("aux"))
    assert model.count_params() - aux == params
    assert_stages(model, stages)
    size, channels = final_grid
    assert model.get_layer("avg_pool").input.shape == (None, size, size, channels)
    if variant == "released":
        spec = keras_inception.get_spec(name)
        assert (spec.num_params, spec.num_params_aux, spec.final_grid) == (
            params,
            params_aux,
            final_grid,
        )
    # Nothing after the last stage listed: no extra module, no 1x1 conv.
    assert model.get_layer("avg_pool").input is model.get_layer(stages[-1][0]).output


def scales_of(model, prefix):
    return [
        layer.scale
        for layer in model.layers
        if layer.name.startswith(prefix) and layer.name.endswith("_scale")
    ]


def test_released_residual_scales_and_layer_names():
    model = keras_inception.InceptionResNetV2(**THIN)
    assert scales_of(model, "block35_") == [0.17] * 10
    assert scales_of(model, "block17_") == [0.10] * 20
    assert scales_of(model, "block8_") == [0.20] * 9 + [1.0]
    # The released last module sums without ReLU; TF-slim scope names inside blocks.
    assert isinstance(model.get_layer("block8_10"), keras.layers.Add)
    assert isinstance(model.get_layer("block8_9"), keras.layers.Activation)
    for layer in (
        "mixed_5b_branch_0_conv2d_1x1",
        "block35_1_branch_0_conv2d_1x1",
        "block35_3_branch_2_conv2d_0c_3x3",
        "block17_20_branch_1_conv2d_0b_1x7",
        "block8_10_branch_1_conv2d_0c_3x1",
        "mixed_7a_branch_2_conv2d_1a_3x3",
    ):
        assert model.get_layer(layer).output.shape[-1] is not None
    up = model.get_layer("block35_1_conv2d_1x1")
    assert up.use_bias and up.activation is keras.activations.linear


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_residual_scale_sets_each_stage(name):
    model = BUILDERS[name](residual_scale=0.25, **THIN)
    released_last = "block8_10" if name == "inception_resnet_v2" else "block8_6"
    assert set(scales_of(model, "block")) == {0.25, 1.0}
    assert model.get_layer(f"{released_last}_scale").scale == 1.0

    # Stage by stage: scale 0 leaves relu(input), others give relu(x + s * up).
    model = BUILDERS[name](residual_scale=[0.0, 0.5, 2.0], **THIN)
    last_before = "block8_9" if name == "inception_resnet_v2" else "block8_5"
    # (block input, its up-projection, block output, scale, ReLU after the sum)
    probes = [
        ("block35_1", "block35_2_conv2d_1x1", "block35_2", 0.0, True),
        ("block17_1", "block17_2_conv2d_1x1", "block17_2", 0.5, True),
        ("block8_1", "block8_2_conv2d_1x1", "block8_2", 2.0, True),
        (last_before, f"{released_last}_conv2d_1x1", released_last, 1.0, False),
    ]
    names = sorted({n for probe in probes for n in probe[:3]})
    model = keras.Model(model.input, {n: model.get_layer(n).output for n in names})
    x = np.random.RandomState(0).uniform(-1, 1, (2, 75, 75, 3)).astype("float32")
    out = {key: np.asarray(value) for key, value in model(x, training=False).items()}
    for before, up, after, scale, relu in probes:
        assert np.any(out[up] != 0)
        expected = out[before] + scale * out[up]
        if relu:
            expected = np.maximum(expected, 0.0)
        np.testing.assert_allclose(out[after], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out["block35_2"], np.maximum(out["block35_1"], 0.0))


@pytest.mark.parametrize(
    "residual_scale", [-0.1, float("nan"), "0.2", (0.1, 0.2), True, (0.1, None, 0.2)]
)
def test_bad_residual_scale_names_the_received_value(residual_scale):
    for builder in BUILDERS.values():
        with pytest.raises(ValueError, match=r"Received: residual_scale="):
            builder(residual_scale=residual_scale)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_small_forward_and_backward_pass_through_both_heads(name):
    model = BUILDERS[name](classes=6, aux_logits=True, **THIN)
    assert_trains_through_both_heads(model)


@pytest.mark.parametrize(
    "module,variant",
    # IRv1's variants share every grid; IRv2's have different stems.
    [
        (inception_resnet_v1, "released"),
        (inception_resnet_v2, "released"),
        (inception_resnet_v2, "paper"),
    ],
    ids=["v1", "v2-released", "v2-paper"],
)
def test_75_pixels_is_the_smallest_input_the_graph_accepts(module, variant):
    conv = functools.partial(blocks.conv_bn, depth_multiplier=0.25)
    features, _ = module.backbone(keras.Input((75, 75, 3)), conv, variant, (0.1, 0.1, 0.1))
    assert features.shape[1:3] == (1, 1)
    with pytest.raises(ValueError, match="zero or negative"):
        module.backbone(keras.Input((74, 74, 3)), conv, variant, (0.1, 0.1, 0.1))


def copy_weights_from_keras_applications(size):
    """Our InceptionResNetV2 and keras.applications', same random weights in both."""
    reference = keras.applications.InceptionResNetV2(
        weights=None, input_shape=(size, size, 3), classifier_activation=None
    )
    ours = keras_inception.InceptionResNetV2(
        input_shape=(size, size, 3), classifier_activation=None
    )
    assert ours.count_params() == reference.count_params()
    theirs = [layer for layer in reference.layers if layer.weights]
    mine = [layer for layer in ours.layers if layer.weights]
    assert len(mine) == len(theirs)
    rng = np.random.default_rng(0)
    for layer, ref_layer in zip(mine, theirs):
        values = []
        for variable in ref_layer.weights:
            if "variance" in variable.path:
                values.append(rng.uniform(0.5, 1.5, variable.shape).astype("float32"))
            else:
                values.append(0.05 * rng.standard_normal(variable.shape, dtype="float32"))
        ref_layer.set_weights(values)
        layer.set_weights(values)
    return ours, reference


def assert_matches_keras_applications(size):
    ours, reference = copy_weights_from_keras_applications(size)
    x = np.random.RandomState(1).uniform(-1, 1, (2, size, size, 3)).astype("float32")
    expected = np.asarray(reference(x, training=False))
    assert np.abs(expected).max() > 1e-2  # the weights reach the logits
    np.testing.assert_allclose(np.asarray(ours(x, training=False)), expected, rtol=0, atol=1e-5)


def test_matches_keras_applications_at_small_input():
    assert_matches_keras_applications(75)


@pytest.mark.slow
def test_matches_keras_applications_at_299():
    assert_matches_keras_applications(299)
