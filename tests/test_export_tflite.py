"""TFLite export: the four modes in the LiteRT interpreter against Keras, sizes, sidecar, errors.

The parity figures are measured here again with a bare ``ai_edge_litert``
interpreter, fed through the sidecar's quantization record as an app would,
so the exporter's own check is not what the tests rely on.
"""

import json

import keras
import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

import export_support as support
from keras_inception import export
from keras_inception.cli import main as cli_main
from keras_inception.export import tflite as tflite_lib


def run_interpreter(path, images):
    """Outputs of a ``.tflite`` file for float model inputs, one image per invoke."""
    sidecar = json.loads(open(export.sidecar_path(path)).read())
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    (given,), (taken,) = interpreter.get_input_details(), interpreter.get_output_details()
    in_q, out_q = sidecar["input"]["quantization"], sidecar["output"]["quantization"]
    outputs = []
    for image in images:
        if in_q:
            image = np.clip(np.round(image / in_q["scale"]) + in_q["zero_point"], 0, 255)
        interpreter.set_tensor(given["index"], image[None].astype(given["dtype"]))
        interpreter.invoke()
        out = interpreter.get_tensor(taken["index"]).astype(np.float32)
        outputs.append((out - out_q["zero_point"]) * out_q["scale"] if out_q else out)
    return np.concatenate(outputs)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The digits run's Keras model and the validation images none of the exports calibrated on."""
    run = support.digits_run(tmp_path_factory)
    model = keras.saving.load_model(run / "best.keras")
    # The exports calibrate on the first images of this stream.
    stream = np.concatenate(support.calibration_stream())
    images = stream[support.NUM_CALIBRATION_IMAGES :]
    return model, images, keras.ops.convert_to_numpy(model(images, training=False))


def test_float32_matches_keras_logits(tmp_path_factory, trained):
    model, images, expected = trained
    path, report = support.digits_tflite(tmp_path_factory, "float32")
    got = run_interpreter(path, images[:32])
    assert np.max(np.abs(got - expected[:32])) <= 1e-4
    assert report["parity"]["passed"] and report["parity"]["images"] == "held-out"
    assert report["parity"]["max_abs_diff"] <= 1e-4
    sidecar = json.loads(open(report["sidecar"]).read())
    assert sidecar["labels"] == [str(i) for i in range(10)]
    assert sidecar["input"]["range"] == [-1.0, 1.0]
    assert sidecar["input"]["normalization"]["mean"] == [127.5] * 3
    assert sidecar["input"]["normalization"]["std"] == [127.5] * 3
    assert sidecar["input"]["central_fraction"] == 1.0
    assert sidecar["output"]["kind"] == "logits"
    assert sidecar["input"]["shape"] == [-1, 75, 75, 3]


def test_float16_within_one_percent_at_half_the_size(tmp_path_factory, trained):
    model, images, expected = trained
    path, report = support.digits_tflite(tmp_path_factory, "float16")
    float32_path, _ = support.digits_tflite(tmp_path_factory, "float32")
    got = run_interpreter(path, images)
    assert np.max(np.abs(got - expected)) / np.max(np.abs(expected)) <= 1e-2
    assert np.mean(got.argmax(-1) == expected.argmax(-1)) >= 0.98
    assert path.stat().st_size <= 0.55 * float32_path.stat().st_size
    assert report["parity"]["metric"] == "max_rel_diff" and report["parity"]["passed"]


@pytest.mark.parametrize("mode", ["dynamic", "int8"])
def test_quantized_agrees_with_keras_at_under_030_the_size(tmp_path_factory, trained, mode):
    model, images, expected = trained
    path, report = support.digits_tflite(tmp_path_factory, mode)
    float32_path, _ = support.digits_tflite(tmp_path_factory, "float32")
    got = run_interpreter(path, images)
    assert np.mean(got.argmax(-1) == expected.argmax(-1)) >= 0.98
    assert path.stat().st_size <= 0.3 * float32_path.stat().st_size
    parity = report["parity"]
    assert parity["metric"] == "decided_top1_agreement" and parity["enforced"] and parity["passed"]
    # A trained model decides nearly every held-out image.
    assert parity["num_decided"] >= 0.9 * len(images)
    assert parity["num_images"] == support.NUM_PARITY_IMAGES == len(images)
    if mode == "int8":
        assert report["input"]["dtype"] == report["output"]["dtype"] == "uint8"
        # uint8 pixels map onto [-1, 1]: about 2/255 per step, zero near 127.5.
        assert report["input"]["quantization"]["scale"] == pytest.approx(2 / 255, rel=0.01)
        assert abs(report["input"]["quantization"]["zero_point"] - 127.5) <= 1


def test_select_tf_ops_are_refused_by_name(tmp_path):
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Lambda(lambda t: keras.ops.erfinv(keras.ops.tanh(t)))(x)
    model = keras.Model(inputs, keras.layers.Dense(3)(x))
    with pytest.raises(ValueError, match="Erfinv"):
        export.export_tflite(model, tmp_path / "flex.tflite")
    assert not list(tmp_path.iterdir())


def test_failed_parity_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setitem(tflite_lib.PARITY_BOUNDS, "float32", ("max_abs_diff", -1.0))
    with pytest.raises(ValueError, match="fails its parity check"):
        export.export_tflite(support.small_model(), tmp_path / "m.tflite")
    assert not list(tmp_path.iterdir())
    report = export.export_tflite(support.small_model(), tmp_path / "m.tflite", check_parity=False)
    assert report["parity"] is None and (tmp_path / "m.tflite").exists()


