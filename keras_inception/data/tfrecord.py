"""TFRecord files in the ImageNet / TF-slim layout: a reader and a sharded writer.

Each record is a ``tf.train.Example`` with

- ``image/encoded`` (the JPEG/PNG/... bytes), ``image/format``,
  ``image/height``, ``image/width``, ``image/filename``;
- ``image/class/label`` (int64) and ``image/class/text``;
- optionally ``image/object/bbox/{ymin,xmin,ymax,xmax}`` (floats in [0, 1]),
  the ground-truth boxes the Inception crop is sampled around.

TF-slim's ImageNet records number the classes from 1 (0 is "background"):
read them with ``label_offset=1``. The writer numbers them from 0, names the
shards ``train-00000-of-00008.tfrecord`` / ``validation-...`` and writes
``dataset_info.json`` (class names, example counts) next to them, so readers
need not scan the records.
"""

import json
import os

import numpy as np
import tensorflow as tf

from keras_inception.data import files as files_lib

INFO_FILE = "dataset_info.json"

_BOX_KEYS = tuple(f"image/object/bbox/{k}" for k in ("ymin", "xmin", "ymax", "xmax"))

FEATURES = {
    "image/encoded": tf.io.FixedLenFeature([], tf.string),
    "image/class/label": tf.io.FixedLenFeature([], tf.int64),
    **{key: tf.io.VarLenFeature(tf.float32) for key in _BOX_KEYS},
}


def parse_example(serialized, label_offset=0):
    """One serialized ``tf.train.Example`` -> ``{"encoded", "label", "bbox"}``.

    Args:
        serialized: scalar string tensor.
        label_offset: subtracted from ``image/class/label``, default 0 (1 for
            TF-slim ImageNet records).

    Returns:
        ``encoded`` (string), ``label`` (int32), ``bbox`` (float32 ``[n, 4]``,
        ymin/xmin/ymax/xmax; ``n`` may be 0).
    """
    parsed = tf.io.parse_single_example(serialized, FEATURES)
    bbox = tf.stack([tf.sparse.to_dense(parsed[key]) for key in _BOX_KEYS], axis=-1)
    return {
        "encoded": parsed["image/encoded"],
        "label": tf.cast(parsed["image/class/label"] - label_offset, tf.int32),
        "bbox": bbox,
    }


def make_example(image_bytes, label, *, class_name, filename, height, width, image_format, bbox=()):
    """A ``tf.train.Example`` in the TF-slim layout (``bbox``: (ymin, xmin, ymax, xmax) tuples)."""

    def floats(values):
        return tf.train.Feature(float_list=tf.train.FloatList(value=values))

    def ints(value):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

    def text(value):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    feature = {
        "image/encoded": text(image_bytes),
        "image/format": text(image_format.encode()),
        "image/filename": text(filename.encode()),
        "image/height": ints(height),
        "image/width": ints(width),
        "image/class/label": ints(label),
        "image/class/text": text(class_name.encode()),
    }
    boxes = np.asarray(bbox, dtype=np.float32).reshape(-1, 4)
    for i, key in enumerate(_BOX_KEYS):
        feature[key] = floats(boxes[:, i].tolist())
    return tf.train.Example(features=tf.train.Features(feature=feature))


def shard_names(split, num_shards):
    """``["train-00000-of-00008.tfrecord", ...]``."""
    return [f"{split}-{i:05d}-of-{num_shards:05d}.tfrecord" for i in range(num_shards)]


def write_shards(out_dir, split, examples, num_shards):
    """Writes ``examples`` (``(path, label, class_name)``) round-robin into shards.

    Each shard is written under a temporary name and renamed when complete, so
    a reader never sees half a shard.

    Returns:
        The shard file names.
    """
    names = shard_names(split, num_shards)
    writers = [tf.io.TFRecordWriter(os.path.join(out_dir, n + ".tmp")) for n in names]
    try:
        for i, (path, label, class_name) in enumerate(examples):
            image_bytes = tf.io.gfile.GFile(path, "rb").read()
            height, width = image_size(image_bytes)
            writers[i % num_shards].write(make_example(
                image_bytes, label, class_name=class_name,
                filename=os.path.basename(path), height=height, width=width,
                image_format=files_lib.sniff_format(image_bytes[:12]),
            ).SerializeToString())
    finally:
        for writer in writers:
            writer.close()
    for name in names:
        os.replace(os.path.join(out_dir, name + ".tmp"), os.path.join(out_dir, name))
    return names


def image_size(image_bytes):
    """``(height, width)`` of an encoded image; JPEGs without decoding."""
    if files_lib.sniff_format(image_bytes[:12]) == "JPEG":
        shape = tf.io.extract_jpeg_shape(image_bytes)
    else:
        shape = tf.shape(tf.io.decode_image(image_bytes, channels=3, expand_animations=False))
    return int(shape[0]), int(shape[1])


def read_info(directory):
    """The writer's ``dataset_info.json`` in ``directory``, or ``None``."""
    path = os.path.join(directory, INFO_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_info(directory, info):
    """Writes ``dataset_info.json`` atomically."""
    files_lib.write_json(os.path.join(directory, INFO_FILE), info)
