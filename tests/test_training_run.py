"""Whole runs in subprocesses: the run directory, SIGKILL and resume, MirroredStrategy.

Each run trains a thin GoogLeNet at 32x32 on the embedded digits for a few
steps; the checks are about the machinery (files, epochs, replicas), not accuracy.
"""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from keras_inception import data
from keras_inception import training
from keras_inception.training import recipe

SMALL_RUN = [
    "model=inception_v1",
    "image_size=32",
    "depth_multiplier=0.25",
    "batch_size=8",
    "steps_per_epoch=3",
    "verbose=2",
]

# Trains with the smoke preset and the given overrides. With PAUSE_FILE set it
# stops at the start of the second epoch, after the first epoch's backup, so
# the test can kill it there.
DRIVER = r"""
import json, os, sys, time
import keras
import tensorflow as tf
if os.environ.get("LOGICAL_CPUS"):
    cpu = tf.config.list_physical_devices("CPU")[0]
    count = int(os.environ["LOGICAL_CPUS"])
    devices = [tf.config.LogicalDeviceConfiguration()] * count
    tf.config.set_logical_device_configuration(cpu, devices)
from keras_inception import training


class Pause(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1 and os.environ.get("PAUSE_FILE"):
            open(os.environ["PAUSE_FILE"], "w").close()
            time.sleep(600)


config = training.resolve_config(preset="smoke", overrides=sys.argv[1:])
result = training.train(config, callbacks=[Pause()])
model = result.model
copies = [
    [c.numpy().tolist() for c in model.distribute_strategy.experimental_local_results(v.value)]
    for v in model.non_trainable_variables if "moving" in v.path
]
report = dict(result.summary, policy_after=keras.config.dtype_policy().name, bn_copies=copies)
print("REPORT " + json.dumps(report))
"""


def _command(run_dir, *overrides):
    return [sys.executable, "-c", DRIVER, *SMALL_RUN, f"run_dir={run_dir}", *overrides]


def _env(**extra):
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **extra)


def _report(output):
    lines = [line for line in output.splitlines() if line.startswith("REPORT ")]
    assert lines, output[-3000:]
    return json.loads(lines[-1][len("REPORT ") :])


