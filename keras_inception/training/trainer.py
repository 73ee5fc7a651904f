"""``train(config)``: one call from a config to a trained, evaluated, exported model.

Every run writes its run directory::

    <run>/config.json        the resolved config (loadable with --config)
    <run>/class_names.json   label i -> class name
    <run>/backup/            the last two backups while the run is incomplete
    <run>/best.keras         the epoch with the best validation top-1
    <run>/last.keras         the latest epoch
    <run>/history.csv        one row per epoch
    <run>/tensorboard/       TensorBoard logs
    <run>/curves.png         loss and accuracy curves
    <run>/summary.json       final metrics, timings, exports; its ``state`` is
                             ``"trained"`` until the exports are written, then
                             ``"complete"``

Every file is published atomically (``checkpoints.publish_file``). Running the
same command again after an interruption (SIGKILL included) resumes from the
last backup, repeating at most the interrupted epoch (or the steps since the
last ``save_freq`` backup); after a kill once training finished (a
``"trained"`` summary) it only redoes the curves, the backup removal and the
exports.
"""

import dataclasses
import json
import os
import secrets
import shutil
import time

import keras
import numpy as np
import tensorflow as tf

from keras_inception import atomic
from keras_inception import data
from keras_inception import export
from keras_inception import faults
from keras_inception import precision as precision_lib
from keras_inception import registry
from keras_inception.data import auto as data_auto
from keras_inception.export.saved_model import STAGING_PREFIX
from keras_inception.training import checkpoints
from keras_inception.training import config as config_lib
from keras_inception.training import distribute
from keras_inception.training import plots
from keras_inception.training import recipe
from keras_inception.training.loop import CustomLoop

# Fields whose change makes a backup unusable (another graph or optimizer).
_STRUCTURAL_FIELDS = (
    "model",
    "data",
    "image_size",
    "input_resolution",
    "depth_multiplier",
    "aux_logits",
    "weights",
    "include_preprocessing",
    "finetune",
    "unfreeze_top_blocks",
    "optimizer",
    "use_ema",
)


# The run directory's files, removed when a run starts afresh.
# summary.json first: a kill in between must not leave a "trained" summary.
_OUTPUTS = (
    "summary.json",
    "backup",
    "class_names.json",
    "best.keras",
    "last.keras",
    "history.csv",
    "tensorboard",
    "curves.png",
)

# TF-slim's evaluation crop, recorded for runs on the caller's own datasets.
_SLIM_EVAL_CROP = 0.875


@dataclasses.dataclass
class TrainResult:
    """What ``train`` returns (``summary.json`` holds the same, minus the model).

    Attributes:
        run_dir: the run directory.
        metrics: final validation metrics of the main head
            (``loss``, ``accuracy``, and ``top5`` above 5 classes).
        best: ``{"epoch": ..., "accuracy": ...}`` of the best epoch.
        history: ``{metric: [value per epoch]}`` of the whole run.
        initial_epoch: epoch this invocation started at (> 0 when resumed).
        class_names: the class names.
        summary: the ``summary.json`` content.
        model: the trained ``keras.Model``.
    """

    run_dir: str
    metrics: dict
    best: dict
    history: dict
    initial_epoch: int
    class_names: list
    summary: dict
    model: object = dataclasses.field(default=None, repr=False)


def train(config, *, datasets=None, callbacks=()):
    """Trains, evaluates and (optionally) exports a network as ``config`` says.

    Args:
        config: a ``TrainConfig``.
        datasets: optional ``(train, validation, class_names)`` to use instead
            of ``config.data``: ``tf.data`` datasets of ``(images, int labels)``
            batched at ``config.batch_size``; or a function returning that
            triple, called once the strategy exists (required under
            multi-worker, where no TensorFlow op may run before the
            strategy is created). Default None.
        callbacks: extra Keras callbacks (e.g. ``EarlyStopping``), run on
            every worker after the run directory's own. Default ``()``.

    Returns:
        A ``TrainResult``.
    """
    config.validate()
    # A multi-worker strategy must exist before any other TensorFlow op runs.
    strategy = distribute.get_strategy(config.distribution, config.devices, config.tpu)
    config.validate(strategy.num_replicas_in_sync)
    policy = keras.config.dtype_policy()
    keras.utils.set_random_seed(config.seed)
    chosen, reason = precision_lib.resolve(config.precision)
    choices = {
        "precision": data_auto.Choice(
            chosen,
            reason,
            "--set precision=" + "|".join(precision_lib.PRECISIONS),
        )
    }
    keras.config.set_dtype_policy(chosen)
    try:
        return _Run(
            config.replace(precision=chosen), strategy, datasets, callbacks, choices
        ).execute()
    finally:
        keras.config.set_dtype_policy(policy)


