"""``DataConfig``: everything ``build_dataset`` needs, typed and validated.

One dataclass instead of a long list of keyword arguments, validated like
``training.TrainConfig``: every error names the field and ends with
``Received: <field>=<value>``. A training run derives its ``DataConfig`` from
its ``TrainConfig`` (``TrainConfig.data_config``), so a config file, a preset or
``--set augment=mild`` reach the pipeline through the same fields::

    from keras_inception import data
    config = data.DataConfig("photos/", image_size=299, batch_size=32)
    train, info = data.build_dataset(config)
    val, _ = data.build_dataset(config.replace(split="validation"))
"""

import dataclasses
import math
import numbers
import os
import reprlib

from keras_inception.image_header import DEFAULT_MAX_PIXELS

SPLITS = ("train", "validation")
VERIFY_MODES = ("auto", "full", "quick")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """A dataset source and how ``build_dataset`` prepares it.

    Szegedy et al., "Going Deeper with Convolutions" (CVPR 2015) and
    "Rethinking the Inception Architecture" (CVPR 2016): random-area crops,
    flips and colour distortion for training; a central crop for evaluation.

    Attributes:
        source: a class-folder directory (``root/<class>/<image>``, or
            ``root/train/...`` + ``root/val/...``), a TFRecord file, glob or
            directory (TF-slim layout), ``"tfds:NAME"``, or ``"digits"``
            (scikit-learn's 1,797 8x8 digits, embedded).
        image_size: output size, an int or ``(height, width)``.
        batch_size: global batch size (divided among replicas when
            ``build_dataset`` is given an ``input_context``).
        split: ``"train"`` or ``"validation"``, default ``"train"``.
        training: apply training augmentation, shuffle and drop the last
            partial batch; default ``None`` (``split == "train"``).
        validation_split: fraction in [0, 1) held out when the source has no
            validation split of its own, default ``None`` (0.1).
        seed: seed of the split, the shuffling and the augmentation, default 1337.
        augment: a recipe of ``preprocessing.AUGMENTATIONS`` (``"inception"``,
            ``"fast"``, ``"mild"``, ``"light"``, ``"none"``), default ``None``
            (``"inception"``, the papers'). ``keras_inception.data.auto`` picks
            one from the data, as training does.
        scale: ``True`` (default) for [-1, 1] pixels; ``False`` for 0-255,
            for models built with ``include_preprocessing=True``.
        central_fraction: evaluation crop in (0, 1], default ``None`` (0.875,
            TF-slim's).
        model: a registry name whose ``min_size`` the images must reach,
            default ``None``.
        min_size: smallest accepted image side, default ``None`` (no check
            unless ``model`` is given).
        shuffle: default ``None`` (``training``).
        shuffle_buffer: records held for shuffling TFRecord/TFDS sets,
            default ``None`` (all when cached, else up to 8192).
        cache: ``"auto"`` (default: encoded training sets up to 1 GiB,
            preprocessed evaluation sets up to 1 GiB), ``True``, ``False``, or
            a file path for an on-disk cache.
        deterministic: make a training run repeatable: a fixed element order and
            per-example augmentation seeds derived from ``seed`` (and the epoch);
            default ``False``: ``seed`` still fixes the split and the shuffling,
            but the augmentation draws fresh random numbers, and TFRecord files
            can be auto-sharded by file under ``tf.distribute``. Evaluation
            datasets always keep their order.
        verify: ``"auto"`` (default), ``"full"`` or ``"quick"``: how a
            directory's files or TFRecord shards are checked before use
            (``sources.open_source``).
        ignore_errors: drop elements that fail to decode instead of stopping,
            default ``None`` (on when the source was only header-checked).
        skipped_log: file listing skipped files, default ``None``
            (``skipped_log_dir/skipped-<digest>.log``; its path is in the
            warning and in ``DatasetInfo.skipped_log``).
        skipped_log_dir: the folder of the default ``skipped_log`` (a training
            run passes its run directory), default ``None``: the private
            per-user cache folder (``~/.cache/keras_inception``).
        max_pixels: largest image (width x height, from its header) used;
            larger ones are skipped (files) or refused before decoding
            (records), default ``image_header.DEFAULT_MAX_PIXELS`` (40 MP).
        class_names: label order to use (e.g. the training run's), default
            ``None``.
        data_dir: TFDS data directory, default ``None``.
        download: let TFDS download, default ``False``.
        label_offset: subtracted from TFRecord labels, default 0 (1 for TF-slim
            ImageNet records).
        color_in_model: leave the colour distortion of the ``augment``
            recipe out of the training pipeline, for the model to apply to
            each batch in its compiled step (``data.ColorDistortion``, on a
            GPU or TPU) instead of the host's CPU; ``DatasetInfo.color_in_model``
            names the mode to apply. Default ``False``.
        randaugment: apply ``keras.layers.RandAugment`` to training batches,
            default ``False``.
        mixup: MixUp ``alpha`` (0 = off), default 0.0; labels become one-hot.
        cutmix: CutMix ``factor`` (0 = off), default 0.0; labels become one-hot.
    """

    source: object
    image_size: object
    batch_size: int
    split: str = "train"
    training: bool = None
    validation_split: float = None
    seed: int = 1337
    augment: str = None
    scale: bool = True
    central_fraction: float = None
    model: str = None
    min_size: int = None
    shuffle: bool = None
    shuffle_buffer: int = None
    cache: object = "auto"
    deterministic: bool = False
    verify: str = "auto"
    ignore_errors: bool = None
    skipped_log: str = None
    skipped_log_dir: str = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    class_names: tuple = None
    data_dir: str = None
    download: bool = False
    label_offset: int = 0
    color_in_model: bool = False
    randaugment: bool = False
    mixup: float = 0.0
    cutmix: float = 0.0

    def replace(self, **changes):
        """A copy with some fields changed (unknown names raise ``ValueError``)."""
        unknown = sorted(set(changes) - set(FIELDS))
        if unknown:
            raise ValueError(
                f"Unknown DataConfig field(s) {unknown}. "
                f"Received: {', '.join(f'{k}={_short(changes[k])}' for k in unknown)}"
            )
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        """The config as JSON-ready data (paths as strings, sizes and names as lists)."""
        data = dataclasses.asdict(self)
        data["source"] = os.fspath(self.source) if _is_path(self.source) else self.source
        for name in ("image_size", "class_names"):
            if isinstance(data[name], tuple):
                data[name] = list(data[name])
        return data

    @property
    def is_training(self):
        """Whether training augmentation applies: ``training``, else ``split == "train"``."""
        return self.split == "train" if self.training is None else self.training

    def resolved_image_size(self):
        """``(height, width)``, checked against ``min_size`` and ``model``'s minimum.

        Raises:
            ValueError: the size is not positive, or below the minimum.
        """
        image_size = self.image_size
        size = (
            (image_size, image_size)
            if _is_int(image_size)
            else tuple(image_size if isinstance(image_size, (tuple, list)) else ())
        )
        if len(size) != 2 or not all(_is_int(s) and s > 0 for s in size):
            raise ValueError(
                "`image_size` must be a positive int or (height, width). "
                f"Received: image_size={_short(image_size)}"
            )
        min_size = self.min_size
        if self.model is not None:
            from keras_inception.registry import get_spec

            min_size = max(min_size or 0, get_spec(self.model).min_size)
        if min_size is not None and min(size) < min_size:
            about = f" for {self.model}" if self.model else ""
            raise ValueError(
                f"`image_size` must be at least {min_size}x{min_size}{about}. "
                f"Received: image_size={_short(image_size)}"
            )
        return tuple(int(s) for s in size)

    def validate(self):
        """Raises ``ValueError`` for any value ``build_dataset`` cannot use.

        Returns:
            The config itself, so calls can be chained.
        """
        _require(
            isinstance(self.source, str) and bool(self.source) or _is_path(self.source),
            "source",
            self.source,
            "must name a dataset source (a path or a name)",
        )
        self.resolved_image_size()
        _require(
            _is_int(self.batch_size) and self.batch_size >= 1,
            "batch_size",
            self.batch_size,
            "must be a positive integer",
        )
        _require(self.split in SPLITS, "split", self.split, f"must be one of {SPLITS}")
        for name in ("training", "shuffle", "ignore_errors"):
            value = getattr(self, name)
            _require(
                value is None or isinstance(value, bool), name, value, "must be True, False or None"
            )
        for name in ("scale", "deterministic", "download", "color_in_model", "randaugment"):
            value = getattr(self, name)
            _require(isinstance(value, bool), name, value, "must be True or False")
        check_validation_split(self.validation_split)
        _require(_is_int(self.seed), "seed", self.seed, "must be an integer")
        check_augment(self.augment)
        check_central_fraction(self.central_fraction)
        if self.min_size is not None:
            _require(
                _is_int(self.min_size) and self.min_size >= 1,
                "min_size",
                self.min_size,
                "must be a positive integer or None",
            )
        if self.shuffle_buffer is not None:
            _require(
                _is_int(self.shuffle_buffer) and self.shuffle_buffer >= 1,
                "shuffle_buffer",
                self.shuffle_buffer,
                "must be a positive integer or None",
            )
        _require(
            self.cache == "auto"
            or isinstance(self.cache, bool)
            or isinstance(self.cache, str)
            and bool(self.cache),
            "cache",
            self.cache,
            "must be 'auto', True, False or a file path",
        )
        _require(
            self.verify in VERIFY_MODES, "verify", self.verify, f"must be one of {VERIFY_MODES}"
        )
        _require(
            _is_int(self.max_pixels) and self.max_pixels >= 1,
            "max_pixels",
            self.max_pixels,
            "must be a positive integer",
        )
        if self.class_names is not None:
            _require(
                isinstance(self.class_names, (list, tuple))
                and all(isinstance(n, str) for n in self.class_names),
                "class_names",
                self.class_names,
                "must be a list of strings or None",
            )
        _require(
            _is_int(self.label_offset) and self.label_offset >= 0,
            "label_offset",
            self.label_offset,
            "must be a non-negative integer",
        )
        for name in ("mixup", "cutmix"):
            value = getattr(self, name)
            _require(_is_number(value) and value >= 0, name, value, "must be a number >= 0")
        return self


