"""feature_extractor and spec_of: by the model's marker, not its name; keras.applications' names."""

import keras
import numpy as np
import pytest

import keras_inception
from keras_inception import features
from keras_inception import registry


def thin_model(builder, **kwargs):
    return builder(input_shape=(75, 75, 3), depth_multiplier=0.25, include_top=False, **kwargs)


def test_keras_applications_names_of_inception_v3(tmp_path):
    model = thin_model(keras_inception.InceptionV3, name="renamed")
    path = tmp_path / "v3.keras"
    model.save(path)
    model = keras.saving.load_model(path, safe_mode=True)
    extractor = keras_inception.feature_extractor(
        model, ["mixed2", "mixed7", "mixed10", "mixed9_0"]
    )
    assert [o.shape[1:3] for o in extractor.output.values()] == [(7, 7), (3, 3), (1, 1), (1, 1)]
    assert features.layer_name(model, "mixed7") == "mixed_6e"
    assert features.layer_name(model, "mixed9_1") == "mixed_7c_branch_1"
    # keras.applications' 0..10 map onto our eleven joins in order.
    ours = [features.layer_name(model, f"mixed{i}") for i in range(11)]
    assert ours == [name for name in (layer.name for layer in model.layers) if name in ours]


def test_keras_applications_names_of_inception_resnet_v2():
    model = thin_model(keras_inception.InceptionResNetV2)
    names = {
        "mixed_5b": "mixed_5b",
        "block35_10_ac": "block35_10",
        "mixed_6a": "mixed_6a",
        "block17_10_ac": "block17_10",
        "block17_20_conv": "block17_20_conv2d_1x1",
        "mixed_7a": "mixed_7a",
        "block8_9_ac": "block8_9",
        "block8_10": "block8_10",
        "block8_10_conv": "block8_10_conv2d_1x1",
        "conv_7b": "conv2d_7b_1x1_conv",
        "conv_7b_bn": "conv2d_7b_1x1_bn",
        "conv_7b_ac": "conv2d_7b_1x1",
    }
    assert {theirs: features.layer_name(model, theirs) for theirs in names} == names
    extractor = keras_inception.feature_extractor(model, {"C5": "conv_7b_ac", "C4": "block17_10"})
    np.testing.assert_array_equal(
        extractor(np.zeros((1, 75, 75, 3)))["C5"], model(np.zeros((1, 75, 75, 3)))
    )


def test_paper_variants_have_their_own_endpoints_and_refuse_released_names():
    model = thin_model(keras_inception.InceptionResNetV2, variant="paper", name="custom")
    spec = registry.spec_of(model)
    assert (spec.name, spec.variant) == ("inception_resnet_v2", "paper")
    assert set(keras_inception.feature_extractor(model).output) == {"P1", "P2", "P3", "P4", "P5"}
    with pytest.raises(ValueError, match="No layer named 'block35_10'"):
        keras_inception.feature_extractor(model, ["block35_10"])
    with pytest.raises(ValueError, match="No layer named 'mixed7'"):
        keras_inception.feature_extractor(
            thin_model(keras_inception.InceptionV3, variant="paper"), ["mixed7"]
        )


def test_a_foreign_model_needs_explicit_endpoints():
    inputs = keras.Input((32, 32, 3))
    outputs = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    model = keras.Model(inputs, outputs, name="inception_v3")  # the name is no marker
    with pytest.raises(ValueError, match="not built by a keras_inception builder.*Received"):
        registry.spec_of(model)
    with pytest.raises(ValueError, match="Pass `endpoints` explicitly"):
        keras_inception.feature_extractor(model)
    assert list(keras_inception.feature_extractor(model, ["conv"]).output) == ["conv"]


def test_get_spec_of_a_variant():
    assert keras_inception.get_spec("inception_v3") is keras_inception.get_spec(
        "inception_v3", "released"
    )
    paper = keras_inception.get_spec("inception_v3", "paper")
    assert paper.variant == "paper" and paper.for_variant("released").variant == "released"
    assert [s.variant for s in registry.list_specs() if s.name == "inception_v3"] == [
        "released",
        "paper",
    ]
    assert len(registry.list_specs()) == 12
    with pytest.raises(ValueError, match="Received: variant='preprint'"):
        keras_inception.get_spec("inception_v3", "preprint")
