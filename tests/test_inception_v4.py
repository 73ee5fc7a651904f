"""Inception-v4: published counts, the paper's grid at every stage, the paper variant.

Full-size models are only built symbolically; forward passes run at 75x75 and
a quarter of the width.
"""

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_inception
from keras_inception.models import blocks
from keras_inception.models import inception_v4

# (layer, grid size, channels) after every stage at 299x299 (Figures 3 and 9).
STAGES = [
    ("conv2d_1a_3x3", 149, 32),
    ("conv2d_2a_3x3", 147, 32),
    ("conv2d_2b_3x3", 147, 64),
    ("mixed_3a", 73, 160),
    ("mixed_4a", 71, 192),
    ("mixed_5a", 35, 384),
    *[(f"mixed_5{s}", 35, 384) for s in "bcde"],
    ("mixed_6a", 17, 1024),
    *[(f"mixed_6{s}", 17, 1024) for s in "bcdefgh"],
    ("mixed_7a", 8, 1536),
    *[(f"mixed_7{s}", 8, 1536) for s in "bcd"],
]


def assert_stages(model, stages):
    for layer, size, channels in stages:
        assert model.get_layer(layer).output.shape == (None, size, size, channels), layer


def aux_params(model):
    return sum(layer.count_params() for layer in model.layers if layer.name.startswith("aux"))


@pytest.mark.parametrize("variant", ["released", "paper"])
def test_counts_and_grid_after_every_stage(variant):
    model = keras_inception.InceptionV4(aux_logits=True, variant=variant)
    assert model.count_params() == 46_071_760
    assert model.count_params() - aux_params(model) == 42_711_400
    assert_stages(model, STAGES)
    assert model.get_layer("aux_conv2d_1b_1x1_conv").input.shape == (None, 5, 5, 1024)
    assert {k: tuple(v.shape) for k, v in model.output.items()} == {
        "predictions": (None, 1000),
        "aux": (None, 1000),
    }


def kernel_shape(model, layer):
    return tuple(model.get_layer(f"{layer}_conv").kernel.shape[:2])


def test_paper_variant_swaps_the_7x7_factorizations():
    size = (75, 75, 3)
    released = keras_inception.InceptionV4(input_shape=size, depth_multiplier=0.25)
    paper = keras_inception.InceptionV4(input_shape=size, depth_multiplier=0.25, variant="paper")
    # Inception-B's double branch: the code starts with 7x1, Figure 5 with 1x7.
    code_order = [("0b_7x1", (7, 1)), ("0c_1x7", (1, 7)), ("0d_7x1", (7, 1)), ("0e_1x7", (1, 7))]
    paper_order = [("0b_1x7", (1, 7)), ("0c_7x1", (7, 1)), ("0d_1x7", (1, 7)), ("0e_7x1", (7, 1))]
    for block in ("mixed_6b", "mixed_6h"):
        for model, order in ((released, code_order), (paper, paper_order)):
            for unit, kernel in order:
                assert kernel_shape(model, f"{block}_branch_2_conv2d_{unit}") == kernel
    # The stem's factorization: 1x7 then 7x1 in the code, 7x1 then 1x7 in Figure 3.
    assert kernel_shape(released, "mixed_4a_branch_1_conv2d_0b_1x7") == (1, 7)
    assert kernel_shape(paper, "mixed_4a_branch_1_conv2d_0b_7x1") == (7, 1)
    # Everything else is the same graph: same layer count, same parameters.
    assert len(paper.layers) == len(released.layers)
    assert paper.count_params() == released.count_params()


def test_small_forward_and_backward_pass_through_both_heads():
    model = keras_inception.InceptionV4(
        input_shape=(75, 75, 3), depth_multiplier=0.25, classes=6, aux_logits=True
    )
    assert_trains_through_both_heads(model)


def assert_trains_through_both_heads(model):
    """Inference outputs are distributions; a training-mode loss reaches the stem and aux head."""
    x = np.random.RandomState(0).uniform(-1, 1, (2, *model.input_shape[1:])).astype("float32")
    labels = np.array([1, 4])
    classes = model.output["predictions"].shape[-1]
    out = model(x, training=False)
    for key in ("predictions", "aux"):
        assert tuple(out[key].shape) == (2, classes)
        np.testing.assert_allclose(np.sum(out[key], axis=1), 1.0, rtol=1e-5)
    watched = [model.get_layer("conv2d_1a_3x3_conv").kernel, model.get_layer("aux").kernel]
    with tf.GradientTape() as tape:
        out = model(x, training=True)
        loss = sum(keras.losses.sparse_categorical_crossentropy(labels, out[key]) for key in out)
    for grad in tape.gradient(loss, watched):
        assert np.all(np.isfinite(grad)) and np.any(grad != 0)


def test_75_pixels_is_the_smallest_input_the_graph_accepts():
    # Both variants have the same grids: only kernel orientations differ.
    conv = functools.partial(blocks.conv_bn, depth_multiplier=0.25)
    features, _ = inception_v4.backbone(keras.Input((75, 75, 3)), conv, "released")
    assert features.shape[1:3] == (1, 1)
    with pytest.raises(ValueError, match="zero or negative"):
        inception_v4.backbone(keras.Input((74, 74, 3)), conv, "released")
    assert keras_inception.get_spec("inception_v4").min_size == 75