def check_validation_split(value, *, also=()):
    """``validation_split`` is ``None``, one of ``also`` or a fraction in [0, 1)."""
    if value is None or value in also:
        return
    _require(
        _is_number(value) and 0 <= value < 1,
        "validation_split",
        value,
        "must be in [0, 1)" + _or(also),
    )


def check_augment(value, *, also=()):
    """``augment`` is ``None``, one of ``also`` or a recipe of ``AUGMENTATIONS``."""
    if value is None or value in also:
        return
    from keras_inception.data.preprocessing import AUGMENTATIONS

    _require(
        isinstance(value, str) and value in AUGMENTATIONS,
        "augment",
        value,
        f"must be one of {tuple(AUGMENTATIONS)}" + _or(also),
    )


def check_central_fraction(value, *, also=()):
    """``central_fraction`` is ``None``, one of ``also`` or in (0, 1]."""
    if value is None or value in also:
        return
    _require(
        _is_number(value) and 0 < value <= 1,
        "central_fraction",
        value,
        "must be in (0, 1]" + _or(also),
    )


FIELDS = tuple(field.name for field in dataclasses.fields(DataConfig))


def _or(also):
    return "".join(f" or {choice!r}" for choice in also)


def _is_path(value):
    return isinstance(value, os.PathLike)


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 80
_REPR.maxlevel = 3


def _short(value):
    """``repr(value)`` cut to one short line."""
    return _REPR.repr(value)


def _require(condition, name, value, message):
    if not condition:
        raise ValueError(f"`{name}` {message}. Received: {name}={_short(value)}")


__all__ = ["DataConfig", "FIELDS", "SPLITS", "VERIFY_MODES"]