def _epochs(history_csv):
    with open(history_csv, newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def test_sigkilled_run_resumes_from_its_backup_and_completes(tmp_path):
    run_dir = tmp_path / "run"
    pause = tmp_path / "paused"
    command = _command(run_dir, "epochs=3", "aux_logits=true")
    first = subprocess.Popen(
        command,
        env=_env(PAUSE_FILE=str(pause)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 400
    while not pause.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert pause.exists(), first.communicate()[0][-3000:] if first.poll() is not None else "timeout"
    os.kill(first.pid, signal.SIGKILL)
    first.wait()

    assert first.returncode == -signal.SIGKILL
    assert os.listdir(run_dir / "backup" / "train")
    assert (run_dir / "last.keras").exists() and not (run_dir / "summary.json").exists()
    assert _epochs(run_dir / "history.csv") == [0]
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["model"], config["image_size"], config["epochs"]) == ("inception_v1", 32, 3)

    second = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    report = _report(second.stdout)
    assert report["resumed"] and report["initial_epoch"] == 1
    assert "Epoch 1/3" not in second.stdout and "Epoch 2/3" in second.stdout
    assert _epochs(run_dir / "history.csv") == [0, 1, 2]
    assert training.read_history(str(run_dir / "history.csv"))["epoch"] == [0, 1, 2]
    assert not (run_dir / "backup").exists()

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["epochs"] == 3 and 0.0 <= summary["validation"]["accuracy"] <= 1.0
    assert summary["train_images_per_second"] > 0
    assert data.load_class_names(str(run_dir / "class_names.json")) == [str(i) for i in range(10)]
    assert (run_dir / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert any(files for _, _, files in os.walk(run_dir / "tensorboard"))
    for name in ("best.keras", "last.keras"):
        model = keras.saving.load_model(str(run_dir / name))
        outputs = model.predict(np.zeros((2, 32, 32, 3), "float32"), verbose=0)
        assert set(outputs) == {"predictions", "aux_1", "aux_2"}
        np.testing.assert_allclose(outputs["predictions"].sum(axis=1), 1.0, rtol=1e-4)


def test_mirrored_strategy_on_two_logical_cpus_with_bf16_and_ema(tmp_path):
    run_dir = tmp_path / "mirrored"
    result = subprocess.run(
        _command(
            run_dir,
            "epochs=2",
            "distribution=mirrored",
            "devices=[/cpu:0,/cpu:1]",
            "precision=mixed_bfloat16",
            "use_ema=true",
            "ema_momentum=0.5",
        ),
        env=_env(LOGICAL_CPUS="2"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = _report(result.stdout)
    assert (report["strategy"], report["num_replicas"], report["loop"]) == (
        "MirroredStrategy",
        2,
        "fit",
    )
    assert report["precision"] == "mixed_bfloat16" and report["policy_after"] == "float32"
    # The replicas' BN statistics were averaged into one value.
    assert report["bn_copies"]
    for first, second in report["bn_copies"]:
        np.testing.assert_array_equal(first, second)
    assert _epochs(run_dir / "history.csv") == [0, 1]
    model = keras.saving.load_model(str(run_dir / "best.keras"))
    assert model.get_layer("predictions").compute_dtype == "float32"


class _StopAt(keras.callbacks.Callback):
    """Simulates a crash at the start of an epoch."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("simulated crash")


def test_finetuning_phases_resume_and_keep_batchnorm_statistics(tmp_path):
    import tensorflow as tf

    def datasets():
        rng = np.random.default_rng(0)
        labels = np.arange(24) % 3
        images = rng.uniform(-1, 1, (24, 32, 32, 3)).astype("float32")
        dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8)
        return dataset, dataset, ["a", "b", "c"]

    config = training.resolve_config(
        preset="finetune",
        overrides=SMALL_RUN
        + ["weights=null", "epochs=1", "finetune_epochs=2", "verbose=0", "export=false"],
        run_dir=str(tmp_path / "finetune"),
    )
    try:
        training.train(config, datasets=datasets, callbacks=[_StopAt(2)])
    except RuntimeError as error:
        assert "simulated crash" in str(error)
    else:
        raise AssertionError("the run should have crashed at epoch 3")
    backup = tmp_path / "finetune" / "backup"
    assert (backup / "train.done.weights.npz").exists() and (backup / "finetune").is_dir()

    result = training.train(config, datasets=datasets)
    assert result.initial_epoch == 2 and result.summary["resumed"]
    assert result.history["epoch"] == [0, 1, 2]
    backbone = result.model.get_layer("inception_v1")
    # Frozen from random init to the end: the BN statistics are still the initial ones.
    for variable in backbone.non_trainable_variables:
        if variable.path.endswith("moving_mean"):
            np.testing.assert_array_equal(variable.numpy(), 0.0)
        elif variable.path.endswith("moving_variance"):
            np.testing.assert_array_equal(variable.numpy(), 1.0)
    assert backbone.get_layer("mixed_5c_branch_0_conv2d_0a_1x1_conv").trainable
    assert not backbone.get_layer("mixed_3b_branch_0_conv2d_0a_1x1_conv").trainable


@pytest.mark.slow
def test_main_job_learns_the_digits_and_exports(tmp_path):
    """`keras-inception train` as the README runs it (about 5 minutes on 2 cores)."""
    done = subprocess.run(
        [sys.executable, "-m", "keras_inception", "train"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads((tmp_path / "runs" / "inception_v3_digits" / "summary.json").read_text())
    assert summary["num_validation"] == 360 and summary["validation"]["accuracy"] >= 0.90
    assert "validation top-1:" in done.stdout
    assert (tmp_path / "saved_models" / "inception_v3_digits" / "1" / "saved_model.pb").exists()
    assert summary["exports"]["tflite"]["parity"]["passed"]


class _Crash(Exception):
    """Stands for a kill at a given line of an in-process run."""


def _tiny_datasets():
    import tensorflow as tf

    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (8, 32, 32, 3)).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices((images, np.arange(8) % 2)).batch(4)
    return dataset, dataset, ["a", "b"]


def _tiny_model(config, num_classes):
    """Stands for the network in tests of the run machinery: a few layers trace fast."""
    inputs = keras.Input((config.image_size, config.image_size, 3))
    x = keras.layers.Conv2D(4, 3, strides=4)(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs), None


def _tiny_config(run_dir, *overrides):
    return training.resolve_config(
        preset="smoke",
        overrides=[
            "model=inception_v1",
            "image_size=32",
            "depth_multiplier=0.1",
            "batch_size=4",
            "steps_per_epoch=1",
            "verbose=0",
            *overrides,
        ],
        run_dir=str(run_dir),
    )


def test_a_kill_while_last_keras_is_written_loses_neither_it_nor_a_history_row(
    tmp_path, monkeypatch
):
    """Issue 12 #6: last.keras was written in place and history.csv got gaps after a resume."""
    real_save = keras.Model.save
    calls = []

    def save_then_crash_midway(model, path, *args, **kwargs):
        if os.path.basename(path).startswith(("last.keras", ".last.keras")):
            calls.append(path)
            if len(calls) == 2:
                with open(path, "wb") as f:
                    f.write(b"PK\x03\x04 half of a zip")
                raise _Crash(path)
        return real_save(model, path, *args, **kwargs)

    run_dir = tmp_path / "run"
    config = _tiny_config(run_dir, "epochs=2")
    monkeypatch.setattr(recipe, "build_model", _tiny_model)
    monkeypatch.setattr(keras.Model, "save", save_then_crash_midway)
    with pytest.raises(_Crash):
        training.train(config, datasets=_tiny_datasets)
    monkeypatch.setattr(keras.Model, "save", real_save)
    # The epoch-0 model is still there, whole; no temporary file is left.
    keras.saving.load_model(str(run_dir / "last.keras"), compile=False)
    assert _epochs(run_dir / "history.csv") == [0]
    assert not [name for name in os.listdir(run_dir) if ".tmp-" in name]

    result = training.train(config, datasets=_tiny_datasets)
    # The backup of epoch 1 was written but not its history row: epoch 1 runs again.
    assert result.initial_epoch == 1
    assert _epochs(run_dir / "history.csv") == [0, 1]
    keras.saving.load_model(str(run_dir / "last.keras"), compile=False)
    assert result.summary["state"] == "complete" and not (run_dir / "backup").exists()


def test_a_kill_during_the_export_keeps_the_training(tmp_path, monkeypatch):
    """Issue 12 #5: the backup went before the export, so a rerun trained from epoch 0."""
    from keras_inception import export

    def crash(*args, **kwargs):
        raise _Crash("export")

    exported = []

    def saved_model(source, *, base_dir, model_name, class_names, version=None):
        exported.append(("saved_model", source, version))
        return os.path.join(base_dir, model_name, str(version))

    def tflite(source, out_path, **kwargs):
        exported.append(("tflite", source, out_path))
        return {"path": out_path}

    run_dir = tmp_path / "run"
    config = _tiny_config(run_dir, "epochs=1", "export=true", f"export_dir={tmp_path / 'exports'}")
    monkeypatch.setattr(recipe, "build_model", _tiny_model)
    monkeypatch.setattr(export, "export_saved_model", crash)
    with pytest.raises(_Crash):
        training.train(config, datasets=_tiny_datasets)
    history = (run_dir / "history.csv").read_text()

    monkeypatch.setattr(export, "export_saved_model", saved_model)
    monkeypatch.setattr(export, "export_tflite", tflite)
    result = training.train(config, datasets=_tiny_datasets)
    # No epoch trained again: only the export was redone, at the version planned.
    assert result.initial_epoch == 1 and result.summary["resumed"]
    assert (run_dir / "history.csv").read_text() == history
    assert [(kind, where) for kind, _, where in exported] == [
        ("saved_model", 1),
        ("tflite", str(tmp_path / "exports" / "inception_v1_digits.tflite")),
    ]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["state"] == "complete" and summary["exports"]["saved_model"].endswith("1")
    assert not (run_dir / "backup").exists()


def test_the_colour_distortion_can_run_in_the_step_and_stays_out_of_the_checkpoints(
    tmp_path, monkeypatch
):
    """``color_in_model``: the pipeline leaves the colour out, the step applies it."""
    from keras_inception.data import layers as data_layers

    calls = []
    real_call = data_layers.ColorDistortion.call

    def counted_call(self, inputs, training=None):
        calls.append(bool(training))
        return real_call(self, inputs, training=training)

    monkeypatch.setattr(data_layers.ColorDistortion, "call", counted_call)
    monkeypatch.setattr(recipe, "build_model", _tiny_model)
    run_dir = tmp_path / "run"
    config = _tiny_config(
        run_dir,
        "data=digits",
        "augment=inception",
        "color_in_model=true",
        "epochs=1",
        # The tiny stand-in network has no float32 head for a mixed policy.
        "precision=float32",
    )
    result = training.train(config)
    # Traced in the train step (training=True) and in the validation step (passes through).
    assert True in calls
    saved = keras.saving.load_model(run_dir / "last.keras")
    assert not any(isinstance(layer, data_layers.ColorDistortion) for layer in saved.layers)
    assert json.loads((run_dir / "config.json").read_text())["color_in_model"] is True
    assert result.summary["params"] == saved.count_params()


def test_color_in_model_wraps_the_network_keeping_its_outputs():
    import tensorflow as tf

    config = _tiny_config("unused")
    network, _ = _tiny_model(config, 3)
    wrapped = recipe.with_color_distortion(network, "full", seed=1)
    assert wrapped.output_names == ["predictions"] and wrapped.name == f"{network.name}_train"
    images = tf.random.stateless_uniform((4, 32, 32, 3), (1, 2), -1.0, 1.0)
    np.testing.assert_allclose(wrapped(images, training=False), network(images, training=False))
    distorted = wrapped.get_layer("color_distortion")(images, training=True)
    assert float(tf.reduce_max(tf.abs(distorted - images))) > 0.01
    assert float(tf.reduce_min(distorted)) >= -1.0 and float(tf.reduce_max(distorted)) <= 1.0
