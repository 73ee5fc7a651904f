"""The training configuration: one typed dataclass, named presets, validation.

A run is described by a ``TrainConfig``. Presets are plain dicts of field
overrides (data, not code), so a preset, a YAML/JSON file and ``key=value``
pairs from the command line all go through the same path::

    config = resolve_config(preset="paper", file="my.yaml", overrides=["epochs=5"])

The hyperparameters of the ``"paper"`` preset, and where each comes from, are
listed in ``docs/training.md``.
"""

import dataclasses
import difflib
import json
import math
import os
import re
import reprlib

from keras_inception._extras import require

yaml = require("yaml")

PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
OPTIMIZERS = ("rmsprop", "sgd", "adam")
DISTRIBUTIONS = ("auto", "default", "one_device", "mirrored", "multi_worker", "tpu")
LOOPS = ("auto", "fit", "custom")
TFLITE_MODES = ("float32", "float16", "dynamic", "int8")

# Settings chosen from the data or the hardware when set to this.
AUTO = "auto"

# Szegedy et al. 2016 (Inception-v3, Sec. 8) train with batch 32 per replica and
# asynchronous updates, so each update the learning rate 0.045 applies to sees
# 32 images; the learning rate is scaled linearly from that batch.
PAPER_REFERENCE_BATCH = 32


