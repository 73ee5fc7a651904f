"""What every network of the registry must do (one harness over every (network, variant)).

Full-size models are built symbolically (parameter counts, final grid); forward
passes run at the smallest sizes the networks accept and at reduced width.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_inception
from keras_inception import registry

MODELS = keras_inception.list_models()
SPECS = registry.list_specs()
PAIRS = [(spec.name, spec.variant) for spec in SPECS]


PAIR_IDS = [f"{name}-{variant}" for name, variant in PAIRS]


def small_size(spec):
    return max(75, spec.min_size)


def thin(network, variant="released", **kwargs):
    """A registry model at small input and width: fast to build and run."""
    spec = keras_inception.get_spec(network, variant)
    kwargs.setdefault("input_shape", (small_size(spec), small_size(spec), 3))
    kwargs.setdefault("depth_multiplier", 0.25)
    return keras_inception.get_model(network, variant=variant, **kwargs)


def images(spec, batch=2, seed=0):
    size = small_size(spec)
    return np.random.RandomState(seed).uniform(-1, 1, (batch, size, size, 3)).astype("float32")


def run(model, x):
    """Eager call: much cheaper than tracing ``predict`` for a one-off batch."""
    out = model(x, training=False)
    return {k: np.asarray(v) for k, v in out.items()} if isinstance(out, dict) else np.asarray(out)


@pytest.mark.parametrize("name,variant", PAIRS, ids=PAIR_IDS)
def test_spec_describes_the_built_model(name, variant):
    """The spec's counts, grid, endpoints and aux taps are those of the model it builds.

    The counts themselves are checked against published figures in
    test_parameter_counts.py.
    """
    spec = keras_inception.get_spec(name, variant)
    model = keras_inception.get_model(name, variant=variant, aux_logits=True)
    assert registry.spec_of(model) is spec
    size, channels = spec.final_grid
    assert tuple(model.get_layer("avg_pool").input.shape) == (None, size, size, channels)
    assert model.get_layer(spec.endpoints["P5"]).output is model.get_layer("avg_pool").input
    sizes = [model.get_layer(layer).output.shape[1] for layer in spec.endpoints.values()]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == 5, sizes
    assert set(spec.aux_taps) == set(model.output) - {"predictions"}
    for head, tap in spec.aux_taps.items():
        assert model.get_layer(f"{head}_avg_pool").input is model.get_layer(tap).output
    assert model.count_params() == spec.num_params_aux
    heads = sum(layer.count_params() for layer in model.layers if layer.name.split("_")[0] == "aux")
    assert model.count_params() - heads == spec.num_params


@pytest.mark.parametrize("name,variant", PAIRS, ids=PAIR_IDS)
def test_minimum_size_leaves_one_pixel(name, variant):
    spec = keras_inception.get_spec(name, variant)
    smallest = keras_inception.get_model(
        name,
        variant=variant,
        include_top=False,
        depth_multiplier=0.25,
        input_shape=(spec.min_size, spec.min_size, 3),
    )
    assert smallest.output_shape[1:3] == (1, 1)
    too_small = spec.min_size - 1
    with pytest.raises(ValueError, match=f"at least {spec.min_size}x{spec.min_size}"):
        keras_inception.get_model(name, variant=variant, input_shape=(too_small, too_small, 3))


@pytest.mark.parametrize("name,variant", PAIRS, ids=PAIR_IDS)
def test_logits(name, variant):
    spec = keras_inception.get_spec(name, variant)
    logits = run(thin(name, variant, classes=7, classifier_activation=None), images(spec))
    assert logits.shape == (2, 7)
    assert not np.allclose(logits.sum(axis=1), 1.0)


@pytest.mark.parametrize("name", MODELS)
def test_pooling_modes(name):
    spec = keras_inception.get_spec(name)
    pooled = thin(name, include_top=False, pooling="max")
    channels = pooled.output_shape[-1]
    assert len(pooled.output_shape) == 2 and channels is not None
    assert run(pooled, images(spec)).shape == (2, channels)


@pytest.mark.parametrize("name,variant", PAIRS, ids=PAIR_IDS)
def test_backbone_of_any_size_and_its_feature_pyramid(name, variant):
    """Without top on a ``(None, None, 3)`` input, under a custom name: the spec's pyramid."""
    spec = keras_inception.get_spec(name, variant)
    model = thin(name, variant, include_top=False, input_shape=(None, None, 3), name="my_backbone")
    size = small_size(spec)
    wider = run(model, np.zeros((1, size + 32, size + 16, 3), "float32"))
    assert wider.shape[-1] == model.output_shape[-1]
    extractor = keras_inception.feature_extractor(model)
    assert list(extractor.output) == list(spec.endpoints)
    outputs = run(extractor, images(spec))
    sizes = [outputs[label].shape[1] for label in spec.endpoints]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == len(sizes)
    np.testing.assert_allclose(
        outputs[list(spec.endpoints)[-1]], run(model, images(spec)), atol=1e-5
    )