def test_synthetic_parity_enforces_numbers_not_top1(tmp_path):
    model = support.small_model("softmax")
    report = export.export_tflite(model, tmp_path / "m.tflite", mode="dynamic")
    parity = report["parity"]
    assert parity["images"] == "synthetic" and not parity["enforced"] and parity["passed"]
    sidecar = json.loads((tmp_path / "m.tflite.json").read_text())
    assert sidecar["output"]["kind"] == "probabilities"
    assert sidecar["labels"] == ["0", "1", "2"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(mode="int4"), "mode="),
        (dict(mode="int8"), "calibration_data="),
        (dict(mode="int8", calibration_data=[], io_type="float32"), "io_type="),
        (dict(class_names=["a", "b"]), "class_names of length 2"),
        (dict(class_names=["a", "b\nc", "d"]), "line breaks"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        export.export_tflite(support.small_model(), tmp_path / "m.tflite", **kwargs)


def test_int8_from_arrays_with_int8_io(tmp_path):
    rng = np.random.default_rng(0)
    images = [rng.uniform(-1, 1, (4, 16, 16, 3)).astype(np.float32) for _ in range(10)]
    model = support.small_model()
    # An untrained model's near-tied logits would make top-1 agreement a coin toss.
    kernel, _ = model.get_layer("predictions").get_weights()
    model.get_layer("predictions").set_weights([kernel, np.array([4.0, 0.0, -4.0])])
    report = export.export_tflite(
        model,
        tmp_path / "m.tflite",
        mode="int8",
        calibration_data=images,
        io_type="int8",
        num_calibration_images=30,
        num_parity_images=10,
    )
    assert report["input"]["dtype"] == report["output"]["dtype"] == "int8"
    assert report["parity"]["num_images"] == 10 and report["parity"]["images"] == "held-out"


def test_cli_export_tflite(tmp_path, capsys):
    support.small_model().save(tmp_path / "small.keras")
    out = tmp_path / "small.tflite"
    code = cli_main(
        [
            "export",
            str(tmp_path / "small.keras"),
            "--format",
            "tflite",
            "--mode",
            "float16",
            "--out",
            str(out),
            "--json",
        ]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["path"] == str(out) and out.exists() and report["mode"] == "float16"


def _dead_pid():
    import subprocess

    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.mark.parametrize("umask", [0o022, 0o077], ids=["umask022", "umask077"])
def test_tflite_and_sidecar_are_published_atomically_with_the_umask(tmp_path, monkeypatch, umask):
    import hashlib
    import os

    out = tmp_path / "m.tflite"
    stale = tmp_path / f".m.tflite.tmp-{_dead_pid()}-x1y2z3"
    stale.write_bytes(b"half a model")
    trace = tmp_path / "trace"
    monkeypatch.setenv("KERAS_INCEPTION_FAULT_TRACE", str(trace))
    previous = os.umask(umask)
    try:
        report = export.export_tflite(support.small_model(), out, check_parity=False)
    finally:
        os.umask(previous)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tflite", "m.tflite.json", "trace"]
    for path in (out, tmp_path / "m.tflite.json"):
        assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask
    sidecar = json.loads((tmp_path / "m.tflite.json").read_text())
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert sidecar["model_sha256"] == report["sha256"] == digest
    assert trace.read_text().split() == [
        "export.tflite_temp_written",
        "export.tflite_before_rename",
        "export.tflite_sidecar_temp_written",
        "export.tflite_sidecar_before_rename",
    ]


def xnnpack_partitions(path):
    """The XNNPACK partitions LiteRT cuts a ``.tflite`` graph into (``DELEGATE`` nodes)."""
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    return sum(op["op_name"] == "DELEGATE" for op in interpreter._get_ops_details())


def test_int8_is_one_xnnpack_partition_with_average_pooling_in_float(tmp_path_factory, trained):
    path, report = support.digits_tflite(tmp_path_factory, "int8")
    assert report["float_ops"] == ["AVERAGE_POOL_2D"]
    assert xnnpack_partitions(path) == 1
    interpreter = Interpreter(model_path=str(path))
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    pools = [op for op in interpreter._get_ops_details() if op["op_name"] == "AVERAGE_POOL_2D"]
    # Inception-v3's nine branch pools, each between a dequantize and a quantize.
    assert len(pools) == 9
    assert all(tensors[op["inputs"][0]]["dtype"] == np.float32 for op in pools)


def test_all_int8_splits_the_graph_and_random_weights_do_not_fail_the_export(tmp_path):
    # An untrained model decides nothing: its export must pass and say the check
    # could not test it, even on real held-out images.
    model = support.tiny_model(classes=10)
    stream = support.calibration_stream()[:2]
    common = dict(
        mode="int8", calibration_data=stream, num_calibration_images=40, num_parity_images=40
    )
    report = export.export_tflite(model, tmp_path / "one.tflite", **common)
    parity = report["parity"]
    assert parity["images"] == "held-out" and not parity["enforced"] and parity["passed"]
    assert "cannot test" in parity["reason"]
    split = export.export_tflite(model, tmp_path / "split.tflite", float_ops=(), **common)
    assert split["float_ops"] == []
    assert xnnpack_partitions(tmp_path / "one.tflite") == 1
    assert xnnpack_partitions(tmp_path / "split.tflite") == 10
    with pytest.raises(ValueError, match="Received: float_ops='AVERAGE_POOL_2D'"):
        export.export_tflite(model, tmp_path / "bad.tflite", float_ops="AVERAGE_POOL_2D", **common)
