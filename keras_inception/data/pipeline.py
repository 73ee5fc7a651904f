"""``build_dataset``: a source, Inception preprocessing, batches ready for ``model.fit``.

The stages, in order: raw elements from the source (shuffled and sharded where
that is cheapest: the path list, the record files), a seed per element,
parallel decode + crop + augmentation (``num_parallel_calls=AUTOTUNE``; the
colour distortion can be left to the model's step instead,
``DataConfig.color_in_model``), optional error skipping, an in-memory cache of
evaluation images when they fit, batching (``drop_remainder`` when training, so
XLA sees static shapes), the optional Keras batch augmentations (RandAugment,
MixUp, CutMix), prefetch; ``performance_settings`` lists the ``tf.data``
options set for speed, and why.
"""

import dataclasses
import json
import math
import os
import warnings

import keras
import tensorflow as tf

from keras_inception import image_header
from keras_inception.data import files as files_lib
from keras_inception.data import preprocessing
from keras_inception.data import sources as sources_lib
from keras_inception.data.config import DataConfig

# Evaluation images are cached after preprocessing when they take at most this.
EVAL_CACHE_LIMIT_BYTES = 1 << 30


@dataclasses.dataclass
class DatasetInfo:
    """What ``build_dataset`` read and how it prepares it.

    Attributes:
        class_names: label ``i`` is ``class_names[i]``.
        num_examples: examples in the split (before batching).
        source: the source as given.
        skipped: paths of files left out (unreadable, not images, ...).
        split: ``"train"`` or ``"validation"``.
        image_size: ``(height, width)`` of the images.
        batch_size: global batch size.
        steps_per_epoch: batches per pass over the split.
        training: whether training augmentation is applied.
        augment: the augmentation recipe, or ``None`` for evaluation.
        central_fraction: the evaluation crop.
        scale: ``True`` for [-1, 1] pixels, ``False`` for 0-255.
        skipped_reasons: ``{path: reason}``.
        skipped_log: the file listing the skipped paths, or ``None``.
        num_skipped: how many files (or ``"<shard>#<index>"`` records) were
            left out, ``len(skipped)``.
        label_format: ``"index"`` (int32 labels) or ``"one_hot"`` (float32
            ``[batch, classes]``, with MixUp/CutMix).
        color_in_model: the colour distortion (``"full"`` or ``"fast"``) the
            pipeline left for the model to apply, ``ColorDistortion(mode)``
            (``DataConfig.color_in_model``), or ``None``.
    """

    class_names: list
    num_examples: int
    source: str
    skipped: list = dataclasses.field(default_factory=list)
    split: str = "train"
    image_size: tuple = None
    batch_size: int = None
    steps_per_epoch: int = None
    training: bool = False
    augment: str = None
    central_fraction: float = 0.875
    scale: bool = True
    skipped_reasons: dict = dataclasses.field(default_factory=dict)
    skipped_log: str = None
    label_format: str = "index"
    num_skipped: int = 0
    color_in_model: str = None

    @property
    def num_classes(self):
        """Number of classes."""
        return len(self.class_names)

    def to_dict(self):
        """A JSON-serializable dict of the fields."""
        return dataclasses.asdict(self)


