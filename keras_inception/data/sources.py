"""Where images come from: a directory tree, TFRecords, TensorFlow Datasets, or digits.

``open_source`` turns a source string into a ``Source``: the class names, the
number of examples, the files that were skipped, and a function that makes the
``tf.data.Dataset`` of raw elements (``{"encoded" | "image", "label"[, "bbox"]}``)
already shuffled and sharded the way that suits the storage: file-level for
TFRecords, by the (cheap) list of paths for directories.
"""

import dataclasses
import glob
import hashlib
import os

import numpy as np
import tensorflow as tf

from keras_inception.data import files as files_lib
from keras_inception.data import tfrecord

SPLITS = ("train", "validation")

# Encoded sets up to this size are cached in memory after the first epoch.
CACHE_LIMIT_BYTES = 1 << 30

# Records held in the shuffle buffer when the set is not cached.
SHUFFLE_BUFFER = 8192

# Directory trees up to this many files are decoded once to verify them
# (``verify="auto"``); larger ones get the header check only.
FULL_VERIFY_LIMIT = 50_000

_VERIFY = ("auto", "full", "quick")
_SCANS = {}
_TRAIN_TREE, _VALIDATION_TREES = "train", ("validation", "val")
_RECORD_SUFFIXES = (".tfrecord", ".tfrecords", ".tfrec", ".record")


@dataclasses.dataclass
class Source:
    """A readable set of labelled images (see ``open_source``).

    Attributes:
        name: the source as given.
        kind: ``"directory"``, ``"tfrecord"``, ``"tfds"`` or ``"digits"``.
        class_names: label ``i`` is ``class_names[i]``.
        num_examples: examples in the selected split.
        make: ``make(*, size, shuffle, seed, input_context, cache,
            shuffle_buffer=None)`` returns the dataset of raw elements.
        skipped: ``{path: reason}`` of files left out.
        skipped_log: the file listing them, or ``None``.
        verified: ``"full"`` when every file was decoded once, ``"quick"``
            when only headers were checked, ``"trusted"`` for curated sources.
        total_bytes: encoded size of the split when known (decides caching).
        default_augment: the augmentation that suits these images.
        central_fraction: the evaluation crop that suits these images.
        file_sharded: reads several files, so ``tf.distribute`` shards by file.
    """

    name: str
    kind: str
    class_names: list
    num_examples: int
    make: object
    skipped: dict = dataclasses.field(default_factory=dict)
    skipped_log: str = None
    verified: str = "trusted"
    total_bytes: int = None
    default_augment: str = "inception"
    central_fraction: float = 0.875
    file_sharded: bool = False


def default_validation_split(source):
    """The validation fraction used when none is given: 0.2 for digits, else 0.1."""
    return 0.2 if source == "digits" else 0.1


def open_source(
    source,
    *,
    split="train",
    validation_split=None,
    seed=1337,
    verify="auto",
    max_pixels=files_lib.DEFAULT_MAX_PIXELS,
    skipped_log=None,
    class_names=None,
    data_dir=None,
    download=False,
    label_offset=0,
):
    """Opens ``source`` and selects ``split``.

    Args:
        source: a directory ``root/<class>/<image>`` (or ``root/train/<class>``
            and ``root/val/<class>``), a TFRecord file, glob or directory,
            ``"tfds:NAME"``, or ``"digits"``.
        split: ``"train"`` or ``"validation"``, default ``"train"``.
        validation_split: fraction held out for validation when the source has
            no validation split of its own, default ``None`` (0.1; 0.2 for
            digits); 0 uses everything for either split.
        seed: seed of the held-out selection, default 1337.
        verify: ``"auto"`` (default), ``"full"`` or ``"quick"``: how image
            files in a directory are checked (see ``files``).
        max_pixels: largest non-JPEG image accepted, default
            ``files.DEFAULT_MAX_PIXELS``.
        skipped_log: where to list skipped files, default ``None`` (a file in
            the temporary directory).
        class_names: the label order to use, default ``None`` (sorted folder
            names, or the names stored with the records).
        data_dir: TFDS data directory, default ``None`` (TFDS's default).
        download: let TFDS download and prepare the data, default ``False``.
        label_offset: subtracted from TFRecord labels, default 0 (1 for
            TF-slim ImageNet records).

    Returns:
        A ``Source``.
    """
    if split not in SPLITS:
        raise ValueError(f"`split` must be one of {SPLITS}. Received: split={split!r}")
    if validation_split is None:
        validation_split = default_validation_split(source)
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(
            "`validation_split` must be in [0, 1). "
            f"Received: validation_split={validation_split!r}"
        )
    if verify not in _VERIFY:
        raise ValueError(f"`verify` must be one of {_VERIFY}. Received: verify={verify!r}")
    if not isinstance(source, (str, os.PathLike)):
        raise ValueError(
            "`source` must be a path, 'tfds:NAME' or 'digits'. "
            f"Received: source={source!r}"
        )
    source = os.fspath(source)
    if os.path.isfile(source):
        with open(source, "rb") as f:
            if files_lib.sniff_format(f.read(12)):
                raise ValueError(
                    "`source` is a single image; a dataset is a folder of class "
                    f"folders, TFRecords, 'tfds:NAME' or 'digits'. Received: source={source!r}"
                )
    holdout = dict(split=split, validation_split=validation_split, seed=seed)
    if source == "digits":
        return digits_source(**holdout)
    if source.startswith("tfds:"):
        return tfds_source(source, data_dir=data_dir, download=download, **holdout)
    if glob.has_magic(source) or os.path.isfile(source) or _holds_records(source):
        return tfrecord_source(
            source, class_names=class_names, label_offset=label_offset, **holdout
        )
    return directory_source(
        source, verify=verify, max_pixels=max_pixels, skipped_log=skipped_log,
        class_names=class_names, **holdout,
    )


