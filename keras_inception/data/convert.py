"""Directory tree -> sharded TFRecords, so large sets stream fast and shard by file."""

import os

import numpy as np

from keras_inception.data import files as files_lib
from keras_inception.data import sources
from keras_inception.data import tfrecord
from keras_inception.data.pipeline import save_class_names


def write_tfrecords(
    source_dir,
    out_dir,
    *,
    num_shards=8,
    validation_shards=None,
    validation_split=0.1,
    seed=1337,
    verify="full",
    max_pixels=files_lib.DEFAULT_MAX_PIXELS,
    skipped_log=None,
):
    """Writes a class-folder tree as ``train-*`` / ``validation-*`` TFRecord shards.

    Every file is checked first (``verify="full"`` decodes each once); the
    unusable ones are reported and left out. Examples are shuffled with
    ``seed`` and dealt round-robin, so each shard mixes all classes. Labels are
    0-based; ``class_names.json`` and ``dataset_info.json`` are written next to
    the shards.

    Args:
        source_dir: ``root/<class>/<image>``, or ``root/train/...`` + ``root/val/...``.
        out_dir: the output directory (created).
        num_shards: training shards, default 8.
        validation_shards: validation shards, default ``None``
            (``max(1, round(num_shards * validation_split))``).
        validation_split: fraction held out when the tree has no separate
            validation tree, default 0.1; 0 writes training shards only.
        seed: seed of the split and of the order, default 1337.
        verify: ``"full"`` (default), ``"quick"`` or ``"auto"``.
        max_pixels: largest non-JPEG image accepted.
        skipped_log: file listing skipped files, default ``None``
            (``out_dir/skipped_files.txt``).

    Returns:
        The ``dataset_info.json`` contents (class names, counts, shard files).
    """
    if not isinstance(num_shards, int) or num_shards < 1:
        raise ValueError(f"`num_shards` must be a positive integer. Received: num_shards={num_shards!r}")
    os.makedirs(out_dir, exist_ok=True)
    trees = sources.split_trees(source_dir) or {"train": source_dir}
    class_names = sources.list_image_tree(trees["train"])[0]
    splits, skipped = {}, {}
    for split, tree in trees.items():
        examples, tree_skipped, _ = sources.scan_directory(
            tree, verify=verify, max_pixels=max_pixels, class_names=class_names
        )
        skipped.update(tree_skipped)
        splits[split] = examples
    if "validation" not in trees and validation_split > 0:
        splits = sources.holdout_split(splits["train"], validation_split, seed)
    total = sum(len(p) for examples in splits.values() for p in examples.values()) + len(skipped)
    log = files_lib.report_skipped(
        skipped, source=source_dir, total=total,
        log_path=skipped_log or os.path.join(out_dir, "skipped_files.txt"),
    )
    if validation_shards is None:
        validation_shards = max(1, round(num_shards * validation_split))
    rng = np.random.default_rng(seed)
    info = {"class_names": class_names, "source": os.path.abspath(source_dir), "splits": {},
            "skipped": len(skipped), "skipped_log": log}
    for split, examples in splits.items():
        rows = [
            (path, class_names.index(name), name)
            for name in sorted(examples) for path in examples[name]
        ]
        rows = [rows[i] for i in rng.permutation(len(rows))]
        shards = num_shards if split == "train" else validation_shards
        names = tfrecord.write_shards(out_dir, split, rows, min(shards, max(1, len(rows))))
        info["splits"][split] = {"num_examples": len(rows), "files": names}
    tfrecord.write_info(out_dir, info)
    save_class_names(os.path.join(out_dir, "class_names.json"), class_names)
    return info
