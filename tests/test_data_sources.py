"""Sources: directory trees with bad files, TFRecords, TFDS (mocked), digits, and the CLI."""

import json
import os
import warnings

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from data_fixtures import _fresh_keras_state  # noqa: F401
from data_fixtures import awkward_images
from data_fixtures import broken_files
from data_fixtures import encode
from data_fixtures import make_tree
from data_fixtures import random_rgb
from data_fixtures import write
from keras_inception import data
from keras_inception.cli import main as cli_main
from keras_inception.data import sources
from keras_inception.data import tfrecord


@pytest.fixture(scope="module")
def messy_tree(tmp_path_factory):
    """Two classes: good images, every awkward format, every kind of broken file."""
    root = str(tmp_path_factory.mktemp("messy"))
    good = make_tree(root, ["ant", "bee"], per_class=3)
    for name, payload in awkward_images().items():
        good["ant"].append(write(os.path.join(root, "ant", name), payload))
    broken = {
        name: write(os.path.join(root, "bee", "sub", name), payload)
        for name, payload in broken_files().items()
    }
    stray = write(os.path.join(root, "README.md"), b"# photos\n")
    write(os.path.join(root, "bee", ".DS_Store"), b"\x00\x01")
    return root, good, broken, stray


def scan(root, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", data.SkippedFileWarning)
        return sources.scan_directory(root, **kwargs)


# ---------------------------------------------------------------- file checks


def test_quick_check_names_each_problem(messy_tree):
    _, _, broken, _ = messy_tree
    reasons = {name: data.inspect_image_file(path) for name, path in broken.items()}
    assert reasons["empty.jpg"] == "empty file"
    assert reasons["notes.txt"] == "not an image"
    assert reasons["truncated.jpg"].startswith("cannot be decoded")
    assert reasons["truncated.png"].startswith("cannot be decoded")
    assert "colour palette" in reasons["colour_palette.bmp"]
    assert "1-bit" in reasons["one_bit.bmp"]
    assert reasons["picture.tiff"].startswith("unsupported format TIFF")
    # Damage inside the data leaves the header and end marker intact: only a
    # full decode finds it.
    corrupt = [broken["corrupt.jpg"], broken["corrupt.png"]]
    assert reasons["corrupt.jpg"] is None and reasons["corrupt.png"] is None
    found = data.verify_decodable(corrupt)
    assert sorted(found) == sorted(corrupt)
    assert all(reason.startswith("cannot be decoded") for reason in found.values())


def test_awkward_images_pass_the_checks(messy_tree):
    _, good, _, _ = messy_tree
    assert {p: data.inspect_image_file(p) for p in good["ant"]} == dict.fromkeys(good["ant"])
    assert data.verify_decodable(good["ant"]) == {}


def test_non_jpeg_above_max_pixels_is_skipped(tmp_path):
    path = write(str(tmp_path / "wide.png"), encode(random_rgb(10, 400), "PNG"))
    assert data.inspect_image_file(path, max_pixels=3999).startswith("too large: 400x10")
    assert data.inspect_image_file(path, max_pixels=4000) is None


def test_full_scan_skips_exactly_the_bad_files_and_reports_them(messy_tree, tmp_path):
    root, good, broken, stray = messy_tree
    log = str(tmp_path / "skipped.txt")
    with pytest.warns(data.SkippedFileWarning, match=r"Skipped 10 of \d+ files") as caught:
        src = sources.open_source(root, verify="full", validation_split=0, skipped_log=log)
    assert log in str(caught[0].message)
    assert set(src.skipped) == set(broken.values()) | {stray}
    assert src.num_examples == len(good["ant"]) + len(good["bee"])
    with open(log) as f:
        logged = dict(line.rstrip("\n").split("\t") for line in f)
    assert logged == src.skipped
    assert src.verified == "full"


def test_quick_scan_lets_mid_file_corruption_through_to_ignore_errors(messy_tree):
    root, good, broken, _ = messy_tree
    with pytest.warns(UserWarning, match="checked by their headers only"):
        ds, info = data.build_dataset(
            data.DataConfig(
                root,
                image_size=24,
                batch_size=1,
                verify="quick",
                validation_split=0,
                training=False,
            )
        )
    assert broken["corrupt.png"] not in info.skipped
    assert broken["corrupt.jpg"] not in info.skipped
    assert info.num_examples == len(good["ant"]) + len(good["bee"]) + 2
    # The PNG fails to decode and is dropped while iterating; libjpeg decodes
    # the damaged JPEG's crop with grey where the data is broken (TensorFlow's
    # cropped decode tolerates it). Either way the epoch completes.
    assert sum(1 for _ in ds) == info.num_examples - 1


# ---------------------------------------------------------------- directory errors


def test_directory_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="does not exist.*Received: source="):
        sources.open_source(str(tmp_path / "missing"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="holds nothing"):
        sources.open_source(str(empty))
    flat = tmp_path / "flat"
    write(str(flat / "a.jpg"), encode(random_rgb(8, 8), "JPEG"))
    with pytest.raises(ValueError, match="only files, no class folders"):
        sources.open_source(str(flat))
    tree = tmp_path / "tree"
    make_tree(str(tree), ["full"], per_class=2)
    (tree / "hollow").mkdir()
    with pytest.raises(ValueError, match=r"Class folders \['hollow'\].*no usable image"):
        sources.open_source(str(tree))
    write(str(tree / "hollow" / "bad.jpg"), b"")
    with pytest.raises(ValueError, match=r"\['hollow'\].*1 files, none decodable"):
        scan(str(tree))


def test_argument_errors_end_with_the_received_value(tmp_path):
    with pytest.raises(ValueError, match="Received: split='test'"):
        sources.open_source("digits", split="test")
    with pytest.raises(ValueError, match="Received: validation_split=1.0"):
        sources.open_source("digits", validation_split=1.0)
    with pytest.raises(ValueError, match="Received: verify='maybe'"):
        sources.open_source("digits", verify="maybe")
    with pytest.raises(ValueError, match="Received: source=42"):
        sources.open_source(42)
    image = write(str(tmp_path / "one.png"), encode(random_rgb(4, 4), "PNG"))
    with pytest.raises(ValueError, match="is a single image"):
        sources.open_source(image)


# ---------------------------------------------------------------- splits


def test_holdout_split_is_stratified_seeded_and_disjoint():
    examples = {c: [f"{c}/{i}" for i in range(n)] for c, n in (("a", 20), ("b", 10), ("c", 1))}
    split = sources.holdout_split(examples, 0.2, seed=3)
    assert split == sources.holdout_split(examples, 0.2, seed=3)
    assert split != sources.holdout_split(examples, 0.2, seed=4)
    for name, paths in examples.items():
        train, val = split["train"][name], split["validation"][name]
        assert sorted(train + val) == sorted(paths) and not set(train) & set(val)
    assert [len(split["validation"][c]) for c in "abc"] == [4, 2, 0]


def test_separate_train_and_val_trees(tmp_path):
    make_tree(str(tmp_path / "train"), ["x", "y", "z"], per_class=2)
    make_tree(str(tmp_path / "val"), ["x", "z"], per_class=1, seed=1)
    train = sources.open_source(str(tmp_path), split="train")
    val = sources.open_source(str(tmp_path), split="validation")
    assert train.class_names == val.class_names == ["x", "y", "z"]
    assert (train.num_examples, val.num_examples) == (6, 2)
    make_tree(str(tmp_path / "val"), ["w"], per_class=1)
    with pytest.raises(ValueError, match=r"\['w'\] are not among the training classes"):
        sources.open_source(str(tmp_path), split="validation")


# ---------------------------------------------------------------- TFRecords


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("photos"))
    tree = make_tree(root, ["cat", "dog", "eel"], per_class=6, size=(18, 22))
    write(os.path.join(root, "dog", "broken.jpg"), b"\xff\xd8\xff garbage")
    out = str(tmp_path_factory.mktemp("records"))
    with pytest.warns(data.SkippedFileWarning, match="Skipped 1 of 19"):
        info = data.write_tfrecords(root, out, num_shards=3, validation_split=1 / 3)
    return root, tree, out, info


