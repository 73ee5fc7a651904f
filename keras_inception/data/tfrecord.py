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
``dataset_info.json`` (class names, example counts, shard files) next to them;
readers read exactly the shards it lists.

A record on disk is ``length`` (uint64), the masked CRC-32C of the length,
``length`` bytes of data, and the masked CRC-32C of the data.
``check_framing`` walks the length fields alone (a seek per record: it finds a
truncated shard or a damaged length without reading the data);
``check_records`` reads everything, checksums included.
"""

import json
import os
import struct

import numpy as np
import tensorflow as tf

from keras_inception import faults
from keras_inception import image_header
from keras_inception.data import files as files_lib

INFO_FILE = "dataset_info.json"

_MAX_INFO_BYTES = 64 << 20
_HEADER = 12  # uint64 length + uint32 masked CRC of the length
_FOOTER = 4  # uint32 masked CRC of the data


def _crc32c_table():
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
        table.append(crc)
    return table


_CRC32C = _crc32c_table()


def masked_crc32c(data):
    """The CRC-32C (Castagnoli) of ``data``, masked as TFRecord files store it."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def check_framing(path):
    """Walks the record headers of a TFRecord file (uncompressed).

    Returns:
        ``(num_records, problem)``: ``problem`` is ``None`` for a well-framed
        file, else a one-line description with the byte offset; ``num_records``
        counts the records before it.
    """
    count, offset = 0, 0
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            while offset < size:
                f.seek(offset)
                header = f.read(_HEADER)
                if len(header) < _HEADER:
                    return count, f"truncated: record {count} header cut at byte {offset}"
                length, length_crc = struct.unpack("<QI", header)
                if masked_crc32c(header[:8]) != length_crc:
                    return count, f"corrupt: record {count} length field damaged at byte {offset}"
                end = offset + _HEADER + length + _FOOTER
                if end > size:
                    return count, (
                        f"truncated: record {count} at byte {offset} needs {end} bytes, "
                        f"the file has {size}"
                    )
                count, offset = count + 1, end
    except OSError as error:
        return count, f"unreadable: {error.strerror or error}"
    return count, None


def check_examples(paths, counts, label_offset=0, max_pixels=None):
    """``{"<path>#<index>": reason}`` of the records that are not usable image examples.

    Each record is first looked at in Python (cheap: a protobuf parse and the
    image header): not an ``Example``, a negative label after
    ``label_offset``, an image header without a size or above ``max_pixels``.
    The others are then parsed and decoded by TensorFlow as the pipeline
    would (JPEGs at 1/8 size), in parallel. Call on files that passed
    ``check_records``.

    Args:
        paths: the TFRecord files.
        counts: the number of records in each (from ``check_records``).
        label_offset: subtracted from the labels, default 0.
        max_pixels: the largest image, default ``None``
            (``image_header.DEFAULT_MAX_PIXELS``).
    """
    max_pixels = max_pixels or image_header.DEFAULT_MAX_PIXELS
    bad = {}
    for path in paths:
        for index, record in enumerate(tf.data.TFRecordDataset(path).as_numpy_iterator()):
            reason = _header_problem(record, label_offset, max_pixels)
            if reason:
                bad[f"{path}#{index}"] = reason
    screened = bad_record_table(bad)

    # Plain graph code: autograph's conversion would cost more than the check.
    @tf.autograph.experimental.do_not_convert
    def decode(path, index, record):
        return path, index, files_lib.decode_shape(parse_example(record, label_offset)["encoded"])

    records = tf.data.Dataset.from_tensor_slices(list(paths)).flat_map(
        lambda path: keep_usable(tf.data.TFRecordDataset(path).enumerate(), path, screened).map(
            lambda index, record: (path, index, record)
        )
    )
    decoded = records.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
    good = {(p.decode(), int(i)) for p, i, _ in decoded.ignore_errors().as_numpy_iterator()}
    for path, count in zip(paths, counts):
        missing = [i for i in range(count) if (path, i) not in good and f"{path}#{i}" not in bad]
        if not missing:
            continue
        for index, record in enumerate(tf.data.TFRecordDataset(path).as_numpy_iterator()):
            if index in missing:
                bad[f"{path}#{index}"] = _example_problem(record, label_offset, max_pixels)
    return bad


def bad_record_table(bad):
    """A lookup of ``"<file basename>#<index>"`` (1 = listed in ``bad``), or ``None`` when empty."""
    if not bad:
        return None
    keys = []
    for key in bad:
        path, index = key.rsplit("#", 1)
        keys.append(f"{os.path.basename(path)}#{index}")
    return tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(keys, tf.ones([len(keys)], tf.int32)), 0
    )