@dataclasses.dataclass
class TrainConfig:
    """Everything one training run needs; defaults are the papers' recipe.

    Attributes:
        model: registry name of the network, default ``"inception_v3"``.
        data: dataset source for ``keras_inception.data.build_dataset``: an
            image directory, ``"tfds:NAME"``, TFRecords, or ``"digits"`` (the
            embedded default).
        image_size: square input size in pixels; ``None`` (default) uses the
            network's default size (``input_resolution`` when that is set).
        input_resolution: Inception-v3's stem for the receptive field 299, 151
            or 79 of its paper's Sec. 9 (``InceptionV3(input_resolution=...)``),
            for small images trained near their own size; ``None`` (default)
            builds the network's standard stem.
        depth_multiplier: TF-slim width multiplier, default 1.0.
        aux_logits: train with the auxiliary head(s), default False.
        dropout_rate: dropout before the classifier, default 0.2.
        bn_momentum: momentum of every BatchNormalization's moving averages;
            ``None`` (default) keeps the builder's (Keras's 0.99). Runs of a
            few hundred steps need a faster average (0.9) for the moving
            statistics to catch up with the weights.
        weights: initial weights passed to the builder (``None``, the
            default, for random init; ``"imagenet"``; a path).
        include_preprocessing: build the model to take 0-255 pixels, default False.
        epochs: epochs of training (the head-only phase when fine-tuning), default 100.
        batch_size: global batch size over all replicas, default 32.
        steps_per_epoch: cap on steps per epoch; ``None`` (default) is one pass.
        validation_split: held-out fraction for sources without a validation
            split; ``"auto"`` (default) chooses from the number of images per
            class (``keras_inception.data.auto``).
        augment: augmentation recipe of the data pipeline (``"inception"``,
            ``"fast"``, ``"mild"``, ``"light"``, ``"none"``); ``"auto"``
            (default) chooses from the images' size and colour and the
            run's length.
        color_in_model: apply the training colour distortion in the model's
            step (``data.ColorDistortion``, batch ops on the device) instead of
            in the input pipeline on the host's CPU; ``"auto"`` (default) does
            so when a GPU or TPU is present and the ``augment`` recipe has
            colour. The saved models never hold the layer.
        central_fraction: central crop of the evaluation images; ``"auto"``
            (default) chooses from the images' size (0.875 for images at least
            the input size, else 1.0). The run's ``config.json`` records the
            value used, for the export.
        seed: seed of the data split, shuffling and initialization, default 1337.
        optimizer: ``"rmsprop"`` (default, Inception-v3/v4), ``"sgd"`` with
            momentum (GoogLeNet, BN-Inception) or ``"adam"`` (Kingma & Ba 2015,
            Keras' defaults for its betas and epsilon; the ``quick`` preset's
            short runs from scratch).
        learning_rate: learning rate at ``reference_batch_size``, default 0.045.
        reference_batch_size: batch at which ``learning_rate`` applies; the
            rate is scaled by ``batch_size / reference_batch_size``. Default 32.
        momentum: momentum of RMSProp/SGD, default 0.9.
        rho: RMSProp decay of the squared-gradient average, default 0.9.
        epsilon: RMSProp epsilon, default 1.0 (Adam keeps Keras' 1e-7).
        lr_decay_rate: multiplicative decay, default 0.94.
        lr_decay_epochs: epochs between decays, default 2.0.
        lr_staircase: decay in steps (True, default) or continuously.
        warmup_epochs: linear warm-up length in epochs, default 0.0 (none).
        clipnorm: gradient clipping threshold (global norm), default 2.0;
            ``None`` disables clipping.
        label_smoothing: label smoothing, default 0.1.
        weight_decay: L2 weight decay on conv/dense kernels in TF-slim's
            convention (``wd * sum(w**2) / 2``), default 4e-5.
        aux_loss_weight: weight of each auxiliary loss; ``None`` (default)
            takes the registry's (GoogLeNet 0.3, others 0.4).
        use_ema: evaluate and save the exponential moving average of the
            weights, default False.
        ema_momentum: EMA decay, default 0.9999.
        finetune: transfer learning: a new head on a frozen backbone whose
            BatchNormalization stays in inference mode. Default False.
        unfreeze_top_blocks: when fine-tuning, the number of top Inception
            blocks unfrozen in a second phase, default 0 (no second phase).
        finetune_epochs: epochs of the second phase, default 0.
        finetune_lr_scale: learning-rate factor of the second phase, default 0.1.
        precision: ``"auto"`` (default: ``keras_inception.precision``'s rule,
            mixed bfloat16 where there are bf16 matrix units), ``"float32"``,
            ``"mixed_bfloat16"`` (CPUs with AMX, TPUs, recent GPUs) or
            ``"mixed_float16"`` (older GPUs, with loss scaling).
        jit_compile: compile the train step with XLA, default False.
        steps_per_execution: train steps per ``tf.function`` call, default 1.
        distribution: ``"auto"`` (default: multi-worker when ``TF_CONFIG``
            names several workers, mirrored on several GPUs, else the default
            strategy), ``"default"``, ``"one_device"``, ``"mirrored"``,
            ``"multi_worker"`` or ``"tpu"``.
        devices: devices for ``one_device``/``mirrored``, default ``()`` (all).
        tpu: TPU name or address for ``distribution="tpu"``, default ``""``.
        loop: ``"fit"`` (``model.fit``), ``"custom"`` (the distributed custom
            loop) or ``"auto"`` (default: custom under multi-worker only).
        run_dir: run directory; ``None`` (default) is ``runs/<model>_<data>``.
        save_freq: backup frequency, ``"epoch"`` (default) or a step count.
        resume: resume an interrupted run found in ``run_dir``, default True.
        export: export SavedModel and TFLite after training, default True.
        export_dir: base directory of the exports, default ``"saved_models"``.
        tflite_mode: TFLite mode, default ``"float32"``.
        verbose: Keras verbosity (0 silent, 1 progress bars, 2 one line per
            epoch), default 1.
    """

    model: str = "inception_v3"
    data: str = "digits"
    image_size: int = None
    input_resolution: int = None
    depth_multiplier: float = 1.0
    aux_logits: bool = False
    dropout_rate: float = 0.2
    bn_momentum: float = None
    weights: str = None
    include_preprocessing: bool = False
    epochs: int = 100
    batch_size: int = 32
    steps_per_epoch: int = None
    validation_split: float = "auto"
    augment: str = "auto"
    color_in_model: bool = "auto"
    central_fraction: float = "auto"
    seed: int = 1337
    optimizer: str = "rmsprop"
    learning_rate: float = 0.045
    reference_batch_size: int = PAPER_REFERENCE_BATCH
    momentum: float = 0.9
    rho: float = 0.9
    epsilon: float = 1.0
    lr_decay_rate: float = 0.94
    lr_decay_epochs: float = 2.0
    lr_staircase: bool = True
    warmup_epochs: float = 0.0
    clipnorm: float = 2.0
    label_smoothing: float = 0.1
    weight_decay: float = 4e-5
    aux_loss_weight: float = None
    use_ema: bool = False
    ema_momentum: float = 0.9999
    finetune: bool = False
    unfreeze_top_blocks: int = 0
    finetune_epochs: int = 0
    finetune_lr_scale: float = 0.1
    precision: str = "auto"
    jit_compile: bool = False
    steps_per_execution: int = 1
    distribution: str = "auto"
    devices: tuple = ()
    tpu: str = ""
    loop: str = "auto"
    run_dir: str = None
    save_freq: object = "epoch"
    resume: bool = True
    export: bool = True
    export_dir: str = "saved_models"
    tflite_mode: str = "float32"
    verbose: int = 1

    def replace(self, **changes):
        """A copy with some fields changed (unknown names raise ``ValueError``)."""
        _check_keys(changes)
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        """The config as JSON-ready data."""
        data = dataclasses.asdict(self)
        data["devices"] = list(self.devices)
        return data

    def data_config(self, split, **fields):
        """The ``data.DataConfig`` of this run's ``split``, derived from its data fields.

        ``data`` is the source; ``image_size``, ``batch_size``,
        ``validation_split``, ``seed`` and (training split) ``augment`` or
        (validation split) ``central_fraction`` carry over, ``"auto"`` read as
        the pipeline's default (a run resolves them from the data first);
        ``include_preprocessing`` sets ``scale``.

        Args:
            split: ``"train"`` or ``"validation"``.
            **fields: further ``DataConfig`` fields (``class_names``,
                ``min_size``, ...), which take precedence.

        Returns:
            A validated ``DataConfig``.
        """
        from keras_inception.data.config import DataConfig

        def value(name):
            setting = getattr(self, name)
            return None if setting == AUTO else setting

        derived = {
            "split": split,
            "validation_split": value("validation_split"),
            "seed": self.seed,
            "scale": not self.include_preprocessing,
        }
        if split == "train":
            derived["augment"] = value("augment")
            derived["color_in_model"] = bool(value("color_in_model"))
        else:
            derived["central_fraction"] = value("central_fraction")
        derived.update(fields)
        return DataConfig(
            self.data, image_size=self.image_size, batch_size=self.batch_size, **derived
        ).validate()

    def resolved_run_dir(self):
        """``run_dir``, or ``runs/<model>_<data tag>`` when it is unset."""
        if self.run_dir:
            return self.run_dir
        return os.path.join("runs", f"{self.model}_{data_tag(self.data)}")

    def validate(self, num_replicas=1):
        """Raises ``ValueError`` for any value a run cannot use.

        Args:
            num_replicas: replicas the global batch is split over, default 1.

        Returns:
            The config itself, so calls can be chained.
        """
        from keras_inception import registry
        from keras_inception.data import config as data_config

        _check_type(self)
        _require(
            self.model in registry.list_models(),
            "model",
            self.model,
            f"must be a registered network ({', '.join(registry.list_models())})",
        )
        spec = registry.get_spec(self.model)
        _require(bool(self.data), "data", self.data, "must name a dataset source")
        resolutions = tuple(spec.input_resolutions)
        _require(
            self.input_resolution is None or self.input_resolution in resolutions,
            "input_resolution",
            self.input_resolution,
            f"must be None or one of {resolutions} for {self.model}"
            if resolutions
            else f"must be None: {self.model} has one stem",
        )
        spec = spec.at_resolution(self.input_resolution)
        if self.image_size is not None:
            _require(
                self.image_size >= spec.min_size,
                "image_size",
                self.image_size,
                f"must be at least {spec.min_size} for {self.model}",
            )
        _require(
            self.depth_multiplier > 0, "depth_multiplier", self.depth_multiplier, "must be positive"
        )
        _require(0 <= self.dropout_rate < 1, "dropout_rate", self.dropout_rate, "must be in [0, 1)")
        if self.bn_momentum is not None:
            _require(
                0 <= self.bn_momentum < 1,
                "bn_momentum",
                self.bn_momentum,
                "must be in [0, 1) or None",
            )
        for name in ("epochs", "batch_size", "reference_batch_size", "steps_per_execution"):
            _require(getattr(self, name) >= 1, name, getattr(self, name), "must be at least 1")
        if self.steps_per_epoch is not None:
            _require(
                self.steps_per_epoch >= 1,
                "steps_per_epoch",
                self.steps_per_epoch,
                "must be at least 1 or None",
            )
        # The data fields follow the pipeline's rules (data.config), "auto" aside.
        data_config.check_central_fraction(self.central_fraction, also=(AUTO,))
        if self.validation_split not in (None, AUTO):
            # Stricter than the pipeline's [0, 1): a run needs a held-out set.
            _require(
                0 < self.validation_split < 1,
                "validation_split",
                self.validation_split,
                "must be in (0, 1) or 'auto'",
            )
        data_config.check_augment(self.augment, also=(AUTO,))
        _require_choice(self, "optimizer", OPTIMIZERS)
        _require(self.learning_rate > 0, "learning_rate", self.learning_rate, "must be positive")
        _require(0 <= self.momentum < 1, "momentum", self.momentum, "must be in [0, 1)")
        _require(0 < self.rho < 1, "rho", self.rho, "must be in (0, 1)")
        _require(self.epsilon > 0, "epsilon", self.epsilon, "must be positive")
        _require(
            0 < self.lr_decay_rate <= 1, "lr_decay_rate", self.lr_decay_rate, "must be in (0, 1]"
        )
        _require(
            self.lr_decay_epochs > 0, "lr_decay_epochs", self.lr_decay_epochs, "must be positive"
        )
        _require(
            self.warmup_epochs >= 0, "warmup_epochs", self.warmup_epochs, "must be non-negative"
        )
        if self.clipnorm is not None:
            _require(self.clipnorm > 0, "clipnorm", self.clipnorm, "must be positive or None")
        _require(
            0 <= self.label_smoothing < 1,
            "label_smoothing",
            self.label_smoothing,
            "must be in [0, 1)",
        )
        _require(self.weight_decay >= 0, "weight_decay", self.weight_decay, "must be non-negative")
        if self.aux_loss_weight is not None:
            _require(
                self.aux_loss_weight >= 0,
                "aux_loss_weight",
                self.aux_loss_weight,
                "must be non-negative or None",
            )
        _require(0 <= self.ema_momentum < 1, "ema_momentum", self.ema_momentum, "must be in [0, 1)")
        _require(
            self.unfreeze_top_blocks >= 0,
            "unfreeze_top_blocks",
            self.unfreeze_top_blocks,
            "must be non-negative",
        )
        _require(
            self.finetune_epochs >= 0,
            "finetune_epochs",
            self.finetune_epochs,
            "must be non-negative",
        )
        _require(
            self.finetune_lr_scale > 0,
            "finetune_lr_scale",
            self.finetune_lr_scale,
            "must be positive",
        )
        if self.finetune:
            _require(
                not self.aux_logits,
                "aux_logits",
                self.aux_logits,
                "must be False when fine-tuning (the new head has no auxiliary branch)",
            )
        else:
            _require(
                self.finetune_epochs == 0,
                "finetune_epochs",
                self.finetune_epochs,
                "needs finetune=True",
            )
        _require_choice(self, "precision", PRECISIONS)
        _require_choice(self, "distribution", DISTRIBUTIONS)
        _require_choice(self, "loop", LOOPS)
        _require_choice(self, "tflite_mode", TFLITE_MODES)
        if self.distribution == "tpu":
            _require(
                self.precision != "mixed_float16",
                "precision",
                self.precision,
                "is not supported on TPU; use mixed_bfloat16",
            )
        if self.save_freq != "epoch":
            _require(
                isinstance(self.save_freq, int)
                and not isinstance(self.save_freq, bool)
                and self.save_freq >= 1,
                "save_freq",
                self.save_freq,
                "must be 'epoch' or a positive step count",
            )
        _require(self.verbose in (0, 1, 2), "verbose", self.verbose, "must be 0, 1 or 2")
        _require(
            all(isinstance(d, str) for d in self.devices),
            "devices",
            self.devices,
            "must be a list of device names",
        )
        if self.batch_size % num_replicas:
            raise ValueError(
                f"The global batch_size must be divisible by the {num_replicas} "
                f"replicas in sync. Received: batch_size={self.batch_size}"
            )
        return self


