"""``build_dataset``: batches, determinism, sharding, extras, and digits that stay digits."""

import hashlib
import os
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from data_fixtures import _fresh_keras_state  # noqa: F401
from data_fixtures import make_tree
from keras_inception import data
from keras_inception.data import pipeline
from keras_inception.data import preprocessing
from keras_inception.data import sources

AutoShard = tf.data.experimental.AutoShardPolicy


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("tree"))
    make_tree(root, ["a", "b", "c"], per_class=6, size=(20, 26))
    return root


@pytest.fixture(scope="module")
def shards(tree, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("shards"))
    data.write_tfrecords(tree, out, num_shards=3, validation_split=0)
    return out


def fingerprints(images):
    return [hashlib.sha1(np.asarray(image).tobytes()).hexdigest() for image in images]


def epoch(ds):
    images, labels = zip(*((x.numpy(), y.numpy()) for x, y in ds))
    return np.concatenate(images), np.concatenate(labels)


def test_training_batches_are_static_shuffled_and_complete(tree):
    ds, info = data.build_dataset(
        data.DataConfig(tree, image_size=16, batch_size=4, validation_split=0)
    )
    assert ds.element_spec[0].shape == (4, 16, 16, 3) and ds.element_spec[0].dtype == tf.float32
    assert ds.element_spec[1].shape == (4,) and ds.element_spec[1].dtype == tf.int32
    assert (info.num_examples, info.steps_per_epoch, info.augment) == (18, 4, "inception")
    assert info.class_names == ["a", "b", "c"] and info.num_classes == 3
    images, labels = epoch(ds)
    assert len(labels) == 16  # drop_remainder
    assert images.min() >= -1.0 and images.max() <= 1.0
    assert list(labels) != sorted(labels)


def test_eval_batches_keep_every_example_in_order(tree):
    ds, info = data.build_dataset(
        data.DataConfig(
            tree, split="validation", image_size=16, batch_size=4, validation_split=0, scale=False
        )
    )
    assert ds.element_spec[0].shape.as_list() == [None, 16, 16, 3]
    images, labels = epoch(ds)
    assert list(labels) == [0] * 6 + [1] * 6 + [2] * 6
    assert images.min() >= 0.0 and images.max() <= 255.0 and images.max() > 200
    again, _ = epoch(ds)
    np.testing.assert_array_equal(images, again)
    assert info.steps_per_epoch == 5 and info.augment is None


def test_training_is_reproducible_with_a_seed_and_varies_by_epoch(tree):
    def build(seed):
        return data.build_dataset(
            data.DataConfig(
                tree, image_size=16, batch_size=6, seed=seed, deterministic=True, validation_split=0
            )
        )[0]

    first, second = epoch(build(5)), epoch(build(5))
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.allclose(first[0], epoch(build(6))[0])
    ds = build(5)
    epoch_1, epoch_2 = epoch(ds), epoch(ds)
    assert not np.allclose(epoch_1[0], epoch_2[0])


def test_color_in_model_leaves_only_the_colour_out(tree, monkeypatch):
    def epoch_of(**fields):
        ds, info = data.build_dataset(
            data.DataConfig(
                tree,
                image_size=16,
                batch_size=6,
                seed=3,
                deterministic=True,
                validation_split=0,
                **fields,
            )
        )
        return epoch(ds)[0], info

    deferred, info = epoch_of(color_in_model=True)
    assert info.color_in_model == "full"
    monkeypatch.setitem(
        preprocessing.AUGMENTATIONS, "inception", preprocessing.Augmentation(color=None)
    )
    np.testing.assert_array_equal(deferred, epoch_of()[0])
    assert epoch_of(augment="mild", color_in_model=True)[1].color_in_model is None
    _, val_info = data.build_dataset(
        data.DataConfig(
            tree,
            split="validation",
            image_size=16,
            batch_size=6,
            color_in_model=True,
        )
    )
    assert val_info.color_in_model is None