class _Run:
    """One invocation of ``train``: the run directory, the phases, the outputs."""

    def __init__(self, config, strategy, datasets, callbacks, choices):
        spec = registry.get_spec(config.model).at_resolution(config.input_resolution)
        # Neither the input size nor the stem set: the stem is chosen from the data.
        self.stem_open = config.image_size is None and config.input_resolution is None
        self.config = config.replace(
            image_size=config.image_size or spec.default_size,
            run_dir=config.resolved_run_dir(),
        )
        self.strategy = strategy
        self.multi_worker = distribute.is_multi_worker(strategy)
        self.chief = distribute.is_chief(strategy)
        self.loop = (
            config.loop if config.loop != "auto" else ("custom" if self.multi_worker else "fit")
        )
        if self.multi_worker and self.loop == "fit":
            raise ValueError(
                "model.fit cannot run under MultiWorkerMirroredStrategy with this "
                "Keras/TensorFlow (PerReplica conversion error); use loop='custom' "
                "or 'auto'. Received: loop='fit'"
            )
        self.run_dir = self.config.run_dir
        data_dir = os.path.realpath(config.data) if os.path.isdir(config.data) else None
        run_dir = os.path.realpath(self.run_dir)
        if data_dir and os.path.commonpath([data_dir, run_dir]) == data_dir:
            raise ValueError(
                "The run directory must not be inside the dataset folder: the run's "
                "files would become training data. Pass another --run-dir. "
                f"Received: run_dir={self.run_dir!r}, data={config.data!r}"
            )
        self.paths = {
            name: os.path.join(self.run_dir, name)
            for name in (
                "config.json",
                "class_names.json",
                "backup",
                "best.keras",
                "last.keras",
                "history.csv",
                "tensorboard",
                "curves.png",
                "summary.json",
            )
        }
        self.datasets = datasets
        self.color_in_model = None
        self.network = None
        # Settings chosen for the user ("auto"): {name: data_auto.Choice}.
        self.choices = dict(choices)
        self.profile = None
        self.skipped = {"count": 0, "log": None}
        self.user_callbacks = list(callbacks)
        self.history = {}

    def execute(self):
        start = time.time()
        self.resuming = self._prepare_run_dir()
        if self.trained is not None:
            return self._finish_trained_run()
        self._require_weights()
        train_ds, val_ds, class_names, counts = self._datasets()
        num_classes = len(class_names)
        steps = self.config.steps_per_epoch or counts["steps"]
        with self.strategy.scope():
            model, backbone = recipe.build_model(self.config, num_classes)
            recipe.apply_weight_decay(model, self.config.weight_decay)
            # What the checkpoints save; ``model`` is what trains, the network
            # behind the colour distortion when it runs in the step.
            self.network = model
            if self.color_in_model:
                model = recipe.with_color_distortion(
                    model,
                    self.color_in_model,
                    scale=not self.config.include_preprocessing,
                    seed=self.config.seed,
                )
        names = recipe.output_names(model)
        train_ds = _with_targets(train_ds, names, num_classes).repeat()
        val_ds = _with_targets(val_ds, names, num_classes)
        if self.chief:
            data.save_class_names(self.paths["class_names.json"], class_names)

        meter = _ThroughputMeter(self.config.batch_size)
        started = []
        for phase, end_epoch, lr_scale in self._phases():
            with self.strategy.scope():
                if phase == "finetune":
                    recipe.unfreeze_top_blocks(backbone, self.config.unfreeze_top_blocks)
                recipe.compile_model(
                    model,
                    self.config,
                    num_classes=num_classes,
                    steps_per_epoch=steps,
                    num_replicas=self.strategy.num_replicas_in_sync,
                    lr_scale=lr_scale,
                )
            done = os.path.join(self.paths["backup"], _done_file(phase))
            if os.path.exists(done):
                _load_arrays(model, done)
                continue
            started.append(
                self._fit_phase(
                    model,
                    phase,
                    train_ds,
                    val_ds,
                    steps,
                    end_epoch,
                    num_classes,
                    meter,
                )
            )
            if self.chief and phase != self._phases()[-1][0]:
                _save_arrays(model, done)
            faults.point("train.phase_done")

        metrics = self._evaluate(model, val_ds, num_classes)
        faults.point("train.evaluated")
        return self._finish(
            self.network,
            metrics,
            class_names,
            counts,
            started[0],
            self.resuming,
            meter,
            time.time() - start,
        )

    def _phases(self):
        """``[(name, end_epoch, lr_scale)]``: training, then optional unfrozen fine-tuning."""
        phases = [("train", self.config.epochs, 1.0)]
        if self.config.finetune and self.config.unfreeze_top_blocks and self.config.finetune_epochs:
            phases.append(
                (
                    "finetune",
                    self.config.epochs + self.config.finetune_epochs,
                    self.config.finetune_lr_scale,
                )
            )
        return phases

    def _prepare_run_dir(self):
        """Checks a backup against the config; clears a finished run's outputs.

        Returns whether this invocation resumes an interrupted run, and sets
        ``self.trained`` to the summary of a run killed after its training
        finished (state ``"trained"``), whose rerun only redoes what follows.
        """
        backup = self.paths["backup"]
        summary = checkpoints.read_json(self.paths["summary.json"]) if self.config.resume else None
        self.trained = (
            summary
            if (
                isinstance(summary, dict)
                and summary.get("state") == "trained"
                and summary.get("epochs") == self._phases()[-1][1]
            )
            else None
        )
        resuming = self.config.resume and (self.trained is not None or _has_backup(backup))
        if resuming:
            previous = checkpoints.read_json(self.paths["config.json"]) or {}
            if self.stem_open and previous.get("input_resolution") is not None:
                # The stem the interrupted run chose from the same data.
                self.config = self.config.replace(
                    input_resolution=previous["input_resolution"],
                    image_size=previous.get("image_size", self.config.image_size),
                )
            changed = [
                f
                for f in _STRUCTURAL_FIELDS
                if f in previous and previous[f] != self.config.to_dict()[f]
            ]
            if changed:
                raise ValueError(
                    f"{self.run_dir} holds an interrupted run with other settings; "
                    "resume it with its own config, or pass another run_dir or "
                    "resume=false. Received: "
                    + ", ".join(f"{f}={getattr(self.config, f)!r}" for f in changed)
                )
            if self.config.central_fraction is None and previous.get("central_fraction"):
                # The crop recorded by the interrupted run, which its exports serve with.
                self.config = self.config.replace(central_fraction=previous["central_fraction"])
        if self.chief:
            if not resuming:
                for name in _OUTPUTS:
                    _remove(self.paths[name])
            os.makedirs(self.run_dir, exist_ok=True)
            checkpoints.remove_stale_files(self.run_dir, list(self.paths))
            for phase, _, _ in self._phases():
                checkpoints.remove_stale_backup_files(os.path.join(backup, phase))
                checkpoints.remove_stale_files(backup, [_done_file(phase)])
            if self.trained is None:
                # (A trained run's config.json holds the settings resolved from its data.)
                checkpoints.write_json(self.paths["config.json"], self.config.to_dict())
        return resuming

    def _datasets(self):
        config = self.config
        if self.datasets is not None:
            made = self.datasets() if callable(self.datasets) else self.datasets
            train_ds, val_ds, class_names = made
            steps = int(train_ds.cardinality())
            if steps < 1 and not config.steps_per_epoch:
                raise ValueError(
                    "The training dataset's length is unknown; set steps_per_epoch. "
                    f"Received: steps_per_epoch={config.steps_per_epoch!r}"
                )
            counts = {"train": steps * config.batch_size, "validation": None, "steps": steps}
            if config.color_in_model == config_lib.AUTO:
                # The caller's datasets carry their own augmentation.
                self.config = config = config.replace(color_in_model=False)
            if config.central_fraction in (None, config_lib.AUTO):
                self.choices["central_fraction"] = data_auto.Choice(
                    _SLIM_EVAL_CROP,
                    "datasets given by the caller: TF-slim's crop recorded for the export",
                    "--set central_fraction=F",
                )
            self._record_choices()
            return train_ds, val_ds, list(class_names), counts
        self._choose_from_data()
        config = self.config
        common = dict(
            min_size=registry.get_spec(config.model)
            .at_resolution(config.input_resolution)
            .min_size,
            skipped_log_dir=self.run_dir if self.chief else None,
        )
        train_ds, train_info = data.build_dataset(config.data_config("train", **common))
        val_ds, val_info = data.build_dataset(
            config.data_config("validation", class_names=train_info.class_names, **common)
        )
        self.skipped = {"count": train_info.num_skipped, "log": train_info.skipped_log}
        # The colour distortion the pipeline left to the model's step, or None.
        self.color_in_model = train_info.color_in_model
        counts = {
            "train": train_info.num_examples,
            "validation": val_info.num_examples,
            "steps": train_info.steps_per_epoch,
        }
        if config.steps_per_epoch is None:
            steps = data_auto.choose_steps(
                train_info.steps_per_epoch,
                epochs=self._phases()[-1][1],
                batch_size=config.batch_size,
                num_examples=train_info.num_examples,
            )
            if steps is not None:
                self.choices["steps_per_epoch"] = steps
                self._record_choices()
        if train_info.label_format == "one_hot":
            train_ds = train_ds.map(lambda x, y: (x, tf.argmax(y, axis=-1, output_type=tf.int32)))
        return train_ds, val_ds, train_info.class_names, counts

    def _require_weights(self):
        """Fails before any data work when the initial weights cannot be had.

        Registry weights are fetched (and TF-slim archives converted) now:
        from ``$KERAS_INCEPTION_WEIGHTS``, the Keras cache or, online, their URL;
        offline, the error names the file and where to put it.
        """
        name = self.config.weights
        if not name:
            return
        from keras_inception import weights as weights_lib
        from keras_inception.weights import download

        record = weights_lib.find_weights(self.config.model, name)
        if record is None:
            if not os.path.isfile(name):
                raise FileNotFoundError(
                    f"The initial weights {name!r} are neither a weights tag of "
                    f"{self.config.model} nor an existing file. Received: weights={name!r}"
                )
            return
        include_top = not self.config.finetune
        if record.is_slim:
            weights_lib.record_weights(record, include_top=include_top)
        else:
            download.fetch(record.file_for(include_top))

    def _choose_from_data(self):
        """Resolves the ``"auto"`` data settings from a profile of ``config.data``."""
        wanted = [
            name
            for name in ("augment", "central_fraction", "validation_split")
            if getattr(self.config, name) in (None, config_lib.AUTO)
        ]
        if wanted or self.stem_open:
            self.profile = data_auto.profile_source(
                self.config.data,
                seed=self.config.seed,
                skipped_log_dir=self.run_dir if self.chief else None,
            )
        if self.stem_open:
            spec = registry.get_spec(self.config.model)
            stem = data_auto.choose_stem(self.profile, spec.input_resolutions, spec.default_size)
            if stem is not None:
                self.choices["input_resolution"] = stem
                self.config = self.config.replace(image_size=stem.value)
        if wanted:
            chosen = data_auto.choose(
                self.profile, self.config.image_size, epochs=self._phases()[-1][1]
            )
            self.choices.update({name: chosen[name] for name in wanted if name in chosen})
            if "validation_split" in wanted and "validation_split" not in chosen:
                self.config = self.config.replace(validation_split=None)
        if self.config.color_in_model == config_lib.AUTO:
            augment = self.choices.get("augment")
            color = data_auto.choose_color_in_model(
                augment.value if augment else self.config.augment, _accelerators()
            )
            if color is None:
                self.config = self.config.replace(color_in_model=False)
            else:
                self.choices["color_in_model"] = color
        self._record_choices()

    def _record_choices(self):
        """Puts the chosen values in the config and in ``config.json`` (exports read it)."""
        values = {
            name: choice.value for name, choice in self.choices.items() if name != "precision"
        }
        self.config = self.config.replace(**values)
        if self.chief:
            checkpoints.write_json(self.paths["config.json"], self.config.to_dict())

    def _callbacks(self, model, phase, first_epoch_best):
        """Checkpoints and logs (chief only), in an order that matters.

        BN statistics are averaged over replicas first, the backup then holds
        the raw weights, and only after it does ``SwapEMAWeights`` put the
        averaged weights in place for the checkpoints.
        """
        if not self.chief:
            return []
        callbacks = [distribute.SyncReplicaVariables(self.strategy)]
        if self.loop == "fit":
            callbacks.append(
                checkpoints.BackupCallback(
                    os.path.join(self.paths["backup"], phase),
                    save_freq=self.config.save_freq,
                )
            )
            if self.config.use_ema:
                callbacks.append(keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
        # history.csv last: it commits the epoch (see checkpoints.restore_backup).
        callbacks += [
            checkpoints.CheckpointCallback(
                self.paths["best.keras"],
                "best_keras",
                monitor=recipe.metric_key(model, "accuracy", True),
                best=first_epoch_best,
                saved=self.network,
            ),
            checkpoints.CheckpointCallback(
                self.paths["last.keras"], "last_keras", saved=self.network
            ),
            keras.callbacks.TensorBoard(self.paths["tensorboard"], write_graph=False),
            checkpoints.HistoryCallback(self.paths["history.csv"]),
        ]
        return callbacks

    def _fit_phase(self, model, phase, train_ds, val_ds, steps, end_epoch, num_classes, meter):
        """Runs one phase to ``end_epoch``; returns the epoch it started at."""
        backup_dir = os.path.join(self.paths["backup"], phase)
        initial_epoch = self.config.epochs if phase == "finetune" else 0
        if self.resuming:
            committed = checkpoints.committed_epochs(self.paths["history.csv"])
            with self.strategy.scope():
                restored = checkpoints.restore_backup(model, backup_dir, committed)
            initial_epoch = max(initial_epoch, restored)
        earlier = _epochs_before(plots.read_history(self.paths["history.csv"]), initial_epoch)
        best_so_far = _best(earlier, model)
        callbacks = self._callbacks(model, phase, best_so_far and best_so_far["accuracy"])
        callbacks += [meter, *self.user_callbacks]
        if self.loop == "custom":
            self.custom_loop = CustomLoop(model, self.config, self.strategy, num_classes)
            history, first = self.custom_loop.fit(
                train_ds,
                epochs=end_epoch,
                initial_epoch=initial_epoch,
                steps_per_epoch=steps,
                validation_data=val_ds,
                callbacks=callbacks,
                backup_dir=backup_dir,
                restore=False,
                write_backup_files=self.chief,
                verbose=self.config.verbose if self.chief else 0,
            )
        else:
            history = model.fit(
                train_ds,
                epochs=end_epoch,
                initial_epoch=initial_epoch,
                steps_per_epoch=steps,
                validation_data=val_ds,
                callbacks=callbacks,
                verbose=self.config.verbose,
                shuffle=False,
            )
            first = history.epoch[0] if history.epoch else end_epoch
        for key, values in history.history.items():
            self.history.setdefault(key, []).extend(values)
        self.history.setdefault("epoch", []).extend(history.epoch)
        return first

    def _evaluate(self, model, val_ds, num_classes):
        """Final validation metrics of the main head, with the weights training ended with."""
        if self.loop == "custom":
            return self.custom_loop.evaluate(val_ds)
        distribute.sync_replica_variables(model, self.strategy)
        logs = model.evaluate(val_ds, return_dict=True, verbose=0)
        return {
            "loss": float(logs["loss"]),
            **{
                metric: float(logs[recipe.metric_key(model, metric)])
                for metric in ("accuracy", "top5")
                if recipe.metric_key(model, metric) in logs
            },
        }

    def _finish(self, model, metrics, class_names, counts, initial_epoch, resumed, meter, seconds):
        # The chief's CSV spans every invocation of a resumed run; other
        # workers only know this invocation's epochs.
        history = plots.read_history(self.paths["history.csv"]) if self.chief else self.history
        best = _best(history, model) or {}
        metrics = {k.split("predictions_")[-1]: v for k, v in metrics.items()}
        summary = {
            "model": self.config.model,
            "data": self.config.data,
            "num_classes": len(class_names),
            "num_train": counts["train"],
            "num_validation": counts["validation"],
            "image_size": self.config.image_size,
            "params": model.count_params(),
            "precision": self.config.precision,
            "chosen": {name: choice.to_dict() for name, choice in self.choices.items()},
            "data_profile": self.profile.to_dict() if self.profile else None,
            "skipped": self.skipped,
            "strategy": type(self.strategy).__name__,
            "num_replicas": self.strategy.num_replicas_in_sync,
            "loop": self.loop,
            "epochs": self._phases()[-1][1],
            "initial_epoch": initial_epoch,
            "resumed": resumed,
            "wall_time_s": round(seconds, 1),
            "train_images_per_second": meter.images_per_second(),
            "validation": metrics,
            "best": best,
            "exports": {},
        }
        if self.chief:
            # Training is finished for good once this is on disk (before the
            # backup goes): a rerun after a kill from here on only redoes _complete.
            summary["state"] = "trained"
            if self.config.export:
                versions = export.model_versions(self._export_dir())
                summary["export_version"] = (versions or [0])[-1] + 1
            checkpoints.write_json(self.paths["summary.json"], summary)
            faults.point("train.trained")
            self._complete(summary, class_names, history)
        return TrainResult(
            run_dir=self.run_dir,
            metrics=metrics,
            best=best,
            history=history,
            initial_epoch=initial_epoch,
            class_names=list(class_names),
            summary=summary,
            model=model,
        )

    def _finish_trained_run(self):
        """The rerun of a run killed after training finished: ``_complete`` only."""
        summary = dict(self.trained, resumed=True, initial_epoch=self.trained["epochs"])
        class_names = data.load_class_names(self.paths["class_names.json"])
        history = plots.read_history(self.paths["history.csv"])
        if self.chief:
            self._complete(summary, class_names, history)
        return TrainResult(
            run_dir=self.run_dir,
            metrics=summary["validation"],
            best=summary["best"],
            history=history,
            initial_epoch=summary["initial_epoch"],
            class_names=class_names,
            summary=summary,
            model=keras.saving.load_model(self.paths["last.keras"], compile=False),
        )

    def _complete(self, summary, class_names, history):
        """Curves, backup removal, exports, the final summary: idempotent, redone after a kill."""
        if history:
            plots.plot_history(
                history,
                self.paths["curves.png"],
                title=f"{self.config.model} on {self.config.data}",
            )
            faults.point("train.curves_written")
        faults.point("train.before_backup_removal")
        _remove(self.paths["backup"])
        faults.point("train.backup_removed")
        if self.config.export:
            faults.point("train.export_start")
            summary["exports"] = self._export(class_names, summary.get("export_version"))
        summary["state"] = "complete"
        checkpoints.write_json(self.paths["summary.json"], summary)
        faults.point("train.complete")
        if self.config.verbose:
            print(format_summary(summary, self.run_dir))

    def _export_dir(self):
        """The SavedModel's model directory, ``<export_dir>/<model>_<data tag>``."""
        name = f"{self.config.model}_{config_lib.data_tag(self.config.data)}"
        return os.path.join(self.config.export_dir, name)

    def _export(self, class_names, version):
        model_dir = self._export_dir()
        name = os.path.basename(model_dir)
        if version and os.path.isdir(os.path.join(model_dir, str(version))):
            # A killed rerun published this version already (by a rename: whole);
            # what its export left (a scratch folder) goes as the export would clear it.
            atomic.remove_stale(model_dir, STAGING_PREFIX)
            export.write_serving_config(self.config.export_dir)
            saved_model = os.path.join(model_dir, str(version))
        else:
            saved_model = export.export_saved_model(
                self.run_dir,
                base_dir=self.config.export_dir,
                model_name=name,
                version=version,
                class_names=class_names,
            )
        faults.point("train.saved_model_exported")
        # The run's own images calibrate int8 and check the parity of every mode.
        tflite = export.export_tflite(
            self.run_dir,
            os.path.join(self.config.export_dir, f"{name}.tflite"),
            mode=self.config.tflite_mode,
            calibration_data=self.config.data if self.datasets is None else None,
            class_names=class_names,
        )
        faults.point("train.tflite_exported")
        return {"saved_model": saved_model, "tflite": _jsonable(tflite)}


def format_summary(summary, run_dir):
    """The one-screen report printed at the end of a run."""
    line = "-" * 72
    val = summary["validation"]
    top5 = f"  top-5 {100 * val['top5']:.2f} %" if "top5" in val else ""
    best = summary["best"]
    rows = [
        line,
        f" {summary['model']} on {summary['data']} ({summary['num_classes']} classes)",
        line,
        f" data        {summary['num_train']} train / {summary['num_validation'] or '?'} validation"
        f" images at {summary['image_size']}x{summary['image_size']}",
        f" model       {summary['params']:,} parameters, {summary['precision']}",
        f" strategy    {summary['strategy']}, {summary['num_replicas']} replica(s),"
        f" {summary['loop']} loop",
        f" epochs      {summary['epochs']} (this run started at epoch {summary['initial_epoch']}"
        f"{', resumed' if summary['resumed'] else ''})",
        f" time        {summary['wall_time_s']:.0f} s,"
        f" {summary['train_images_per_second']:.1f} train images/s",
        f" validation  top-1 {100 * val['accuracy']:.2f} %{top5}  loss {val['loss']:.4f}",
    ]
    if best:
        rows.append(
            f" best        top-1 {100 * best['accuracy']:.2f} % at epoch {best['epoch']}"
            " (best.keras)"
        )
    skipped = summary.get("skipped") or {}
    rows.append(
        f" skipped     {skipped.get('count', 0)} file(s)"
        + (f", listed in {skipped['log']}" if skipped.get("log") else "")
    )
    chosen = summary.get("chosen") or {}
    if chosen:
        rows.append(" chosen for you (override with --set NAME=VALUE):")
        for name, choice in chosen.items():
            rows.append(f"   {name} = {choice['value']}: {choice['reason']}")
    rows.append(f" run dir     {run_dir}")
    exports = summary.get("exports") or {}
    if exports:
        rows.append(f" SavedModel  {exports['saved_model']}")
        rows.append(f" TFLite      {exports['tflite'].get('path')}")
    rows.append(line)
    return "\n".join(rows)


class _ThroughputMeter(keras.callbacks.Callback):
    """Training images per second, over epochs after the first (tracing) one."""

    def __init__(self, batch_size):
        super().__init__()
        self.batch_size = batch_size
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps = batch + 1
        self._end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append((self._steps, self._end - self._start))

    def images_per_second(self):
        timed = self.epochs[1:] or self.epochs
        seconds = sum(t for _, t in timed)
        return round(sum(s for s, _ in timed) * self.batch_size / seconds, 2) if seconds else None


def _accelerators():
    """The GPU and TPU devices TensorFlow sees (names)."""
    return [
        device.name for kind in ("GPU", "TPU") for device in tf.config.list_logical_devices(kind)
    ]


def _with_targets(dataset, names, num_classes):
    """Integer labels -> one-hot targets, one per output (``fit``'s dict structure)."""

    def targets(images, labels):
        one_hot = tf.one_hot(labels, num_classes)
        return images, one_hot if len(names) == 1 else {name: one_hot for name in names}

    return dataset.map(targets, num_parallel_calls=tf.data.AUTOTUNE)


def _best(history, model):
    key = recipe.metric_key(model, "accuracy", validation=True)
    values = history.get(key)
    if not values:
        return None
    index = max(range(len(values)), key=values.__getitem__)
    return {"epoch": history["epoch"][index] + 1, "accuracy": values[index]}


def _epochs_before(history, epoch):
    """The rows of ``history`` (columns) for the epochs before ``epoch``."""
    keep = [i for i, e in enumerate(history.get("epoch", [])) if e < epoch]
    return {key: [values[i] for i in keep] for key, values in history.items()}


def _done_file(phase):
    return f"{phase}.done.weights.npz"


def _has_backup(backup):
    """Whether ``backup`` holds a phase's state or a finished phase's weights."""
    if not os.path.isdir(backup):
        return False
    return any(
        name.endswith(".done.weights.npz")
        or os.path.isfile(os.path.join(backup, name, checkpoints.STATE_FILE))
        for name in os.listdir(backup)
    )


def _save_arrays(model, path):
    checkpoints.publish_file(path, lambda temporary: np.savez(temporary, *model.get_weights()))


def _load_arrays(model, path):
    with np.load(path) as arrays:
        model.set_weights([arrays[f"arr_{i}"] for i in range(len(arrays.files))])


def _remove(path):
    """Removes a file, or a directory by renaming it away first (never half of one)."""
    if os.path.isdir(path):
        parent, name = os.path.split(path)
        doomed = os.path.join(parent, f".{name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
        os.rename(path, doomed)
        shutil.rmtree(doomed)
    elif os.path.lexists(path):
        os.remove(path)


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))