# Presets: overrides of the defaults above. The defaults already are the
# Inception-v3/v4 papers' recipe, so "paper" is empty on purpose.
PRESETS = {
    # Szegedy et al. 2016 / 2017: RMSProp, lr 0.045 x0.94 every 2 epochs,
    # clipping 2.0, label smoothing 0.1, aux weight 0.4, 100 epochs.
    "paper": {},
    # The main job and short runs from scratch on a user's folder: a thin
    # InceptionV3 at its minimum input size, Adam with the paper's clipping,
    # label smoothing and weight decay, a schedule compressed to 12 epochs and
    # BN statistics that follow the weights within an epoch, so a run on the
    # embedded digits takes minutes on 2 CPU cores. The paper's RMSProp at
    # 0.045 (tuned for 100 epochs on ImageNet) stayed at chance on small
    # colour images in 12 epochs (measurements in docs/training.md).
    "quick": {
        "image_size": 75,
        "depth_multiplier": 0.5,
        "epochs": 12,
        "batch_size": 32,
        "optimizer": "adam",
        "learning_rate": 0.002,
        "lr_decay_rate": 0.8,
        "lr_decay_epochs": 1.0,
        "warmup_epochs": 0.3,
        "bn_momentum": 0.9,
    },
    # Transfer learning: ImageNet weights, new head on the frozen backbone, then
    # the top two blocks unfrozen at a tenth of the learning rate.
    "finetune": {
        "weights": "imagenet",
        "finetune": True,
        "epochs": 5,
        "unfreeze_top_blocks": 2,
        "finetune_epochs": 5,
        "finetune_lr_scale": 0.1,
        "optimizer": "sgd",
        "learning_rate": 0.01,
        "lr_decay_rate": 1.0,
        "label_smoothing": 0.1,
        "dropout_rate": 0.2,
    },
    # A few steps of a very thin network: checks that a setup works end to end.
    "smoke": {
        "image_size": 75,
        "depth_multiplier": 0.1,
        "epochs": 1,
        "steps_per_epoch": 4,
        "batch_size": 8,
        "learning_rate": 0.01,
        "export": False,
    },
}