# ---------------------------------------------------------------- directories


def list_image_tree(root):
    """Class folders of ``root`` and the files in each (recursively, sorted).

    Hidden files and folders (``.name``) are ignored.

    Returns:
        ``(class_names, {class_name: [path, ...]}, stray_files)``, where
        ``stray_files`` lie in ``root`` itself, outside any class folder.
    """
    if not os.path.isdir(root):
        raise ValueError(f"The image directory does not exist. Received: source={root!r}")
    entries = sorted(e for e in os.listdir(root) if not e.startswith("."))
    class_names = [e for e in entries if os.path.isdir(os.path.join(root, e))]
    stray = [os.path.join(root, e) for e in entries if e not in class_names]
    if not class_names:
        what = "only files, no class folders" if stray else "nothing"
        raise ValueError(
            f"The image directory holds {what}; expected one folder of images "
            f"per class (root/<class_name>/<image>). Received: source={root!r}"
        )
    files = {}
    for name in class_names:
        found = []
        for folder, dirs, names in os.walk(os.path.join(root, name)):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            found.extend(os.path.join(folder, n) for n in sorted(names) if not n.startswith("."))
        files[name] = found
    return class_names, files, stray


def directory_source(
    root,
    *,
    split="train",
    validation_split=0.1,
    seed=1337,
    verify="auto",
    max_pixels=files_lib.DEFAULT_MAX_PIXELS,
    skipped_log=None,
    class_names=None,
):
    """A directory of class folders as a ``Source`` (arguments as ``open_source``)."""
    trees = split_trees(root)
    tree = trees[split] if trees else root
    if trees and class_names is None:
        class_names = list_image_tree(trees["train"])[0]
    examples, skipped, verified = scan_directory(
        tree, verify=verify, max_pixels=max_pixels, class_names=class_names
    )
    names = class_names or sorted(examples)
    log = files_lib.report_skipped(
        skipped, source=tree, total=sum(map(len, examples.values())) + len(skipped),
        log_path=skipped_log,
    )
    if not trees:
        examples = holdout_split(examples, validation_split, seed)[split]
    paths, labels = [], []
    for label, name in enumerate(names):
        paths.extend(examples.get(name, ()))
        labels.extend([label] * len(examples.get(name, ())))

    def make(*, size, shuffle, seed, input_context, cache, shuffle_buffer=None):
        ds = tf.data.Dataset.from_tensor_slices((paths, np.asarray(labels, np.int32)))
        ds = _shard(ds, input_context)
        read = lambda path, label: {"encoded": tf.io.read_file(path), "label": label}  # noqa: E731
        if cache:
            ds = cache_dataset(ds.map(read, num_parallel_calls=tf.data.AUTOTUNE), cache)
            return _shuffle(ds, shuffle, len(paths), seed)
        ds = _shuffle(ds, shuffle, len(paths), seed)
        return ds.map(read, num_parallel_calls=tf.data.AUTOTUNE)

    return Source(
        name=root, kind="directory", class_names=list(names), num_examples=len(paths),
        make=make, skipped=skipped, skipped_log=log, verified=verified,
        total_bytes=sum(os.path.getsize(p) for p in paths),
    )


