"""The one download path: local directory, Keras cache, download, checksums, offline.

Origins are ``file://`` URLs of files the tests write; nothing reaches the network.
"""

import hashlib
import socket
import tarfile

import keras
import numpy as np
import pytest

import keras_inception
from keras_inception import weights
from keras_inception.weights import download
from keras_inception.weights import slim
from keras_inception.weights.registry import WeightsFile
from keras_inception.weights.registry import WeightsRecord

THIN = dict(depth_multiplier=0.25, input_shape=(75, 75, 3))


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty Keras cache, no weights directory, online."""
    path = tmp_path / "keras_home"
    path.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(path))
    monkeypatch.delenv(download.WEIGHTS_DIR_ENV, raising=False)
    monkeypatch.delenv(download.OFFLINE_ENV, raising=False)
    return path


@pytest.fixture
def no_network(monkeypatch):
    """Fails the test if a download or a connection is attempted."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(keras.utils, "get_file", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def published(tmp_path, content=b"weights", algorithm="sha256", name="w.h5"):
    """A file served from a file:// origin and its record, with its checksum."""
    origin = tmp_path / "origin"
    origin.mkdir(exist_ok=True)
    path = origin / name
    path.write_bytes(content)
    digest = hashlib.new(algorithm, content).hexdigest()
    return WeightsFile(path.as_uri(), digest, algorithm)


@pytest.mark.parametrize("algorithm", ["md5", "sha256"])
def test_download_into_the_keras_cache_then_reuse(home, tmp_path, monkeypatch, algorithm):
    file = published(tmp_path, algorithm=algorithm)
    path = download.fetch(file)
    assert path == str(home / "models" / "w.h5")
    assert open(path, "rb").read() == b"weights"

    def refuse(*args, **kwargs):
        raise AssertionError("downloaded twice")

    monkeypatch.setattr(keras.utils, "get_file", refuse)
    assert download.fetch(file) == path


def test_weights_directory_comes_first(home, tmp_path, monkeypatch, no_network):
    file = published(tmp_path)
    local = tmp_path / "by_hand"
    local.mkdir()
    (local / "w.h5").write_bytes(b"weights")
    monkeypatch.setenv(download.WEIGHTS_DIR_ENV, str(local))
    assert download.fetch(file) == str(local / "w.h5")
    assert not (home / "models" / "w.h5").exists()


def test_checksum_mismatch_is_refused_wherever_the_file_is(home, tmp_path, monkeypatch):
    file = published(tmp_path)
    (home / "models").mkdir()
    (home / "models" / "w.h5").write_bytes(b"tampered")
    with pytest.raises(ValueError, match=r"Refusing to load .*w\.h5: its sha256 is"):
        download.fetch(file)

    local = tmp_path / "by_hand"
    local.mkdir()
    (local / "w.h5").write_bytes(b"truncated")
    monkeypatch.setenv(download.WEIGHTS_DIR_ENV, str(local))
    with pytest.raises(ValueError, match="sha256 published for"):
        download.fetch(file)


def test_corrupt_download_is_refused_and_deleted(home, tmp_path):
    good = published(tmp_path)
    wrong = WeightsFile(good.url, hashlib.sha256(b"other").hexdigest())
    with pytest.raises(ValueError, match="Refusing the download of 'w.h5'"):
        download.fetch(wrong)
    assert not (home / "models" / "w.h5").exists()


def test_offline_fails_at_once_saying_where_to_put_the_file(home, monkeypatch, no_network):
    monkeypatch.setenv(download.OFFLINE_ENV, "1")
    record = weights.get_weights("inception_v3")
    with pytest.raises(FileNotFoundError) as error:
        keras_inception.InceptionV3(weights="imagenet", **THIN)
    message = str(error.value)
    assert record.file.fname in message and record.file.url in message
    assert download.WEIGHTS_DIR_ENV in message and str(home / "models") in message


def test_unreachable_origin_names_file_url_and_reason(home, tmp_path):
    missing = WeightsFile((tmp_path / "gone.h5").as_uri(), "0" * 64)
    with pytest.raises(FileNotFoundError, match=r"'gone\.h5'.*cannot be downloaded from file://"):
        download.fetch(missing)
    assert not (home / "models" / "gone.h5").exists()