def get_preset(name):
    """The ``TrainConfig`` of a named preset."""
    return TrainConfig().replace(**_preset_overrides(name))


def _preset_overrides(name):
    if name not in PRESETS:
        raise ValueError(
            f"Unknown preset. Available presets: {', '.join(sorted(PRESETS))}. "
            f"Received: preset={name!r}"
        )
    return dict(PRESETS[name])


# A config file is a few dozen lines; anything much larger is not one.
MAX_CONFIG_BYTES = 1 << 20


def load_config_file(path):
    """Field overrides from a YAML or JSON file (a mapping of field to value).

    Raises:
        ValueError: the file is not a mapping of known fields, is larger than
            ``MAX_CONFIG_BYTES``, or does not parse; the message names the file
            and, for syntax errors, the line.
    """
    with open(path, "rb") as f:
        raw = f.read(MAX_CONFIG_BYTES + 1)
    if len(raw) > MAX_CONFIG_BYTES:
        raise ValueError(
            f"Config file {path!r} is larger than {MAX_CONFIG_BYTES} bytes; "
            f"is it a config file? Received: path={path!r}"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"Config file {path!r} is not UTF-8 text (byte {error.start}). Received: path={path!r}"
        ) from None
    data = _parse_json(text, path) if path.endswith(".json") else _parse_yaml(text, path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(
            f"A config file must hold a mapping of field names to values. Received: path={path!r}"
        )
    _check_keys(data)
    return {key: _read_number(key, value) for key, value in data.items()}


def _parse_json(text, path):
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"Config file {path!r}, line {error.lineno}: {error.msg}. Received: path={path!r}"
        ) from None
    except ValueError as error:
        raise ValueError(f"Config file {path!r}: {error}. Received: path={path!r}") from None
    except RecursionError:
        raise ValueError(
            f"Config file {path!r} is nested too deeply. Received: path={path!r}"
        ) from None


