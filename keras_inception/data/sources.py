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
import stat

import numpy as np
import tensorflow as tf

from keras_inception._extras import require
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

# TFRecord sets up to this size are read whole once to verify them
# (``verify="auto"``); larger ones get the framing check only.
FULL_VERIFY_BYTES = 1 << 30

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
    file_sharded: bool = False


def default_validation_split(source):
    """The validation fraction used when none is given: 0.1 for every source.

    (Training picks one from the data: ``keras_inception.data.auto``.)
    """
    return 0.1


def open_source(
    source,
    *,
    split="train",
    validation_split=None,
    seed=1337,
    verify="auto",
    max_pixels=files_lib.DEFAULT_MAX_PIXELS,
    skipped_log=None,
    skipped_log_dir=None,
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
            files in a directory are checked (see ``files``), and how TFRecord
            shards are (``"quick"``: record framing; ``"full"``: also every
            checksum, example and image; ``"auto"``: full up to
            ``FULL_VERIFY_BYTES`` of records).
        max_pixels: largest image (width x height) accepted, default
            ``files.DEFAULT_MAX_PIXELS``.
        skipped_log: where to list skipped files, default ``None``
            (``skipped_log_dir/skipped-<digest>.log``).
        skipped_log_dir: the folder of the default ``skipped_log``, default
            ``None`` (the private per-user cache, ``files.user_cache_dir()``).
        class_names: the label order to use, default ``None`` (sorted folder
            names, or the names stored with the records).
        data_dir: TFDS data directory, default ``None`` (TFDS's default).
        download: let TFDS download and prepare the data, default ``False``.
        label_offset: subtracted from TFRecord labels, default 0 (1 for
            TF-slim ImageNet records).

    Returns:
        A ``Source``.

    Raises:
        ValueError: a bad argument, a source that cannot be read (a damaged
            TFRecord shard, no usable image in a class), or fewer than two
            classes: classification needs at least two.
    """
    if split not in SPLITS:
        raise ValueError(f"`split` must be one of {SPLITS}. Received: split={split!r}")
    if validation_split is None:
        validation_split = default_validation_split(source)
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(
            f"`validation_split` must be in [0, 1). Received: validation_split={validation_split!r}"
        )
    if verify not in _VERIFY:
        raise ValueError(f"`verify` must be one of {_VERIFY}. Received: verify={verify!r}")
    if not isinstance(source, (str, os.PathLike)):
        raise ValueError(
            f"`source` must be a path, 'tfds:NAME' or 'digits'. Received: source={source!r}"
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
        src = digits_source(**holdout)
    elif source.startswith("tfds:"):
        src = tfds_source(source, data_dir=data_dir, download=download, **holdout)
    elif glob.has_magic(source) or os.path.isfile(source) or _holds_records(source):
        src = tfrecord_source(
            source,
            class_names=class_names,
            label_offset=label_offset,
            verify=verify,
            max_pixels=max_pixels,
            **holdout,
        )
    else:
        src = directory_source(
            source,
            verify=verify,
            max_pixels=max_pixels,
            skipped_log=skipped_log,
            skipped_log_dir=skipped_log_dir,
            class_names=class_names,
            **holdout,
        )
    require_classes(src.class_names, source)
    return src


def require_classes(class_names, source):
    """Raises ``ValueError`` unless there are at least two classes.

    With one class every prediction is right: a model would "learn" nothing
    and report 100 % accuracy.
    """
    if len(class_names) < 2:
        raise ValueError(
            f"Classification needs at least two classes; {source} holds "
            f"{len(class_names)} ({', '.join(map(str, class_names)) or 'none'}). "
            f"Received: source={source!r}"
        )


# ---------------------------------------------------------------- directories


def list_image_tree(root):
    """Class folders of ``root`` and the files in each (recursively, sorted).

    Hidden files and folders (``.name``) are ignored. Links to files are
    listed (and checked like files); links to folders inside a class folder
    are not followed (a loop would never end) and are reported instead, like
    folders that cannot be read.

    Returns:
        ``(class_names, {class_name: [path, ...]}, {path: reason})``: the
        last holds what cannot be used as a listed file, such as files in
        ``root`` itself, outside any class folder.
    """
    if not os.path.isdir(root):
        what = "is not a folder" if os.path.exists(root) else "does not exist"
        raise ValueError(f"The image directory {what}. Received: source={root!r}")
    entries = sorted(e for e in os.listdir(root) if not e.startswith("."))
    class_names = [e for e in entries if os.path.isdir(os.path.join(root, e))]
    stray = [os.path.join(root, e) for e in entries if e not in class_names]
    if not class_names:
        what = "only files, no class folders" if stray else "nothing"
        raise ValueError(
            f"The image directory holds {what}; expected one folder of images "
            f"per class (root/<class_name>/<image>). Received: source={root!r}"
        )
    unusable = {path: _stray_reason(path) for path in stray}

    def unreadable(error):
        unusable[error.filename] = "unreadable folder: " + (error.strerror or str(error))

    files = {}
    for name in class_names:
        found = []
        for folder, dirs, names in os.walk(os.path.join(root, name), onerror=unreadable):
            visible = sorted(d for d in dirs if not d.startswith("."))
            links = [d for d in visible if os.path.islink(os.path.join(folder, d))]
            unusable.update(
                (os.path.join(folder, d), "link to a folder (not followed)") for d in links
            )
            dirs[:] = [d for d in visible if d not in links]
            found.extend(os.path.join(folder, n) for n in sorted(names) if not n.startswith("."))
        files[name] = found
    return class_names, files, unusable


def _stray_reason(path):
    try:
        os.stat(path)
    except OSError as error:
        return files_lib.os_error_reason(path, error)
    return "not inside a class folder"


def directory_source(
    root,
    *,
    split="train",
    validation_split=0.1,
    seed=1337,
    verify="auto",
    max_pixels=files_lib.DEFAULT_MAX_PIXELS,
    skipped_log=None,
    skipped_log_dir=None,
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
        skipped,
        source=tree,
        total=sum(map(len, examples.values())) + len(skipped),
        log_path=skipped_log,
        log_dir=skipped_log_dir,
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
        name=root,
        kind="directory",
        class_names=list(names),
        num_examples=len(paths),
        make=make,
        skipped=skipped,
        skipped_log=log,
        verified=verified,
        total_bytes=sum(files_lib.file_problem(p)[1] for p in paths),
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
    found, files, unusable = list_image_tree(root)
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
    key = (verify, max_pixels, _stamp(sorted(unusable) + all_paths))
    if key not in _SCANS:
        # The train and validation splits of one tree are built from one scan.
        skipped = dict(unusable)
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
    """A digest of the paths with their sizes and modification times.

    A path that cannot be followed (a dangling link, a loop, a file deleted
    meanwhile) is stamped by the link itself, or as missing.
    """
    digest = hashlib.sha1()
    for path in paths:
        try:
            info = os.stat(path)
        except OSError:
            try:
                info = os.lstat(path)
            except OSError:
                digest.update(f"{os.path.abspath(path)}\0missing\n".encode())
                continue
        digest.update(f"{os.path.abspath(path)}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
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
        if (
            os.path.isdir(train)
            and os.path.isdir(validation)
            and all(
                any(os.path.isdir(os.path.join(t, e)) for e in os.listdir(t))
                for t in (train, validation)
            )
        ):
            return {"train": train, "validation": validation}
    return None


def _holds_records(path):
    return os.path.isdir(path) and any(
        e.endswith(_RECORD_SUFFIXES) or "-of-" in e or e == tfrecord.INFO_FILE
        for e in os.listdir(path)
    )


# ---------------------------------------------------------------- TFRecords


def tfrecord_source(
    source,
    *,
    split="train",
    validation_split=0.1,
    seed=1337,
    class_names=None,
    label_offset=0,
    verify="auto",
    max_pixels=files_lib.DEFAULT_MAX_PIXELS,
):
    """TFRecord files (a file, a glob or a directory) as a ``Source``.

    A directory written by ``write_tfrecords`` is read through its
    ``dataset_info.json``: exactly the shards it lists, with its counts (a
    shard left over from an earlier conversion is not read). Otherwise a
    directory with ``train-*`` and ``validation-*`` shards provides both
    splits; other record sets (``train-*`` alone, a file, a glob) are split by
    a seeded hash of each record's file name and position, so the held-out
    records never change.

    Every shard's record framing is checked first (cheap: a seek per record);
    ``verify="full"`` (or ``"auto"`` up to ``FULL_VERIFY_BYTES``) also reads
    every record with its checksum, parses it and checks its image (header
    size against ``max_pixels``, a decode). A damaged shard is an error naming
    it; a record that is not a usable example is skipped and reported as
    ``"<shard>#<index>"``.
    """
    directory = source if os.path.isdir(source) else os.path.dirname(source)
    info = tfrecord.read_info(directory) or {}
    files, by_name = _record_files(source, split, info)
    if not files:
        raise ValueError(f"No TFRecord files found. Received: source={source!r}")
    holdout = None if by_name else (validation_split, seed, split)
    names = class_names or info.get("class_names")
    sizes = [files_lib.file_problem(f)[1] for f in files]
    if verify == "auto":
        verify = "full" if sum(sizes) <= FULL_VERIFY_BYTES else "quick"
    # Without stored counts every record is read to count them: checksums too.
    counts, skipped = _check_shards(
        files,
        verify,
        label_offset,
        max_pixels,
        checksums=verify == "full" or not by_name or names is None,
    )
    count = None
    if by_name:
        count = sum(counts) - len(skipped)
        stated = info.get("splits", {}).get(split, {}).get("num_examples")
        if stated is not None and stated != sum(counts):
            raise ValueError(
                f"{tfrecord.INFO_FILE} in {directory} says {stated} {split} examples; its "
                f"shards hold {sum(counts)}. Convert the data again. Received: source={source!r}"
            )

    def read(shards, *, shuffle=False, seed=None, cycle=1):
        listed = tf.data.Dataset.from_tensor_slices(shards)
        if shuffle:
            listed = listed.shuffle(len(shards), seed=seed, reshuffle_each_iteration=True)
        bad = tfrecord.bad_record_table(skipped)
        return listed.interleave(
            lambda f: _held_out(tf.data.TFRecordDataset(f), f, holdout, bad),
            cycle_length=cycle,
            num_parallel_calls=tf.data.AUTOTUNE,
        )

    if names is None or count is None:
        try:
            count, top_label = (
                read(files)
                .map(
                    lambda r: tfrecord.parse_example(r, label_offset)["label"],
                    num_parallel_calls=tf.data.AUTOTUNE,
                )
                .reduce(
                    (tf.constant(0, tf.int64), tf.constant(-1, tf.int32)),
                    lambda state, label: (state[0] + 1, tf.maximum(state[1], label)),
                )
            )
        except (tf.errors.OpError, UnicodeDecodeError) as error:
            message = getattr(error, "message", None)
            message = files_lib.one_line(message) if message else "unparsable"
            raise ValueError(
                f"The TFRecord files hold records that are not image examples ({message}); "
                "run `keras-inception data info --verify full` to list them. "
                f"Received: source={source!r}"
            ) from None
        count = int(count)
        names = names or [str(i) for i in range(int(top_label) + 1)]
    if count == 0:
        raise ValueError(f"The TFRecord files hold no {split} records. Received: source={source!r}")

    def make(*, size, shuffle, seed, input_context, cache, shuffle_buffer=None):
        shards = files
        if input_context is not None and len(files) >= input_context.num_input_pipelines:
            shards = files[input_context.input_pipeline_id :: input_context.num_input_pipelines]
            input_context = None
        ds = read(
            shards,
            shuffle=shuffle and not cache,
            seed=seed,
            cycle=1 if cache else min(len(shards), 16),
        )
        ds = _shard(ds, input_context)
        ds = ds.map(
            lambda r: tfrecord.parse_example(r, label_offset), num_parallel_calls=tf.data.AUTOTUNE
        )
        return _cache_and_shuffle(ds, cache, shuffle, count, shuffle_buffer, seed)

    return Source(
        name=source,
        kind="tfrecord",
        class_names=list(names),
        num_examples=count,
        make=make,
        skipped=skipped,
        verified=verify,
        total_bytes=sum(sizes),
        file_sharded=len(files) > 1,
    )


def _check_shards(files, verify, label_offset, max_pixels, checksums):
    """Per-shard record counts and ``{"<shard>#<index>": reason}`` of unusable records.

    Raises:
        ValueError: a shard is truncated, unreadable or fails a checksum.
    """
    key = ("records", verify, checksums, label_offset, max_pixels, _stamp(files))
    if key not in _SCANS:
        counts, skipped = [], {}
        for path in files:
            try:
                regular = stat.S_ISREG(os.stat(path).st_mode)
            except OSError as error:
                raise ValueError(
                    f"The TFRecord shard {path} cannot be read "
                    f"({files_lib.os_error_reason(path, error)}). Received: source={path!r}"
                ) from None
            if not regular:
                # A FIFO or a device would block or never end.
                raise ValueError(
                    f"The TFRecord shard {path} is not a regular file. Received: source={path!r}"
                )
            count, problem = (
                tfrecord.check_records(path) if checksums else tfrecord.check_framing(path)
            )
            if problem:
                raise ValueError(
                    f"The TFRecord shard {path} is damaged ({problem}); convert the data "
                    f"again, or remove the shard. Received: source={path!r}"
                )
            counts.append(count)
        if verify == "full":
            skipped = tfrecord.check_examples(files, counts, label_offset, max_pixels)
        _SCANS[key] = counts, skipped
    counts, skipped = _SCANS[key]
    return list(counts), dict(skipped)


def _record_files(source, split, info):
    """The record files of ``split`` and whether they were chosen by their name."""
    if os.path.isdir(source):
        listed = _listed_shards(source, info)
        if listed:
            if all(s in listed for s in SPLITS):
                return listed[split], True
            return listed["train"], False
        named = {s: sorted(glob.glob(os.path.join(source, f"{s}-*"))) for s in SPLITS}
        if all(named.values()):
            return named[split], True
        if named["train"]:
            # Training shards only: both splits are held out from them.
            return named["train"], False
        return sorted(
            os.path.join(source, e)
            for e in os.listdir(source)
            if e.endswith(_RECORD_SUFFIXES) or "-of-" in e
        ), False
    if os.path.isfile(source):
        return [source], False
    return sorted(glob.glob(source)), False


def _listed_shards(directory, info):
    """``{split: [path, ...]}`` of the shards ``dataset_info.json`` lists, or ``None``.

    Raises:
        ValueError: a listed name is not a plain file name of ``directory``,
            or the file is missing.
    """
    splits = info.get("splits")
    if not isinstance(splits, dict) or "train" not in splits:
        return None
    listed = {}
    for split, entry in splits.items():
        names = entry.get("files") if isinstance(entry, dict) else None
        if names is None:
            return None
        if split not in SPLITS or not isinstance(names, list) or not names:
            raise ValueError(
                f"{tfrecord.INFO_FILE} in {directory} has a bad entry for split {split!r}. "
                f"Received: source={directory!r}"
            )
        for name in names:
            bad = (
                not isinstance(name, str)
                or os.path.basename(name) != name
                or name in ("", ".", "..")
            )
            if bad or not os.path.exists(os.path.join(directory, name)):
                what = "is not a file name in that folder" if bad else "is missing"
                raise ValueError(
                    f"{tfrecord.INFO_FILE} in {directory} lists the shard {name!r}, which "
                    f"{what}. Received: source={directory!r}"
                )
        listed[split] = [os.path.join(directory, name) for name in names]
    return listed


def _held_out(records, filename, holdout, bad=None):
    """Keeps the records of one split, chosen by a seeded hash of (file, position).

    Records listed in the ``bad`` table (unusable examples found by a full
    check) are dropped first.
    """
    if holdout is None and bad is None:
        return records
    basename = tf.strings.split(filename, os.sep)[-1]
    records = tfrecord.keep_usable(records.enumerate(), filename, bad)
    if holdout is not None and holdout[0] != 0:
        validation_split, seed, split = holdout

        def keep(index, _):
            key = tf.strings.format("{}:{}:{}", (seed, basename, index))
            in_validation = tf.strings.to_hash_bucket_fast(key, 10_000) < int(
                validation_split * 10_000
            )
            return in_validation if split == "validation" else tf.logical_not(in_validation)

        records = records.filter(keep)
    return records.map(lambda _, record: record)


# ---------------------------------------------------------------- TFDS


def tfds_source(
    source, *, split="train", validation_split=0.1, seed=1337, data_dir=None, download=False
):
    """A TensorFlow Datasets dataset (``"tfds:NAME"``) as a ``Source``.

    The dataset's own ``validation`` split is used when it has one; otherwise
    the last ``validation_split`` of ``train`` is held out.
    """
    tfds = require("tensorflow_datasets")

    name = source[len("tfds:") :]
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
        name=source,
        kind="tfds",
        class_names=list(features[label_key].names),
        num_examples=count,
        make=make,
        total_bytes=total,
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
    load_digits = require("sklearn.datasets").load_digits

    digits = load_digits()
    grey = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1), digits.target.astype(np.int32)


def digits_source(*, split="train", validation_split=0.1, seed=1337):
    """The embedded ``"digits"`` set as 8x8 PNG files in memory, with a stratified, seeded split.

    A source like any other: the pipeline decodes, crops and resizes its PNGs
    exactly as it does those of an image folder, and the training defaults
    come from what the images are (``keras_inception.data.auto``), not from
    the source's name.
    """
    images, labels = load_digits_rgb()
    if validation_split > 0:
        train_test_split = require("sklearn.model_selection").train_test_split

        index = train_test_split(
            np.arange(len(labels)),
            test_size=validation_split,
            stratify=labels,
            random_state=seed,
        )[0 if split == "train" else 1]
        images, labels = images[np.sort(index)], labels[np.sort(index)]

    encoded = [tf.io.encode_png(image[..., :1]).numpy() for image in images]

    def make(*, size, shuffle, seed, input_context, cache, shuffle_buffer=None):
        ds = _shard(tf.data.Dataset.from_tensor_slices((encoded, labels)), input_context)
        ds = _shuffle(ds, shuffle, len(labels), seed)
        return ds.map(
            lambda png, label: {"encoded": png, "label": label},
            num_parallel_calls=tf.data.AUTOTUNE,
        )

    return Source(
        name="digits",
        kind="digits",
        class_names=[str(i) for i in range(10)],
        num_examples=len(labels),
        make=make,
        total_bytes=sum(len(png) for png in encoded),
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