def scan_directory(
    root, *, verify="auto", max_pixels=files_lib.DEFAULT_MAX_PIXELS, class_names=None
):
    """Lists and checks the images of a class-folder tree.

    Args:
        root: the tree.
        verify: ``"auto"`` (default; ``"full"`` up to ``FULL_VERIFY_LIMIT``
            files), ``"full"`` (decode every file once) or ``"quick"`` (headers
            and end markers).
        max_pixels: largest non-JPEG image accepted.
        class_names: the expected classes, default ``None`` (the folders found);
            a folder not among them is an error.

    Returns:
        ``({class_name: [usable path, ...]}, {skipped path: reason}, verified)``.
    """
    found, files, stray = list_image_tree(root)
    if class_names is not None:
        unknown = sorted(set(found) - set(class_names))
        if unknown:
            raise ValueError(
                f"Class folders {unknown} are not among the training classes "
                f"{list(class_names)}. Received: source={root!r}"
            )
    all_paths = [p for name in found for p in files[name]]
    if verify == "auto":
        verify = "full" if len(all_paths) <= FULL_VERIFY_LIMIT else "quick"
    key = (verify, max_pixels, _stamp(stray + all_paths))
    if key not in _SCANS:
        # The train and validation splits of one tree are built from one scan.
        skipped = {p: "not inside a class folder" for p in stray}
        skipped.update(files_lib.inspect_files(all_paths, max_pixels=max_pixels))
        if verify == "full":
            skipped.update(files_lib.verify_decodable([p for p in all_paths if p not in skipped]))
        _SCANS[key] = skipped
    skipped = dict(_SCANS[key])
    examples = {name: [p for p in files[name] if p not in skipped] for name in found}
    empty = [name for name in found if not examples[name]]
    if empty:
        raise ValueError(
            f"Class folders {empty} of {root} hold no usable image "
            f"({sum(len(files[n]) for n in empty)} files, none decodable). "
            f"Received: source={root!r}"
        )
    return examples, skipped, verify