def _reject_constant(name):
    raise ValueError(f"non-finite number {name} in a config file")


def _parse_yaml(text, path):
    # safe_load builds plain scalars, lists and dicts only: a `!!python/...`
    # tag is a ConstructorError, reported here like a syntax error.
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ValueError(
            f"Config file {path!r}{where}: {problem}. Received: path={path!r}"
        ) from None
    except RecursionError:
        raise ValueError(
            f"Config file {path!r} is nested too deeply. Received: path={path!r}"
        ) from None


# Numbers as people write them: YAML 1.1 reads `1e-3` (no dot) as a string.
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _read_number(name, value):
    """``value`` as a number when ``name`` is a numeric field and it is written as one."""
    if name in _FLOAT_FIELDS | _INT_FIELDS and isinstance(value, str):
        text = value.strip().replace("_", "")
        if _NUMBER.match(text):
            number = float(text)
            if name in _INT_FIELDS and number.is_integer() and not re.search(r"[.eE]", text):
                return int(text)
            return number
    return value


def parse_overrides(pairs):
    """``["epochs=5", "use_ema=true"]`` -> ``{"epochs": 5, "use_ema": True}``.

    Values are read as YAML scalars, so numbers, booleans, ``null`` and lists
    (``devices=[/cpu:0,/cpu:1]``) keep their type; numbers are read as written
    (``learning_rate=1e-3`` is a float). An empty value (``epochs=``) is an
    error, not ``null``.
    """
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"Overrides must look like key=value. Received: {_short(pair)}")
        if not value.strip():
            raise ValueError(
                f"`{_key(key)}` needs a value after '='; write {_key(key)}=null to unset an "
                f"optional field. Received: {_short(pair)}"
            )
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError as error:
            problem = getattr(error, "problem", None) or "not a valid value"
            raise ValueError(f"`{_key(key)}`: {problem}. Received: {_short(pair)}") from None
        except RecursionError:
            raise ValueError(
                f"`{_key(key)}`: nested too deeply. Received: {_short(pair)}"
            ) from None
        _check_keys({key: parsed})
        overrides[key] = _read_number(key, parsed)
    return overrides


