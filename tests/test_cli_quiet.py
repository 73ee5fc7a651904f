"""The command line is quiet: no TensorFlow log lines unless ``--verbose``.

Each test runs ``python -m keras_inception`` in a fresh process, as a user's
terminal would, and reads its standard error.
"""

import os
import re
import subprocess
import sys

import keras
import pytest

# absl's C++ format (I0000 00:00:... file.cc:123]), its pre-init warning, the
# Python absl logger, TensorFlow's CPU notices and LiteRT's delegate line.
TF_LOG_LINE = re.compile(
    r"^([IWEF]\d{4} \d\d:\d\d:\d\d|WARNING: All log messages before absl|WARNING:absl:"
    r"|INFO: Created TensorFlow Lite)|cpu_feature_guard|oneDNN|cuInit",
    re.MULTILINE,
)


def cli(*args, cwd):
    env = {
        k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND")
    }
    return subprocess.run(
        [sys.executable, "-m", "keras_inception", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("quiet")
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x), name="tiny").save(
        folder / "tiny.keras"
    )
    return folder


@pytest.mark.parametrize("mode", ["float32", "int8"])
def test_tflite_export_shows_only_its_summary(tiny_model, mode):
    # int8 also runs the calibration and TensorFlow's quantization debugger,
    # whose deprecation and calibration warnings are TensorFlow's, not the user's.
    extra = ["--calibration-data", "digits", "--num-calibration-images", "20"] * (mode == "int8")
    result = cli(
        "export",
        "tiny.keras",
        "--format",
        "tflite",
        "--mode",
        mode,
        "--out",
        f"quiet_{mode}.tflite",
        *extra,
        cwd=tiny_model,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert f"TFLite {mode} model written to quiet_{mode}.tflite" in result.stdout
    assert "parity vs Keras" in result.stdout


def test_verbose_brings_tensorflows_log_back(tiny_model):
    result = cli(
        "export",
        "tiny.keras",
        "--format",
        "tflite",
        "--out",
        "verbose.tflite",
        "--verbose",
        cwd=tiny_model,
    )
    assert result.returncode == 0, result.stderr
    # The converter's own chatter, as well as TensorFlow's start-up notices.
    assert "tf_tfl_flatbuffer_helpers" in result.stderr
    assert len(TF_LOG_LINE.findall(result.stderr)) >= 3, result.stderr
    assert "TFLite float32 model written to verbose.tflite" in result.stdout


def test_an_error_after_tensorflow_started_is_one_line(tmp_path):
    # The registry imports the builders, hence TensorFlow, before it refuses the name.
    result = cli("models", "inception_v9", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("keras-inception models: error: Unknown model.")
    assert result.stderr.count("\n") == 1
    assert not TF_LOG_LINE.search(result.stderr)


def test_a_training_run_with_its_exports_shows_only_its_progress_and_summary(tmp_path):
    # The run imports TensorBoard and converts to TFLite: both once let absl
    # warnings through, after the levels set at start had been reset.
    result = cli(
        "train",
        "--preset",
        "smoke",
        "--set",
        "model=inception_v1",
        "--set",
        "image_size=32",
        "--set",
        "steps_per_epoch=1",
        "--set",
        "export=true",
        "--set",
        "verbose=0",
        "--run-dir",
        str(tmp_path / "run"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == ""
    assert "validation top-1:" in result.stdout
    exports = tmp_path / "saved_models"
    assert (exports / "inception_v1_digits" / "1" / "saved_model.pb").exists()
    assert (exports / "inception_v1_digits.tflite").exists()