def test_writer_shards_mix_classes_and_keep_every_image(records):
    root, tree, out, info = records
    assert info["class_names"] == ["cat", "dog", "eel"]
    assert {s: e["num_examples"] for s, e in info["splits"].items()} == {
        "train": 12,
        "validation": 6,
    }
    assert sorted(os.listdir(out)) == sorted(
        tfrecord.shard_names("train", 3)
        + tfrecord.shard_names("validation", 1)
        + ["class_names.json", "dataset_info.json", "skipped_files.txt"]
    )
    originals = {open(p, "rb").read(): (c, i) for i, c in enumerate(tree) for p in tree[c]}
    seen = []
    for name in tfrecord.shard_names("train", 3) + tfrecord.shard_names("validation", 1):
        labels = set()
        for raw in tf.data.TFRecordDataset(os.path.join(out, name)):
            example = tfrecord.parse_example(raw)
            class_name, label = originals[example["encoded"].numpy()]
            assert int(example["label"]) == label
            labels.add(label)
            seen.append(example["encoded"].numpy())
        assert len(labels) > 1, f"{name} holds a single class"
    assert sorted(seen) == sorted(originals)
    assert data.load_class_names(os.path.join(out, "class_names.json")) == info["class_names"]


def test_reader_uses_the_named_splits_and_stored_counts(records):
    _, _, out, _ = records
    for split, count in (("train", 12), ("validation", 6)):
        src = sources.open_source(out, split=split)
        assert (src.kind, src.num_examples, src.class_names) == (
            "tfrecord",
            count,
            ["cat", "dog", "eel"],
        )
        elements = list(
            src.make(size=(8, 8), shuffle=False, seed=0, input_context=None, cache=False)
        )
        assert len(elements) == count
        assert elements[0]["bbox"].shape == (0, 4)