def _stamp(paths):
    """A digest of the paths with their sizes and modification times."""
    digest = hashlib.sha1()
    for path in paths:
        stat = os.stat(path)
        digest.update(f"{os.path.abspath(path)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def holdout_split(examples, validation_split, seed):
    """Stratified, seeded split of ``{class: [path]}`` into train and validation.

    Each class keeps at least one training example. With ``validation_split=0``
    both splits are the whole set.
    """
    if validation_split == 0:
        return {"train": examples, "validation": examples}
    rng = np.random.default_rng(seed)
    train, validation = {}, {}
    for name in sorted(examples):
        paths = examples[name]
        order = rng.permutation(len(paths))
        n_val = min(int(round(len(paths) * validation_split)), len(paths) - 1)
        validation[name] = sorted(paths[i] for i in order[:n_val])
        train[name] = sorted(paths[i] for i in order[n_val:])
    return {"train": train, "validation": validation}


def split_trees(root):
    """``{"train": dir, "validation": dir}`` when ``root`` holds separate trees."""
    train = os.path.join(root, _TRAIN_TREE)
    for name in _VALIDATION_TREES:
        validation = os.path.join(root, name)
        if os.path.isdir(train) and os.path.isdir(validation) and all(
            any(os.path.isdir(os.path.join(t, e)) for e in os.listdir(t))
            for t in (train, validation)
        ):
            return {"train": train, "validation": validation}
    return None


def _holds_records(path):
    return os.path.isdir(path) and any(
        e.endswith(_RECORD_SUFFIXES) or "-of-" in e for e in os.listdir(path)
    )


# ---------------------------------------------------------------- TFRecords


def tfrecord_source(
    source, *, split="train", validation_split=0.1, seed=1337, class_names=None, label_offset=0
):
    """TFRecord files (a file, a glob or a directory) as a ``Source``.

    A directory with ``train-*`` and ``validation-*`` shards provides both
    splits; other record sets (``train-*`` alone, a file, a glob) are split by
    a seeded hash of each record's file name and position, so the held-out
    records never change.
    """
    directory = source if os.path.isdir(source) else os.path.dirname(source)
    info = tfrecord.read_info(directory) or {}
    files, by_name = _record_files(source, split)
    if not files:
        raise ValueError(f"No TFRecord files found. Received: source={source!r}")
    holdout = None if by_name else (validation_split, seed, split)
    names = class_names or info.get("class_names")
    count = info.get("splits", {}).get(split, {}).get("num_examples") if by_name else None

    def read(shards, *, shuffle=False, seed=None, cycle=1):
        listed = tf.data.Dataset.from_tensor_slices(shards)
        if shuffle:
            listed = listed.shuffle(len(shards), seed=seed, reshuffle_each_iteration=True)
        return listed.interleave(
            lambda f: _held_out(tf.data.TFRecordDataset(f), f, holdout),
            cycle_length=cycle, num_parallel_calls=tf.data.AUTOTUNE,
        )

    if names is None or count is None:
        count, top_label = read(files).map(
            lambda r: tfrecord.parse_example(r, label_offset)["label"],
            num_parallel_calls=tf.data.AUTOTUNE,
        ).reduce(
            (tf.constant(0, tf.int64), tf.constant(-1, tf.int32)),
            lambda state, label: (state[0] + 1, tf.maximum(state[1], label)),
        )
        count = int(count)
        names = names or [str(i) for i in range(int(top_label) + 1)]
    if count == 0:
        raise ValueError(f"The TFRecord files hold no {split} records. Received: source={source!r}")

    def make(*, size, shuffle, seed, input_context, cache, shuffle_buffer=None):
        shards = files
        if input_context is not None and len(files) >= input_context.num_input_pipelines:
            shards = files[input_context.input_pipeline_id::input_context.num_input_pipelines]
            input_context = None
        ds = read(
            shards, shuffle=shuffle and not cache, seed=seed,
            cycle=1 if cache else min(len(shards), 16),
        )
        ds = _shard(ds, input_context)
        ds = ds.map(lambda r: tfrecord.parse_example(r, label_offset),
                    num_parallel_calls=tf.data.AUTOTUNE)
        return _cache_and_shuffle(ds, cache, shuffle, count, shuffle_buffer, seed)

    return Source(
        name=source, kind="tfrecord", class_names=list(names), num_examples=count,
        make=make, total_bytes=sum(os.path.getsize(f) for f in files),
        file_sharded=len(files) > 1,
    )


def _record_files(source, split):
    """The record files of ``split`` and whether they were chosen by their name."""
    if os.path.isdir(source):
        named = {s: sorted(glob.glob(os.path.join(source, f"{s}-*"))) for s in SPLITS}
        if all(named.values()):
            return named[split], True
        if named["train"]:
            # Training shards only: both splits are held out from them.
            return named["train"], False
        return sorted(
            os.path.join(source, e) for e in os.listdir(source)
            if e.endswith(_RECORD_SUFFIXES) or "-of-" in e
        ), False
    if os.path.isfile(source):
        return [source], False
    return sorted(glob.glob(source)), False


def _held_out(records, filename, holdout):
    """Keeps the records of one split, chosen by a seeded hash of (file, position)."""
    if holdout is None:
        return records
    validation_split, seed, split = holdout
    if validation_split == 0:
        return records
    basename = tf.strings.split(filename, os.sep)[-1]

    def keep(index, _):
        key = tf.strings.format("{}:{}:{}", (seed, basename, index))
        in_validation = tf.strings.to_hash_bucket_fast(key, 10_000) < int(validation_split * 10_000)
        return in_validation if split == "validation" else tf.logical_not(in_validation)

    return records.enumerate().filter(keep).map(lambda _, record: record)


# ---------------------------------------------------------------- TFDS


def tfds_source(
    source, *, split="train", validation_split=0.1, seed=1337, data_dir=None, download=False
):
    """A TensorFlow Datasets dataset (``"tfds:NAME"``) as a ``Source``.

    The dataset's own ``validation`` split is used when it has one; otherwise
    the last ``validation_split`` of ``train`` is held out.
    """
    import tensorflow_datasets as tfds

    name = source[len("tfds:"):]
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except ValueError as error:
        raise ValueError(
            f"Unknown TensorFlow Datasets name {name!r} ({str(error).splitlines()[0]}). "
            f"Received: source={source!r}"
        ) from None
    features = builder.info.features
    image_key = _feature_key(features, tfds.features.Image, source)
    label_key = _feature_key(features, tfds.features.ClassLabel, source)
    tfds_split = _tfds_split(builder.info.splits, split, validation_split)
    if download:
        builder.download_and_prepare()

    def load(shuffle=False, seed=None, input_context=None):
        try:
            return builder.as_dataset(
                split=tfds_split,
                decoders={image_key: tfds.decode.SkipDecoding()},
                shuffle_files=shuffle,
                read_config=tfds.ReadConfig(
                    shuffle_seed=seed, input_context=input_context, try_autocache=False
                ),
            )
        except AssertionError:
            raise ValueError(
                f"TensorFlow Datasets has no prepared copy of {name!r} in "
                f"{builder.data_dir_root}. Pass download=True (--download) to fetch "
                "it, or, for datasets that need a manual download (ImageNet: "
                "ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar), put the "
                f"archives in {os.path.join(builder.data_dir_root, 'downloads', 'manual')} "
                f"and pass download=True. Received: source={source!r}"
            ) from None

    try:
        count = builder.info.splits[tfds_split].num_examples
    except KeyError:
        count = int(load().reduce(0, lambda n, _: n + 1))
    size = builder.info.dataset_size
    # The split's share of the prepared size (decides caching).
    all_examples = sum(s.num_examples for s in builder.info.splits.values())
    total = int(size * count / max(1, all_examples)) if size else None

    def make(*, size, shuffle, seed, input_context, cache, shuffle_buffer=None):
        ds = load(shuffle, seed, input_context).map(
            lambda ex: {"encoded": ex[image_key], "label": tf.cast(ex[label_key], tf.int32)},
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        return _cache_and_shuffle(ds, cache, shuffle, count, shuffle_buffer, seed)

    return Source(
        name=source, kind="tfds", class_names=list(features[label_key].names),
        num_examples=count, make=make, total_bytes=total,
    )


def _feature_key(features, feature_type, source):
    keys = [k for k, f in features.items() if isinstance(f, feature_type)]
    if not keys:
        raise ValueError(
            f"The dataset has no {feature_type.__name__} feature, so it is not an "
            f"image classification set. Received: source={source!r}"
        )
    return keys[0]


def _tfds_split(splits, split, validation_split):
    if split == "validation" and "validation" in splits:
        return "validation"
    if "validation" in splits or validation_split == 0:
        return "train"
    percent = int(round(100 * (1.0 - validation_split)))
    return f"train[:{percent}%]" if split == "train" else f"train[{percent}%:]"


# ---------------------------------------------------------------- digits


def load_digits_rgb():
    """scikit-learn's 1,797 handwritten digits (8x8, values 0-16) as RGB uint8.

    Returns:
        ``(images uint8 [1797, 8, 8, 3], labels int32 [1797])``.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    grey = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1), digits.target.astype(np.int32)


def digits_source(*, split="train", validation_split=0.2, seed=1337):
    """The embedded ``"digits"`` set: stratified, seeded split, upscaled in the pipeline.

    Upscaling happens before the augmentation, so its crops move by fractions
    of a digit pixel, and no flip or colour change is applied by default
    (``"light"``): a mirrored 2 is not a 2.
    """
    images, labels = load_digits_rgb()
    if validation_split > 0:
        from sklearn.model_selection import train_test_split

        index = train_test_split(
            np.arange(len(labels)), test_size=validation_split,
            stratify=labels, random_state=seed,
        )[0 if split == "train" else 1]
        images, labels = images[np.sort(index)], labels[np.sort(index)]

    def make(*, size, shuffle, seed, input_context, cache, shuffle_buffer=None):
        ds = _shard(tf.data.Dataset.from_tensor_slices((images, labels)), input_context)
        ds = _shuffle(ds, shuffle, len(labels), seed)
        return ds.map(
            lambda image, label: {
                "image": tf.image.resize(tf.cast(image, tf.float32), size, method="bilinear"),
                "label": label,
            },
            num_parallel_calls=tf.data.AUTOTUNE,
        )

    return Source(
        name="digits", kind="digits", class_names=[str(i) for i in range(10)],
        num_examples=len(labels), make=make, default_augment="light",
        central_fraction=1.0,
    )


# ---------------------------------------------------------------- helpers


def _shard(ds, input_context):
    if input_context is None or input_context.num_input_pipelines == 1:
        return ds
    return ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)


def _shuffle(ds, shuffle, buffer_size, seed):
    if not shuffle:
        return ds
    return ds.shuffle(max(1, buffer_size), seed=seed, reshuffle_each_iteration=True)


def _cache_and_shuffle(ds, cache, shuffle, count, shuffle_buffer, seed):
    """Cache a stream of records, then shuffle (everything once it is in memory)."""
    buffer_size = shuffle_buffer or (count if cache else min(count, SHUFFLE_BUFFER))
    return _shuffle(cache_dataset(ds, cache), shuffle, buffer_size, seed)


def cache_dataset(ds, cache):
    """``ds.cache()`` in memory (``cache=True``), in a file (a path), or nothing (``False``)."""
    if not cache:
        return ds
    return ds.cache(cache if isinstance(cache, str) else "")