def keep_usable(enumerated, path, table):
    """Drops the ``(index, record)`` elements of file ``path`` listed in ``table``."""
    if table is None:
        return enumerated
    basename = tf.strings.split(path, os.sep)[-1]
    return enumerated.filter(
        lambda index, _: (
            table.lookup(tf.strings.join([basename, "#", tf.strings.as_string(index)])) == 0
        )
    )


def _header_problem(record, label_offset, max_pixels):
    """What Python sees wrong in one record without decoding it, or ``None``."""
    try:
        example = tf.train.Example.FromString(record)
    except Exception:  # noqa: BLE001 - protobuf's DecodeError and friends
        return "not a tf.train.Example"
    feature = example.features.feature
    encoded = feature["image/encoded"].bytes_list.value if "image/encoded" in feature else []
    labels = feature["image/class/label"].int64_list.value if "image/class/label" in feature else []
    if len(encoded) != 1 or len(labels) != 1:
        return None  # TensorFlow's parse says what is missing
    if labels[0] - label_offset < 0:
        return f"negative label {labels[0] - label_offset} (label_offset={label_offset})"
    try:
        image_header.check_max_pixels(encoded[0], max_pixels)
    except ValueError as error:
        return str(error)
    return None


def _example_problem(record, label_offset, max_pixels):
    """Why one serialized record is not a usable example (a short reason)."""
    try:
        example = parse_example(record, label_offset)
    except tf.errors.OpError as error:
        return "not an image example: " + files_lib.one_line(error.message)
    except UnicodeDecodeError:  # TensorFlow's message quoted the record's bytes
        return "not an image example"
    if int(example["label"]) < 0:
        return f"negative label {int(example['label'])} (label_offset={label_offset})"
    encoded = example["encoded"].numpy()
    try:
        image_header.check_max_pixels(encoded, max_pixels)
    except ValueError as error:
        return str(error)
    try:
        files_lib.decode_shape(encoded)
    except tf.errors.OpError as error:
        return "cannot be decoded: " + files_lib.one_line(error.message)
    except UnicodeDecodeError:
        pass
    return "cannot be decoded"


def check_records(path):
    """Reads every record of a TFRecord file with TensorFlow, checksums included.

    Returns:
        ``(num_records, problem)`` as ``check_framing``.
    """
    count, problem = check_framing(path)
    if problem:
        return count, problem
    count = 0
    try:
        for _ in tf.data.TFRecordDataset(path, buffer_size=1 << 20):
            count += 1
    except tf.errors.OpError as error:
        message = error.message.split("[Op:")[0].split("}}")[-1].strip()
        return count, f"corrupt: record {count} fails its checksum ({message[:120]})"
    return count, None


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

    Meant for a private staging folder (``write_tfrecords`` publishes it
    whole): each shard is flushed and fsynced once complete.

    Returns:
        The shard file names.
    """
    names = shard_names(split, num_shards)
    writers = [tf.io.TFRecordWriter(os.path.join(out_dir, n)) for n in names]
    try:
        for i, (path, label, class_name) in enumerate(examples):
            with open(path, "rb") as f:
                image_bytes = f.read(files_lib.MAX_FILE_BYTES + 1)
            height, width = image_size(image_bytes)
            writers[i % num_shards].write(
                make_example(
                    image_bytes,
                    label,
                    class_name=class_name,
                    filename=os.path.basename(path),
                    height=height,
                    width=width,
                    image_format=files_lib.sniff_format(image_bytes[:12]),
                ).SerializeToString()
            )
    finally:
        for writer in writers:
            writer.close()
    for name in names:
        with open(os.path.join(out_dir, name), "rb+") as f:
            os.fsync(f.fileno())
        faults.point("data_convert.shard_written")
    return names


def image_size(image_bytes):
    """``(height, width)`` of an encoded image, from its header.

    Raises:
        ValueError: the header gives no size.
    """
    size = image_header.image_dimensions(image_bytes)
    if size is None:
        raise ValueError("cannot read the image size from its header")
    return size


def read_info(directory):
    """The writer's ``dataset_info.json`` in ``directory``, or ``None``.

    Raises:
        ValueError: the file is not a JSON object (or is absurdly large).
    """
    path = os.path.join(directory, INFO_FILE)
    if not os.path.isfile(path):
        return None
    try:
        if os.path.getsize(path) > _MAX_INFO_BYTES:
            raise ValueError("larger than 64 MiB")
        with open(path, encoding="utf-8") as f:
            info = json.load(f)
        if not isinstance(info, dict):
            raise ValueError("not a JSON object")
        names = info.get("class_names")
        if names is not None and not (
            isinstance(names, list) and all(isinstance(n, str) for n in names)
        ):
            raise ValueError("class_names is not a list of strings")
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise ValueError(
            f"{path} is unreadable ({str(error)[:200]}). Received: source={directory!r}"
        ) from None
    return info


def write_info(directory, info):
    """Writes ``dataset_info.json`` atomically."""
    files_lib.write_json(os.path.join(directory, INFO_FILE), info)