def test_unnamed_records_are_split_by_a_stable_hash(records, tmp_path):
    _, _, out, _ = records
    single = os.path.join(out, "train-00000-of-00003.tfrecord")
    keys = {}
    for split in sources.SPLITS:
        src = sources.open_source(single, split=split, validation_split=0.5, seed=7)
        assert src.class_names == ["cat", "dog", "eel"]  # from dataset_info.json
        keys[split] = [
            e["encoded"].numpy()
            for e in src.make(size=(8, 8), shuffle=True, seed=1, input_context=None, cache=False)
        ]
    assert not set(keys["train"]) & set(keys["validation"])
    assert len(keys["train"]) + len(keys["validation"]) == 4
    alone = write(str(tmp_path / "copy.tfrecord"), open(single, "rb").read())
    src = sources.open_source(alone, validation_split=0)
    assert src.class_names == [
        str(i)
        for i in range(
            max(
                int(e["label"])
                for e in src.make(
                    size=(8, 8), shuffle=False, seed=0, input_context=None, cache=False
                )
            )
            + 1
        )
    ]


def test_training_shards_alone_give_both_splits_without_overlap(tmp_path):
    root = str(tmp_path / "images")
    make_tree(root, ["a", "b"], per_class=10)
    out = str(tmp_path / "records")
    data.write_tfrecords(root, out, num_shards=2, validation_split=0)
    assert not [f for f in os.listdir(out) if f.startswith("validation-")]
    keys = {}
    for split in sources.SPLITS:
        src = sources.open_source(out, split=split, validation_split=0.3)
        keys[split] = {
            e["encoded"].numpy()
            for e in src.make(size=(8, 8), shuffle=False, seed=0, input_context=None, cache=False)
        }
        assert src.num_examples == len(keys[split])
    assert not keys["train"] & keys["validation"]
    assert len(keys["train"]) + len(keys["validation"]) == 20 and keys["validation"]


