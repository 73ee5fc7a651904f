"""The registry of pretrained weights: every record complete and true to its model."""

import json
import re

import numpy as np
import pytest

import keras_inception
from keras_inception import weights
from keras_inception.cli import main

RECORDS = weights.list_weights()
HASH_LENGTHS = {"md5": 32, "sha256": 64}


def test_the_published_sets_are_registered():
    assert {(r.model, r.tag) for r in RECORDS} == {
        ("inception_v1", "imagenet_slim"),
        ("inception_v2", "imagenet_slim"),
        ("inception_v3", "imagenet_keras"),
        ("inception_v3", "imagenet_slim"),
        ("inception_v4", "imagenet_slim"),
        ("inception_resnet_v2", "imagenet_keras"),
        ("inception_resnet_v2", "imagenet_slim"),
    }


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: f"{r.model}-{r.tag}")
def test_record_fields(record):
    spec = keras_inception.get_spec(record.model)
    assert record.variant in spec.variants
    assert record.input_size == spec.default_size
    assert 0.5 < record.crop_fraction <= 1.0
    assert record.interpolation in ("bilinear", "bicubic")
    assert record.preprocessing == "inception"
    assert 50 < record.top1 < record.top5 < 100
    assert record.license and record.notes
    files = [record.file] + ([record.notop_file] if record.notop_file else [])
    for f in files:
        assert re.fullmatch(r"https?://[\w.-]+/\S+", f.url)
        if f.file_hash is not None:
            assert re.fullmatch(r"[0-9a-f]+", f.file_hash)
            assert len(f.file_hash) == HASH_LENGTHS[f.hash_algorithm]
    if record.source == "keras.applications":
        assert record.file.fname.endswith(".h5") and record.notop_file is not None
        assert record.file.file_hash and record.notop_file.file_hash
        assert (record.classes, record.label_offset, record.aux_logits) == (1000, 0, False)
    else:
        assert record.source == "tf-slim"
        assert record.file.fname.endswith(".tar.gz") and record.notop_file is None
        # TF-slim's ImageNet checkpoints: 1000 classes after a background class 0.
        assert (record.classes, record.label_offset) == (1001, 1)
        assert record.aux_logits == (record.model not in ("inception_v1", "inception_v2"))


def test_each_model_with_weights_has_one_default():
    for model in {r.model for r in RECORDS}:
        defaults = [r for r in weights.list_weights(model) if r.default]
        assert len(defaults) == 1
        assert weights.find_weights(model, "imagenet") is defaults[0]
    # keras.applications weights are the default where they exist (1000
    # classes and a published checksum, as keras.applications users expect).
    assert weights.get_weights("inception_v3").source == "keras.applications"
    assert weights.get_weights("inception_resnet_v2").source == "keras.applications"
    assert weights.get_weights("inception_v4").source == "tf-slim"


def parameters_as_built(model, classes, aux_logits):
    """Parameters of ``model`` without its auxiliary heads unless ``aux_logits``,
    with ``classes`` outputs per classifier (the variables' own sizes otherwise)."""
    heads = weights.store.auxiliary_heads(model)
    total = 0
    for layer in model.layers:
        if not aux_logits and weights.store.in_heads(layer.name, heads):
            continue
        for variable in layer.weights:
            size = int(np.prod(variable.shape))
            if layer.name in ("predictions", *heads):
                size = size // variable.shape[-1] * classes
            total += size
    return total


@pytest.mark.parametrize("model_name", sorted({r.model for r in RECORDS}))
def test_record_parameter_counts_are_the_models(model_name):
    # One symbolic build per network, with every head a record may fill: the
    # largest record's model. Smaller records are counted on its variables.
    records = weights.list_weights(model_name)
    largest = max(records, key=lambda r: r.num_params)
    model = keras_inception.get_model(
        model_name, classes=largest.classes, aux_logits=largest.aux_logits
    )
    assert model.count_params() == largest.num_params
    for record in records:
        assert parameters_as_built(model, record.classes, record.aux_logits) == record.num_params


@pytest.fixture
def no_fetch(monkeypatch):
    """Fails the test if any weights file is looked for."""

    def fetch(file):
        raise AssertionError(f"fetched {file.url}")

    monkeypatch.setattr(weights.download, "fetch", fetch)


def load(weights_argument, **kwargs):
    """``weights.load_weights`` as a builder calls it, without building a model."""
    config = dict(model_name="inception_v3", variant="released", include_top=True, classes=1000)
    config.update(kwargs)
    return weights.load_weights(None, weights_argument, **config)


def test_unknown_tags_and_networks_without_weights(no_fetch):
    with pytest.raises(ValueError, match="known tags: imagenet, imagenet_keras, imagenet_slim"):
        weights.get_weights("inception_v3", "imagenet_torch")
    with pytest.raises(ValueError, match="No pretrained ImageNet weights.*inception_resnet_v1"):
        load("imagenet", model_name="inception_resnet_v1")
    assert weights.find_weights("inception_v3", "/some/file.h5") is None
    with pytest.raises(
        ValueError,
        match=r"\(imagenet, imagenet_keras, imagenet_slim\).*"
        "Received: weights='no_such_tag'",
    ):
        load("no_such_tag")


def test_registering_a_duplicate_is_refused():
    record = weights.get_weights("inception_v3", "imagenet_slim")
    with pytest.raises(ValueError, match="already registered"):
        weights.register_weights(record)


def test_incompatible_configurations_fail_before_any_download(no_fetch):
    with pytest.raises(ValueError, match=r"`classes` should be 1000.*Received: classes=10"):
        keras_inception.InceptionV3(
            weights="imagenet", classes=10, depth_multiplier=0.25, input_shape=(75, 75, 3)
        )
    with pytest.raises(ValueError, match="Received: classes=1001"):
        load("imagenet_keras", classes=1001)
    with pytest.raises(ValueError, match=r"variant='released'.*Received: variant='paper'"):
        load("imagenet", model_name="inception_v4", variant="paper")


def test_slim_weights_accept_1000_or_1001_classes_and_any_head():
    record = weights.get_weights("inception_v4")
    for classes in (1000, 1001):
        weights.check_record_fits(
            record, weights="imagenet", variant="released", include_top=True, classes=classes
        )
    # Without the classifier any number of classes is fine (fine-tuning).
    weights.check_record_fits(
        record, weights="imagenet", variant="released", include_top=False, classes=5
    )
    with pytest.raises(ValueError, match=r"1000 \(or 1001 to keep TF-slim's background"):
        weights.check_record_fits(
            record, weights="imagenet", variant="released", include_top=True, classes=999
        )


def test_cli_lists_the_weights(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.delenv("KERAS_INCEPTION_WEIGHTS", raising=False)
    assert main(["weights", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == len(RECORDS)
    assert all(row["local"] is None for row in rows)
    assert main(["weights", "inception_v3"]) == 0
    out = capsys.readouterr().out
    assert "imagenet_keras*" in out and "inception_v3_2016_08_28.tar.gz (not downloaded)" in out
    assert "inception_v4" not in out