@pytest.mark.parametrize(
    "name,variant",
    [p for p in PAIRS if p[1] == "released"] + [("inception_v3", "paper")],
    ids=lambda value: value,
)
def test_input_tensor_and_predict_on_tf_data(name, variant):
    """The input handling is the builders' shared code: one variant each, and one paper variant."""
    spec = keras_inception.get_spec(name, variant)
    size = small_size(spec)
    tensor = keras.Input((size, size, 3), name="my_input")
    model = thin(name, variant, input_tensor=tensor, classes=3)
    assert model.inputs[0] is tensor
    assert registry.spec_of(model) is spec
    x = images(spec, batch=4)
    expected = run(model, x)
    assert expected.shape == (4, 3)
    np.testing.assert_allclose(expected.sum(axis=1), 1.0, rtol=1e-5)
    ds = tf.data.Dataset.from_tensor_slices(x).batch(2)
    np.testing.assert_allclose(model.predict(ds, verbose=0), expected, atol=1e-5)


@pytest.mark.parametrize("name,variant", PAIRS, ids=PAIR_IDS)
def test_aux_heads_config_round_trip_and_keras_file(name, variant, tmp_path):
    spec = keras_inception.get_spec(name, variant)
    model = thin(name, variant, classes=4, aux_logits=True, include_preprocessing=True)
    x = (images(spec) + 1.0) * 127.5
    train_out = model(x, training=True)
    expected = run(model, x)
    assert isinstance(train_out, dict) and set(train_out) == set(expected)
    assert "predictions" in expected and any(k.startswith("aux") for k in expected)
    assert all(k == "predictions" or k.startswith("aux") for k in expected)
    assert all(v.shape == (2, 4) for v in expected.values())

    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    for key, value in run(clone, x).items():
        np.testing.assert_allclose(value, expected[key], atol=1e-6)

    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    for key, value in run(loaded, x).items():
        np.testing.assert_allclose(value, expected[key], atol=1e-6)
    assert registry.spec_of(loaded) is spec


@pytest.mark.parametrize("name", MODELS)
def test_in_graph_preprocessing_matches_preprocess_input(name):
    spec = keras_inception.get_spec(name)
    pixels = np.random.RandomState(1).uniform(0, 255, (2, small_size(spec), small_size(spec), 3))
    raw = thin(name, include_preprocessing=True, classes=3)
    plain = thin(name, classes=3)
    plain.set_weights(raw.get_weights())
    np.testing.assert_allclose(
        run(raw, pixels.astype("float32")),
        run(plain, keras_inception.preprocess_input(pixels)),
        atol=1e-5,
    )


BAD_ARGUMENTS = [
    dict(weights=3),
    dict(pooling="median", include_top=False),
    dict(classes=0),
    dict(classes="ten"),
    dict(classifier_activation="no_such_activation"),
    dict(aux_logits=True, include_top=False),
    dict(dropout_rate=1.5),
    dict(depth_multiplier=0),
    dict(variant="preprint"),
    dict(input_shape=(299, 299)),
    dict(weights="/no/such/weights.weights.h5"),
]


@pytest.mark.parametrize("kwargs", BAD_ARGUMENTS, ids=lambda kw: ",".join(kw))
@pytest.mark.parametrize("name", MODELS)
def test_bad_arguments_name_the_received_value(name, kwargs):
    with pytest.raises(ValueError, match="Received"):
        keras_inception.get_model(name, **kwargs)


def test_unknown_model_lists_available():
    with pytest.raises(ValueError, match="inception_v3"):
        keras_inception.get_model("inception_v9")


def test_pretrained_weights_need_three_channels():
    with pytest.raises(ValueError, match="3 input channels"):
        keras_inception.InceptionV3(weights="imagenet", input_shape=(299, 299, 1))