def test_tf_data_options_are_set_for_speed(tree):
    train, _ = data.build_dataset(data.DataConfig(tree, image_size=16, batch_size=4))
    val, _ = data.build_dataset(
        data.DataConfig(tree, split="validation", image_size=16, batch_size=4)
    )
    for ds, training in ((train, True), (val, False)):
        options = ds.options()
        assert options.threading.private_threadpool_size == 0  # sized to the host's cores
        assert options.threading.max_intra_op_parallelism == 1
        assert options.experimental_optimization.map_fusion
        assert options.experimental_slack == training
        assert options.autotune.ram_budget == 256 << 20  # 16 small batches, raised to the floor
    # 16 batches of 32 images of 299 x 299 x 3 float32 pixels: 549 MB.
    batch_bytes = 32 * 299 * 299 * 3 * 4
    settings = pipeline.performance_settings(batch_bytes, training=True)
    assert settings["autotune.ram_budget"] == 16 * batch_bytes


def test_digits_is_a_source_like_any_other():
    # No default comes from the source's name: the library defaults are the
    # papers' for every source, and training picks its own from the data.
    _, info = data.build_dataset(data.DataConfig("digits", image_size=24, batch_size=32))
    _, val_info = data.build_dataset(
        data.DataConfig("digits", split="validation", image_size=24, batch_size=64)
    )
    assert (info.augment, val_info.central_fraction) == ("inception", 0.875)
    assert (info.num_examples, val_info.num_examples) == (1617, 180)


def test_light_recipe_keeps_small_digits_readable():
    common = dict(image_size=24, validation_split=0.2)
    train, info = data.build_dataset(
        data.DataConfig("digits", batch_size=32, augment="light", **common)
    )
    val, val_info = data.build_dataset(
        data.DataConfig("digits", split="validation", batch_size=64, central_fraction=1.0, **common)
    )
    assert (info.num_examples, val_info.num_examples) == (1437, 360)
    # A 1-nearest-neighbour classifier on the clean 8x8 training digits must
    # read the pipeline's output, brought back to 8x8, as well as clean digits.
    from sklearn.neighbors import KNeighborsClassifier

    clean = [
        (tf.io.decode_png(e["encoded"]).numpy()[..., 0].ravel() / 255.0, int(e["label"]))
        for e in sources.open_source("digits").make(
            size=(8, 8), shuffle=False, seed=0, input_context=None, cache=False
        )
    ]
    clf = KNeighborsClassifier(1).fit(*map(np.array, zip(*clean)))

    def accuracy(ds, batches):
        correct = total = 0
        for x, y in ds.take(batches):
            small = tf.image.resize(x, (8, 8), method="area")[..., 0].numpy()
            correct += (clf.predict(((small + 1) / 2).reshape(-1, 64)) == y.numpy()).sum()
            total += len(y)
        return correct / total

    assert accuracy(val, 6) >= 0.95
    light = accuracy(train, 8)
    assert light >= 0.9
    photo_recipe, _ = data.build_dataset(
        data.DataConfig("digits", batch_size=32, augment="inception", **common)
    )
    assert accuracy(photo_recipe, 8) < light - 0.3


def test_mixup_cutmix_give_one_hot_soft_labels():
    ds, info = data.build_dataset(
        data.DataConfig(
            "digits", image_size=16, batch_size=16, mixup=0.8, cutmix=1.0, randaugment=True
        )
    )
    images, labels = next(iter(ds))
    assert info.label_format == "one_hot"
    assert labels.shape == (16, 10) and labels.dtype == tf.float32
    np.testing.assert_allclose(tf.reduce_sum(labels, axis=1), 1.0, atol=1e-5)
    assert (
        float(tf.reduce_max(labels)) < 1.0 or float(tf.reduce_min(tf.reduce_max(labels, 1))) < 1.0
    )
    assert -1.0 <= float(tf.reduce_min(images)) and float(tf.reduce_max(images)) <= 1.0


def test_input_context_splits_the_data_between_workers(tree, shards):
    for source in (tree, shards):
        seen = []
        for worker in range(2):
            context = tf.distribute.InputContext(2, worker, 2)
            ds, _ = data.build_dataset(
                data.DataConfig(
                    source,
                    split="validation",
                    image_size=8,
                    batch_size=4,
                    validation_split=0,
                ),
                input_context=context,
            )
            assert ds.element_spec[0].shape[0] in (None, 2)  # per-replica batches
            seen.append(fingerprints(epoch(ds)[0]))
            assert ds.options().experimental_distribute.auto_shard_policy == AutoShard.OFF
        assert seen[0] and seen[1] and not set(seen[0]) & set(seen[1])
        assert len(seen[0]) + len(seen[1]) == 18