def test_slim_records_with_boxes_and_one_based_labels(tmp_path):
    path = str(tmp_path / "slim.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for label in (1, 2):
            writer.write(
                tfrecord.make_example(
                    encode(random_rgb(16, 16), "JPEG"),
                    label,
                    class_name=f"n0{label}",
                    filename=f"{label}.JPEG",
                    height=16,
                    width=16,
                    image_format="JPEG",
                    bbox=[(0.1, 0.2, 0.5, 0.6), (0.0, 0.0, 1.0, 1.0)],
                ).SerializeToString()
            )
    src = sources.open_source(path, validation_split=0, label_offset=1)
    elements = list(src.make(size=(8, 8), shuffle=False, seed=0, input_context=None, cache=False))
    assert [int(e["label"]) for e in elements] == [0, 1]
    np.testing.assert_allclose(elements[0]["bbox"].numpy(), [[0.1, 0.2, 0.5, 0.6], [0, 0, 1, 1]])
    ds, _ = data.build_dataset(
        data.DataConfig(path, image_size=12, batch_size=2, validation_split=0, label_offset=1)
    )
    images, labels = next(iter(ds))
    assert images.shape == (2, 12, 12, 3)


def test_missing_records_are_an_error(tmp_path):
    with pytest.raises(ValueError, match="No TFRecord files found"):
        sources.open_source(str(tmp_path / "*.tfrecord"))


# ---------------------------------------------------------------- TFDS


def test_tfds_source_with_mock_data():
    with tfds.testing.mock_data(num_examples=10, policy=tfds.testing.MockPolicy.USE_CODE):
        src = sources.open_source("tfds:tf_flowers", split="validation", validation_split=0.2)
        assert src.kind == "tfds"
        assert src.class_names == ["dandelion", "daisy", "tulips", "sunflowers", "roses"]
        ds, info = data.build_dataset(
            data.DataConfig("tfds:tf_flowers", split="validation", image_size=16, batch_size=4)
        )
        batches = list(ds)
    assert info.num_examples == src.num_examples > 0
    assert batches[0][0].shape[1:] == (16, 16, 3)
    assert all(0 <= int(y) < 5 for _, labels in batches for y in labels)
    assert sources._tfds_split({}, "train", 0.2) == "train[:80%]"
    assert sources._tfds_split({"validation": 1}, "validation", 0.2) == "validation"


def test_tfds_unknown_name_and_missing_data(tmp_path):
    with pytest.raises(ValueError, match="Unknown TensorFlow Datasets name 'no_such_set'"):
        sources.open_source("tfds:no_such_set", data_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"no prepared copy.*downloads[/\\]manual.*download=True"):
        sources.open_source("tfds:imagenet2012", data_dir=str(tmp_path))


# ---------------------------------------------------------------- digits


def test_digits_are_real_scans_split_stratified():
    images, labels = data.load_digits_rgb()
    assert images.shape == (1797, 8, 8, 3) and images.dtype == np.uint8
    assert images.max() == 255 and np.array_equal(images[..., 0], images[..., 2])
    train = sources.open_source("digits", split="train", validation_split=0.2)
    val = sources.open_source("digits", split="validation", validation_split=0.2)
    assert (train.num_examples, val.num_examples) == (1437, 360)
    assert train.class_names == [str(i) for i in range(10)]
    # Served as 8x8 PNG files, like any image folder.
    first = next(
        iter(train.make(size=(8, 8), shuffle=False, seed=0, input_context=None, cache=False))
    )
    assert tf.io.decode_png(first["encoded"]).shape == (8, 8, 1)
    val_labels = [
        int(e["label"])
        for e in val.make(size=(8, 8), shuffle=False, seed=0, input_context=None, cache=False)
    ]
    counts = np.bincount(val_labels, minlength=10)
    assert counts.min() >= 34 and counts.max() <= 38  # ~36 per class: stratified
    assert sources.open_source("digits", validation_split=0.5).num_examples == 898


# ---------------------------------------------------------------- CLI


def test_cli_convert_and_info(tmp_path, capsys):
    root = str(tmp_path / "images")
    make_tree(root, ["a", "b"], per_class=5)
    write(os.path.join(root, "b", "empty.png"), b"")
    out = str(tmp_path / "records")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", data.SkippedFileWarning)
        assert (
            cli_main(["data", "convert", root, out, "--shards", "2", "--validation-split", "0.2"])
            == 0
        )
        assert "train: 8 examples in 2 shards" in capsys.readouterr().out
        assert cli_main(["data", "info", out, "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["examples"] == {"train": 8, "validation": 2}
        assert report["classes"] == ["a", "b"]
        assert cli_main(["data", "info", root]) == 0
        text = capsys.readouterr().out
    assert "2 classes" in text and "empty.png: empty file" in text
    assert cli_main(["data", "info", str(tmp_path / "nowhere")]) == 1
    assert "does not exist" in capsys.readouterr().err