def resolve_config(preset="paper", file=None, overrides=(), **fields):
    """Preset, then file, then ``key=value`` overrides, then keyword fields.

    Args:
        preset: preset name, default ``"paper"``.
        file: optional YAML/JSON file of overrides, default None.
        overrides: ``key=value`` strings, default ``()``.
        **fields: final overrides as Python values (the CLI's named flags).

    Returns:
        A ``TrainConfig`` with values coerced to the fields' types (not yet
        validated: call ``validate``).
    """
    data = _preset_overrides(preset)
    if file:
        data.update(load_config_file(file))
    data.update(parse_overrides(overrides))
    data.update({k: v for k, v in fields.items() if v is not None})
    _check_keys(data)
    return TrainConfig(**{k: _coerce(k, v) for k, v in data.items()})


def data_tag(source):
    """A short, file-name-safe tag for a dataset source (``"tfds:mnist"`` -> ``"mnist"``)."""
    tail = source.split(":", 1)[-1].rstrip("/\\")
    tail = os.path.splitext(os.path.basename(tail))[0] or "data"
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", tail)


_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}
_FLOAT_FIELDS = {n for n, f in _FIELDS.items() if f.type is float}
_INT_FIELDS = {n for n, f in _FIELDS.items() if f.type is int}
# Fields whose default is None, and clipnorm (null: no clipping), take null; the
# others need a value of their type.
_OPTIONAL_FIELDS = {n for n, f in _FIELDS.items() if f.default is None} | {"clipnorm"}
_AUTO_FIELDS = {n for n, f in _FIELDS.items() if f.default == AUTO}