def test_auto_shard_policy_is_explicit(tree, shards):
    def policy(source, **kwargs):
        ds, _ = data.build_dataset(data.DataConfig(source, image_size=8, batch_size=2, **kwargs))
        return ds.options().experimental_distribute.auto_shard_policy

    assert policy(shards) == AutoShard.FILE
    # Per-example seeds come from a second (non-file) dataset.
    assert policy(shards, deterministic=True) == AutoShard.DATA
    assert policy(tree) == AutoShard.DATA


def test_records_auto_shard_by_file(shards):
    try:  # TensorFlow's own rewrite, as tf.distribute applies it on each worker
        from tensorflow.python.data.experimental.ops.distribute import _AutoShardDataset
    except ImportError:
        pytest.skip("this TensorFlow has no _AutoShardDataset")
    ds, _ = data.build_dataset(
        data.DataConfig(shards, image_size=8, batch_size=1, cache=False, validation_split=0)
    )
    seen = [
        fingerprints(tf.image.resize(x, (2, 2)) for x, _ in _AutoShardDataset(ds, 2, index))
        for index in range(2)
    ]
    # Three shards of six records: files 0 and 2 to worker 0, file 1 to worker 1.
    assert sorted(map(len, seen)) == [6, 12]


def test_model_fit_consumes_it_under_a_strategy():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    ds = strategy.distribute_datasets_from_function(
        lambda context: data.build_dataset(
            data.DataConfig("digits", image_size=12, batch_size=64), input_context=context
        )[0]
    )
    with strategy.scope():
        model = keras.Sequential(
            [
                keras.Input((12, 12, 3)),
                keras.layers.Conv2D(8, 3, activation="relu"),
                keras.layers.GlobalAveragePooling2D(),
                keras.layers.Dense(10),
            ]
        )
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(ds, epochs=1, steps_per_epoch=5, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_argument_errors_name_the_value(tree):
    with pytest.raises(
        ValueError, match="at least 75x75 for inception_v3.*Received: image_size=64"
    ):
        data.build_dataset(
            data.DataConfig("digits", image_size=64, batch_size=2, model="inception_v3")
        )
    with pytest.raises(ValueError, match=r"at least 32x32\. Received: image_size=\(40, 16\)"):
        data.build_dataset(
            data.DataConfig("digits", image_size=(40, 16), batch_size=2, min_size=32)
        )
    with pytest.raises(ValueError, match="Unknown model"):
        data.build_dataset(data.DataConfig("digits", image_size=80, batch_size=2, model="resnet"))
    with pytest.raises(ValueError, match="Received: batch_size=0"):
        data.build_dataset(data.DataConfig("digits", image_size=16, batch_size=0))
    with pytest.raises(ValueError, match="Received: augment='heavy'"):
        data.build_dataset(data.DataConfig("digits", image_size=16, batch_size=2, augment="heavy"))
    with pytest.raises(ValueError, match="Received: mixup=-1"):
        data.build_dataset(data.DataConfig("digits", image_size=16, batch_size=2, mixup=-1))
    with pytest.raises(ValueError, match="Received: cache=3"):
        data.build_dataset(data.DataConfig("digits", image_size=16, batch_size=2, cache=3))


def test_cache_decisions():
    limit = pipeline.EVAL_CACHE_LIMIT_BYTES
    assert pipeline._resolve_cache("auto", True, limit, limit) is True
    assert pipeline._resolve_cache("auto", True, limit + 1, limit) is False
    assert pipeline._resolve_cache("auto", True, None) is False
    assert pipeline._resolve_cache("auto", False, 1) is False
    assert pipeline._resolve_cache("/tmp/c", True, None) == "/tmp/c"
    assert pipeline._resolve_cache(True, False, 1) is False


def test_file_cache_is_written(tree, tmp_path):
    cache = str(tmp_path / "cache")
    ds, _ = data.build_dataset(
        data.DataConfig(tree, image_size=8, batch_size=4, validation_split=0, cache=cache)
    )
    epoch(ds)
    assert any(name.startswith("cache") for name in os.listdir(tmp_path))


def test_calibration_images_from_the_eval_pipeline(tree):
    batches = list(
        data.calibration_images(tree, 16, num_images=7, batch_size=3, validation_split=0)
    )
    assert [b.shape for b in batches] == [(3, 16, 16, 3), (3, 16, 16, 3), (1, 16, 16, 3)]
    assert all(b.dtype == np.float32 and b.min() >= -1 and b.max() <= 1 for b in batches)
    raw = next(
        iter(data.calibration_images(tree, 16, num_images=1, scale=False, validation_split=0))
    )
    assert raw.max() > 1.5


def test_class_names_round_trip(tmp_path):
    path = str(tmp_path / "run" / "class_names.json")
    data.save_class_names(path, ["cat", "dog", 3])
    assert data.load_class_names(path) == ["cat", "dog", "3"]
    with open(path, "w") as f:
        f.write('{"0": "cat"}')
    with pytest.raises(ValueError, match="JSON list of strings"):
        data.load_class_names(path)


def test_skipped_files_are_in_the_info(tmp_path):
    root = str(tmp_path)
    make_tree(root, ["x", "y"], per_class=3)
    with open(os.path.join(root, "y", "broken.jpg"), "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 not really")
    log = str(tmp_path / "skipped.log")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, info = data.build_dataset(
            data.DataConfig(root, image_size=8, batch_size=2, skipped_log=log)
        )
    skipped = [w for w in caught if issubclass(w.category, data.SkippedFileWarning)]
    assert skipped and skipped[0].filename == __file__  # points at the caller's line
    assert info.skipped == [os.path.join(root, "y", "broken.jpg")]
    assert info.skipped_log == log and os.path.isfile(log)


DATA_INVALID = [
    ({"split": "test"}, "split='test'"),
    ({"verify": "slow"}, "verify='slow'"),
    ({"shuffle_buffer": 0}, "shuffle_buffer=0"),
    ({"central_fraction": 1.5}, "central_fraction=1.5"),
    ({"validation_split": 1.0}, "validation_split=1.0"),
    ({"label_offset": -1}, "label_offset=-1"),
    ({"class_names": [0, 1]}, r"class_names=\[0, 1\]"),
    ({"training": "yes"}, "training='yes'"),
    ({"max_pixels": 0}, "max_pixels=0"),
    ({"source": ""}, "source=''"),
    ({"image_size": (16,)}, r"image_size=\(16,\)"),
    ({"cutmix": float("nan")}, "cutmix=nan"),
    ({"color_in_model": 1}, "color_in_model=1"),
]


@pytest.mark.parametrize(
    "changes, received", DATA_INVALID, ids=[next(iter(changes)) for changes, _ in DATA_INVALID]
)
def test_data_config_errors_name_the_field(changes, received):
    config = data.DataConfig("digits", image_size=16, batch_size=2).replace(**changes)
    with pytest.raises(ValueError, match=rf"`{next(iter(changes))}` .*Received: {received}$"):
        config.validate()
    # build_dataset validates before it opens anything.
    with pytest.raises(ValueError, match=rf"Received: {received}$"):
        data.build_dataset(config)


def test_data_config_is_the_only_way_in():
    config = data.DataConfig("digits", image_size=(16, 12), batch_size=2)
    assert config.validate() is config and config.resolved_image_size() == (16, 12)
    assert config.is_training and not config.replace(split="validation").is_training
    assert not config.replace(training=False).is_training
    with pytest.raises(ValueError, match="Unknown DataConfig field.*Received: augmnet='mild'"):
        config.replace(augmnet="mild")
    # The old keyword call is refused with the new spelling in the message.
    with pytest.raises(
        ValueError,
        match=r"takes a keras_inception\.data\.DataConfig.*"
        r"Received: config='digits'",
    ):
        data.build_dataset("digits")
    assert config.to_dict()["image_size"] == [16, 12]
    assert set(config.to_dict()) == set(data.config.FIELDS)