def build_dataset(config, *, input_context=None):
    """A batched ``tf.data.Dataset`` of ``(images, labels)`` with Inception preprocessing.

    Szegedy et al., "Going Deeper with Convolutions" (CVPR 2015) and
    "Rethinking the Inception Architecture" (CVPR 2016): random-area crops,
    flips and colour distortion for training; a central crop for evaluation.

    Args:
        config: a ``DataConfig``: the source and how to prepare it (its
            attributes list the settings and their defaults). It is validated
            first.
        input_context: a ``tf.distribute.InputContext`` (from
            ``distribute_datasets_from_function``), default ``None``.

    Returns:
        ``(dataset, DatasetInfo)``; the dataset yields float32 images
        ``[batch, height, width, 3]`` and int32 labels ``[batch]`` (float32
        one-hot ``[batch, classes]`` with MixUp/CutMix).

    Raises:
        ValueError: ``config`` is not a ``DataConfig`` or holds a value it
            cannot use (the message ends with ``Received: <field>=<value>``).
    """
    if not isinstance(config, DataConfig):
        raise ValueError(
            "`build_dataset` takes a keras_inception.data.DataConfig, e.g. "
            "build_dataset(DataConfig(source, image_size=299, batch_size=32)). "
            f"Received: config={config!r:.200}"
        )
    config.validate()
    height, width = config.resolved_image_size()
    source, split, batch_size, seed = config.source, config.split, config.batch_size, config.seed
    scale, max_pixels = config.scale, config.max_pixels
    randaugment, mixup, cutmix = config.randaugment, config.mixup, config.cutmix
    training = config.is_training
    shuffle = training if config.shuffle is None else config.shuffle
    src = sources_lib.open_source(
        source,
        split=split,
        validation_split=config.validation_split,
        seed=seed,
        verify=config.verify,
        max_pixels=max_pixels,
        skipped_log=config.skipped_log,
        skipped_log_dir=config.skipped_log_dir,
        class_names=None if config.class_names is None else list(config.class_names),
        data_dir=config.data_dir,
        download=config.download,
        label_offset=config.label_offset,
    )
    augment = (config.augment or "inception") if training else None
    central_fraction = 0.875 if config.central_fraction is None else config.central_fraction
    ignore_errors = config.ignore_errors
    if ignore_errors is None:
        ignore_errors = src.verified == "quick"
        if ignore_errors:
            what = "records" if src.kind == "tfrecord" else "files"
            warnings.warn(
                f"The {src.num_examples} {what} of {src.name} were checked by their "
                "headers only (verify='quick'); ones that fail to read or decode are "
                "dropped with a TensorFlow warning. Use verify='full' or "
                "`keras-inception data info --verify full` to list them.",
                stacklevel=files_lib.user_stacklevel(),
            )
    batch_extras = training and (randaugment or mixup or cutmix)
    per_replica = (
        input_context.get_per_replica_batch_size(batch_size) if input_context else batch_size
    )

    ds = src.make(
        size=(height, width),
        shuffle=shuffle,
        seed=seed,
        input_context=input_context,
        cache=_resolve_cache(config.cache, training, src.total_bytes),
        shuffle_buffer=config.shuffle_buffer,
    )
    if src.kind in ("tfrecord", "tfds") and src.verified != "full":
        # Bytes whose header claims too many pixels never reach a decoder
        # (files and fully checked records had their headers checked already).
        ds = ds.map(_size_checked(max_pixels), num_parallel_calls=tf.data.AUTOTUNE)
    color_in_model = None
    if training:
        recipe = preprocessing.AUGMENTATIONS[augment].kwargs()
        if config.color_in_model:
            color_in_model, recipe["color"] = recipe["color"], None
        prepare = _train_fn(height, width, recipe, scale=scale and not batch_extras)
        if config.deterministic:
            # A seed per element, fixed by ``seed`` and the epoch. The zip is a
            # second, non-file source: tf.distribute's auto-sharding can then
            # only shard by data (``_options``).
            pipeline_id = input_context.input_pipeline_id if input_context else 0
            seeds = tf.data.Dataset.random(
                seed=seed + 7919 * pipeline_id, rerandomize_each_iteration=True
            ).batch(2)
            ds = tf.data.Dataset.zip((ds, seeds)).map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
        else:
            ds = ds.map(lambda element: prepare(element, None), num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(
            _eval_fn(height, width, central_fraction, scale),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    if ignore_errors:
        ds = ds.ignore_errors(log_warning=True)
    if not training:
        eval_bytes = src.num_examples * height * width * 3 * 4
        ds = sources_lib.cache_dataset(
            ds, _resolve_cache(config.cache, True, eval_bytes, EVAL_CACHE_LIMIT_BYTES)
        )
    ds = ds.batch(per_replica, drop_remainder=training)
    label_format = "index"
    if batch_extras:
        ds = ds.map(
            _batch_augment_fn(len(src.class_names), seed, randaugment, mixup, cutmix, scale),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        label_format = "one_hot" if mixup or cutmix else "index"
    batch_bytes = per_replica * height * width * 3 * 4
    ds = ds.prefetch(tf.data.AUTOTUNE).with_options(
        # Evaluation keeps the source order: predictions can be matched to files.
        _options(
            config.deterministic or not training,
            src.file_sharded and not (training and config.deterministic),
            input_context,
            performance_settings(batch_bytes, training),
        )
    )
    steps = src.num_examples // batch_size if training else math.ceil(src.num_examples / batch_size)
    info = DatasetInfo(
        class_names=list(src.class_names),
        num_examples=src.num_examples,
        source=str(source),
        skipped=sorted(src.skipped),
        split=split,
        image_size=(height, width),
        batch_size=batch_size,
        steps_per_epoch=steps,
        training=training,
        augment=augment,
        central_fraction=central_fraction,
        scale=scale,
        skipped_reasons=dict(src.skipped),
        skipped_log=src.skipped_log,
        label_format=label_format,
        num_skipped=len(src.skipped),
        color_in_model=color_in_model,
    )
    return ds, info


def calibration_images(source, image_size, num_images=200, scale=True, batch_size=1, **fields):
    """Images for TFLite int8 calibration, from the evaluation pipeline.

    A seeded shuffle mixes the classes, so the first ``num_images`` represent
    the whole set.

    Args:
        source: any ``build_dataset`` source.
        image_size: an int or ``(height, width)``.
        num_images: how many images, default 200.
        scale: ``True`` (default) for [-1, 1] pixels, ``False`` for 0-255.
        batch_size: images per yielded array, default 1.
        **fields: further ``DataConfig`` fields (``split``, ``seed``, ...).

    Yields:
        float32 NumPy arrays ``[batch_size, height, width, 3]`` (the last may
        be smaller).
    """
    fields.setdefault("split", "validation")
    ds, _ = build_dataset(
        DataConfig(
            source,
            image_size=image_size,
            batch_size=batch_size,
            training=False,
            shuffle=True,
            scale=scale,
            **fields,
        )
    )
    remaining = num_images
    for images, _ in ds.as_numpy_iterator():
        if remaining <= 0:
            return
        yield images[:remaining]
        remaining -= len(images)


def save_class_names(path, names):
    """Writes the class names as a JSON list (atomically)."""
    files_lib.write_json(path, [str(n) for n in names])


def load_class_names(path):
    """Reads a JSON list of class names written by ``save_class_names``."""
    with open(path, encoding="utf-8") as f:
        names = json.load(f)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(
            f"A class-names file holds a JSON list of strings. Received: path={path!r}"
        )
    return names


def _size_checked(max_pixels):
    @tf.autograph.experimental.do_not_convert
    def check(element):
        encoded = image_header.tf_check_max_pixels(element["encoded"], max_pixels)
        return {**element, "encoded": encoded}

    return check


def _train_fn(height, width, recipe, *, scale):
    def prepare(element, seed):
        image = element["encoded"] if "encoded" in element else element["image"]
        image = preprocessing.preprocess_for_train(
            image, height, width, element.get("bbox"), seed=seed, scale=scale, **recipe
        )
        return image, element["label"]

    return prepare


def _eval_fn(height, width, central_fraction, scale):
    def prepare(element):
        image = element["encoded"] if "encoded" in element else element["image"]
        image = preprocessing.preprocess_for_eval(image, height, width, central_fraction, scale)
        return image, element["label"]

    return prepare


def _batch_augment_fn(num_classes, seed, randaugment, mixup, cutmix, scale):
    """RandAugment / MixUp / CutMix on a batch of 0-255 images, then the scaling."""
    rand_augment = (
        keras.layers.RandAugment(value_range=(0, 255), seed=seed) if randaugment else None
    )
    mix_layers = [
        layer
        for layer, on in (
            (keras.layers.MixUp(alpha=mixup, seed=seed), mixup),
            (keras.layers.CutMix(factor=cutmix, seed=seed), cutmix),
        )
        if on
    ]

    def augment(images, labels):
        if rand_augment is not None:
            images = rand_augment(images)
        if mix_layers:
            data = {"images": images, "labels": tf.one_hot(labels, num_classes)}
            for layer in mix_layers:
                data = layer(data)
            images, labels = data["images"], data["labels"]
        return preprocessing.to_model_range(images / 255.0, scale), labels

    return augment


def _resolve_cache(cache, wanted, size_bytes, limit=sources_lib.CACHE_LIMIT_BYTES):
    """``False``, ``True`` (memory) or a file path, from the ``cache`` argument."""
    if cache == "auto":
        return bool(wanted and size_bytes is not None and size_bytes <= limit)
    if not isinstance(cache, (bool, str)):
        raise ValueError(
            f"`cache` must be 'auto', True, False or a file path. Received: cache={cache!r}"
        )
    return cache if wanted else False


def performance_settings(batch_bytes, training):
    """The ``tf.data`` options ``build_dataset`` sets for speed, as ``{dotted name: value}``.

    On a 2-core CPU host their effect on the CPU time per image is within
    the noise (``benchmarks/bench_input_pipeline.py --options``,
    docs/performance.md, "Input pipeline"); each is set for a host that
    feeds accelerators:

    - ``threading.private_threadpool_size = 0``: the pipeline runs on its own
      threads, as many as the host's cores, so that its image decodes and the
      training step's host-side ops do not queue behind each other on
      TensorFlow's shared inter-op pool.
    - ``threading.max_intra_op_parallelism = 1``: the pipeline's parallelism is
      across images (``num_parallel_calls=AUTOTUNE``); splitting one image's
      op between threads as well only adds hand-offs.
    - ``autotune.ram_budget``: 16 batches (at least 256 MiB), instead of
      TensorFlow's half of the free RAM, which lets each of the processes of
      a host with several accelerators claim half of its memory; left to
      TensorFlow where 16 batches would exceed half of the physical RAM.
    - ``experimental_optimization.map_fusion = True``: the read, size-check
      and decode maps run as one function, one call per image instead of
      two or three.
    - ``experimental_slack = True`` (training): TensorFlow's slack in the
      last ``prefetch``, which spreads the pipeline's work away from the
      start of each accelerator step, where the host launches it.

    Args:
        batch_bytes: bytes of one output batch of images.
        training: whether the pipeline feeds training.

    Returns:
        ``{"threading.private_threadpool_size": 0, ...}``.
    """
    settings = {
        "threading.private_threadpool_size": 0,
        "threading.max_intra_op_parallelism": 1,
        "experimental_optimization.map_fusion": True,
        "experimental_slack": training,
    }
    budget = max(16 * batch_bytes, 256 << 20)
    if budget <= os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2:
        settings["autotune.ram_budget"] = budget
    return settings


def apply_settings(options, settings):
    """Sets ``{dotted name: value}`` settings on a ``tf.data.Options``; returns it."""
    for name, value in settings.items():
        *groups, attribute = name.split(".")
        target = options
        for group in groups:
            target = getattr(target, group)
        setattr(target, attribute, value)
    return options


def _options(deterministic, file_sharded, input_context, settings):
    options = apply_settings(tf.data.Options(), settings)
    options.deterministic = deterministic
    policy = tf.data.experimental.AutoShardPolicy
    if input_context is not None:
        options.experimental_distribute.auto_shard_policy = policy.OFF
    else:
        options.experimental_distribute.auto_shard_policy = (
            policy.FILE if file_sharded else policy.DATA
        )
    return options