def _coerce(name, value):
    """Lets integers stand for floats and lists for tuples, as YAML writes them."""
    if name in _FLOAT_FIELDS and isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    if name == "devices" and isinstance(value, (list, str)):
        return tuple([value] if isinstance(value, str) else value)
    return value


def _check_keys(data):
    unknown = [k for k in data if k not in _FIELDS]
    if unknown:
        hints = {
            k: difflib.get_close_matches(k, _FIELDS, n=1) if isinstance(k, str) else []
            for k in unknown
        }
        hint = "; ".join(f"did you mean {v[0]!r} for {k!r}?" for k, v in hints.items() if v)
        raise ValueError(
            f"Unknown config field(s) {_short(unknown)}. {hint + ' ' if hint else ''}"
            f"Received: {', '.join(f'{_key(k)}={_short(data[k])}' for k in unknown)}"
        )


def _check_type(config):
    for name, field in _FIELDS.items():
        value = getattr(config, name)
        if field.type is object:
            continue
        if name in _AUTO_FIELDS and (value is None or value == AUTO):
            continue
        if value is None:
            if name not in _OPTIONAL_FIELDS:
                raise ValueError(
                    f"`{name}` cannot be null: it takes {_TYPE_WORDS[field.type]} "
                    f"(default {field.default!r}). Received: {name}=None"
                )
            continue
        expected = field.type
        ok = isinstance(value, expected) and not (
            expected in (int, float) and isinstance(value, bool)
        )
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            raise ValueError(
                f"`{name}` must be of type {expected.__name__}. Received: {name}={_short(value)}"
            )
        if expected is float and not math.isfinite(value):
            raise ValueError(f"`{name}` must be a finite number. Received: {name}={value!r}")


_TYPE_WORDS = {
    int: "an integer",
    float: "a number",
    str: "a string",
    bool: "true or false",
    tuple: "a list",
}


def _key(key):
    """A field name as typed, or its bounded repr when it is not a plain name."""
    return key if isinstance(key, str) and key.isidentifier() and len(key) <= 80 else _short(key)


def _short(value):
    """``repr(value)`` cut to one short line, however large or nested ``value`` is."""
    return _REPR.repr(value)


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 80
_REPR.maxlevel = 3


def _require(condition, name, value, message):
    if not condition:
        raise ValueError(f"`{name}` {message}. Received: {name}={_short(value)}")


def _require_choice(config, name, choices):
    value = getattr(config, name)
    _require(value in choices, name, value, f"must be one of {choices}")