def test_unpublished_checksum_is_pinned_on_first_use(home, tmp_path):
    first = published(tmp_path, b"release", name="a.tar.gz")
    unchecked = WeightsFile(first.url)
    with pytest.warns(UserWarning, match="now pinned"):
        path = download.fetch(unchecked)
    assert download.fetch(unchecked) == path
    with open(path, "wb") as f:
        f.write(b"another release")
    with pytest.raises(ValueError, match="sha256 pinned on first use"):
        download.fetch(unchecked)


@pytest.fixture
def test_record():
    """Registers records made by a test, removing them afterwards."""
    made = []

    def register(**fields):
        defaults = dict(
            model="inception_v3",
            source="tf-slim",
            classes=1001,
            label_offset=1,
            aux_logits=True,
            input_size=299,
            top1=70.0,
            top5=90.0,
            num_params=0,
            license="test",
        )
        record = weights.register_weights(WeightsRecord(**{**defaults, **fields}))
        made.append(record)
        return record

    yield register
    for record in made:
        weights.unregister_weights(record.model, record.tag)


def randomized(model, seed=0):
    """``model`` with every variable random, BatchNorm statistics included."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        if variable.name == "moving_variance":
            value = rng.uniform(0.5, 1.5, variable.shape)
        else:
            value = rng.normal(0.0, 0.1, variable.shape)
        variable.assign(value.astype("float32"))
    return model


def outputs(model, x):
    y = model(x, training=False)
    return {k: np.asarray(v) for k, v in y.items()} if isinstance(y, dict) else np.asarray(y)


def test_keras_format_weights_through_the_registry(home, tmp_path, test_record):
    source = randomized(keras_inception.InceptionV3(**THIN))
    source.save_weights(tmp_path / "v3.weights.h5")
    content = (tmp_path / "v3.weights.h5").read_bytes()
    file = published(tmp_path, content, algorithm="md5", name="v3.weights.h5")
    test_record(
        tag="test_keras",
        source="keras.applications",
        file=file,
        classes=1000,
        label_offset=0,
        aux_logits=False,
    )
    x = np.random.default_rng(1).uniform(-1, 1, (2, 75, 75, 3)).astype("float32")
    loaded = keras_inception.InceptionV3(weights="test_keras", **THIN)
    np.testing.assert_allclose(outputs(loaded, x), outputs(source, x), atol=1e-6)


def test_slim_archive_is_converted_once_then_cached(home, tmp_path, monkeypatch, test_record):
    source = randomized(
        keras_inception.InceptionV3(aux_logits=True, classifier_activation=None, **THIN)
    )
    prefix = slim.save_checkpoint(
        source, str(tmp_path / "ckpt" / "inception_v3.ckpt"), "inception_v3", background_class=True
    )
    archive = tmp_path / "inception_v3_test.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for suffix in (".index", ".data-00000-of-00001"):
            tar.add(prefix + suffix, arcname="inception_v3.ckpt" + suffix)
    file = published(tmp_path, archive.read_bytes(), name="inception_v3_test.tar.gz")
    test_record(tag="test_slim", file=file)

    x = np.random.default_rng(2).uniform(-1, 1, (2, 75, 75, 3)).astype("float32")
    want = outputs(source, x)
    loaded = keras_inception.InceptionV3(
        weights="test_slim", aux_logits=True, classifier_activation=None, **THIN
    )
    got = outputs(loaded, x)
    for head in ("predictions", "aux"):
        np.testing.assert_allclose(got[head], want[head], atol=1e-5)
    assert list((home / "models" / "keras_inception").glob("inception_v3_test_slim.*.weights.h5"))

    def refuse(*args, **kwargs):
        raise AssertionError("converted twice")

    monkeypatch.setattr(slim, "convert_archive", refuse)
    # The background class kept: 1001 outputs, ImageNet class i at i + 1.
    background = keras_inception.InceptionV3(
        weights="test_slim", classes=1001, classifier_activation=None, **THIN
    )
    logits = outputs(background, x)
    np.testing.assert_allclose(logits[:, 1:], want["predictions"], atol=1e-5)
    np.testing.assert_allclose(logits[:, 0], 0.0)
    # Fine-tuning: the classifier and auxiliary head of the checkpoint are dropped.
    features = keras_inception.InceptionV3(
        weights="test_slim", include_top=False, pooling="avg", **THIN
    )
    pooled = keras.Model(source.input, source.get_layer("avg_pool").output)
    np.testing.assert_allclose(outputs(features, x), outputs(pooled, x), atol=1e-5)
