"""Directory tree -> sharded TFRecords, so large sets stream fast and shard by file.

The output folder is replaced as a whole: everything is written into a
private staging folder beside it (``.<OUT>.staging-<pid>-*``), fsynced, then
renamed into place, so a reader sees the old set or the new one, never a mix
of shards from two conversions. A rerun after a crash removes what a killed
run left behind.
"""

import os
import shutil
import tempfile

import numpy as np

from keras_inception import faults
from keras_inception.data import files as files_lib
from keras_inception.data import sources
from keras_inception.data import tfrecord
from keras_inception.data.pipeline import save_class_names

SKIPPED_LOG = "skipped_files.txt"


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
    overwrite=False,
):
    """Writes a class-folder tree as ``train-*`` / ``validation-*`` TFRecord shards.

    Every file is checked first (``verify="full"`` decodes each once); the
    unusable ones are reported and left out. Examples are shuffled with
    ``seed`` and dealt round-robin, so each shard mixes all classes. Labels are
    0-based; ``class_names.json`` and ``dataset_info.json`` (which lists the
    shards: readers read exactly those) are written next to the shards.

    Args:
        source_dir: ``root/<class>/<image>``, or ``root/train/...`` + ``root/val/...``.
        out_dir: the output directory: absent or empty, or replaced whole
            with ``overwrite=True``.
        num_shards: training shards, default 8.
        validation_shards: validation shards, default ``None``
            (``max(1, round(num_shards * validation_split))``).
        validation_split: fraction held out when the tree has no separate
            validation tree, default 0.1; 0 writes training shards only.
        seed: seed of the split and of the order, default 1337.
        verify: ``"full"`` (default), ``"quick"`` or ``"auto"``.
        max_pixels: largest image (width x height) accepted.
        skipped_log: file listing skipped files, default ``None``
            (``out_dir/skipped_files.txt``).
        overwrite: replace a non-empty ``out_dir``, default ``False``.

    Returns:
        The ``dataset_info.json`` contents (class names, counts, shard files).

    Raises:
        ValueError: bad arguments, a non-empty ``out_dir`` without
            ``overwrite``, fewer than two classes, or an unusable tree.
    """
    if not isinstance(num_shards, int) or isinstance(num_shards, bool) or num_shards < 1:
        raise ValueError(
            f"`num_shards` must be a positive integer. Received: num_shards={num_shards!r}"
        )
    if validation_shards is not None and (
        not isinstance(validation_shards, int) or validation_shards < 1
    ):
        raise ValueError(
            "`validation_shards` must be a positive integer or None. "
            f"Received: validation_shards={validation_shards!r}"
        )
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(
            f"`validation_split` must be in [0, 1). Received: validation_split={validation_split!r}"
        )
    out_dir = os.path.abspath(out_dir)
    _check_out_dir(os.path.abspath(source_dir), out_dir, overwrite)
    parent = os.path.dirname(out_dir)
    staging_prefix = f".{os.path.basename(out_dir)}.staging-"
    files_lib.remove_stale(parent, staging_prefix)
    files_lib.remove_stale(parent, f".{os.path.basename(out_dir)}.old-")

    trees = sources.split_trees(source_dir) or {"train": source_dir}
    class_names = sources.list_image_tree(trees["train"])[0]
    sources.require_classes(class_names, source_dir)
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
    if validation_shards is None:
        validation_shards = max(1, round(num_shards * validation_split))

    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f"{staging_prefix}{os.getpid()}-", dir=parent)
    try:
        faults.point("data_convert.staging_created")
        log = files_lib.report_skipped(
            skipped,
            source=source_dir,
            total=total,
            log_path=skipped_log or os.path.join(staging, SKIPPED_LOG),
            shown_path=None if skipped_log else os.path.join(out_dir, SKIPPED_LOG),
        )
        rng = np.random.default_rng(seed)
        info = {
            "class_names": class_names,
            "source": os.path.abspath(source_dir),
            "splits": {},
            "skipped": len(skipped),
            "skipped_log": log,
        }
        for split, examples in splits.items():
            rows = [
                (path, class_names.index(name), name)
                for name in sorted(examples)
                for path in examples[name]
            ]
            rows = [rows[i] for i in rng.permutation(len(rows))]
            if not rows:
                # No empty shard: a reader then holds validation out of train.
                continue
            shards = num_shards if split == "train" else validation_shards
            names = tfrecord.write_shards(staging, split, rows, min(shards, max(1, len(rows))))
            info["splits"][split] = {"num_examples": len(rows), "files": names}
        tfrecord.write_info(staging, info)
        save_class_names(os.path.join(staging, "class_names.json"), class_names)
        os.chmod(staging, 0o777 & ~files_lib.current_umask())
        files_lib.fsync_dir(staging)
        faults.point("data_convert.before_publish")
        _publish(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    faults.point("data_convert.published")
    return info


def _check_out_dir(source_dir, out_dir, overwrite):
    """Refuses an output that would lose data or read its own output as input."""
    if os.path.islink(out_dir):
        raise ValueError(
            f"The output {out_dir} is a symbolic link; give the folder it points to. "
            f"Received: out_dir={out_dir!r}"
        )
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(
            f"The output {out_dir} is a file, not a folder. Received: out_dir={out_dir!r}"
        )
    real_source, real_out = os.path.realpath(source_dir), os.path.realpath(out_dir)
    if os.path.commonpath([real_source, real_out]) in (real_source, real_out):
        raise ValueError(
            "The output folder must be outside the image folder (and not hold it). "
            f"Received: source_dir={source_dir!r}, out_dir={out_dir!r}"
        )
    if os.path.isdir(out_dir) and os.listdir(out_dir) and not overwrite:
        raise ValueError(
            f"The output folder {out_dir} is not empty; pass overwrite=True "
            f"(--overwrite) to replace it. Received: out_dir={out_dir!r}"
        )


def _publish(staging, out_dir):
    """Renames ``staging`` to ``out_dir``, replacing what was there."""
    parent = os.path.dirname(out_dir)
    old = None
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        old = tempfile.mkdtemp(
            prefix=f".{os.path.basename(out_dir)}.old-{os.getpid()}-", dir=parent
        )
        os.replace(out_dir, os.path.join(old, "previous"))
        faults.point("data_convert.old_moved")
    # rename(2) replaces an empty folder.
    os.replace(staging, out_dir)
    files_lib.fsync_dir(parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
