"""Examples: the notebook executes, the scripts' smoke runs pass, the client talks to a server.

The serving client is checked against local stand-ins for TF Serving: an HTTP
server implementing the REST ``:predict`` endpoint and a gRPC
``PredictionService``, both answering with the exported SavedModel's
``serving_default`` signature.
"""

import base64
import concurrent.futures
import http.server
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import threading

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
TOY_CLASSES = ["cat", "dog", "fish"]


def _env():
    # No download is attempted: pretrained weights come from the local cache or not at all.
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", KERAS_INCEPTION_OFFLINE="1")


def _run_example(script, *args, cwd):
    completed = subprocess.run(
        [sys.executable, os.path.join(EXAMPLES, script), *args],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=cwd,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-5000:]
    return completed.stdout


def _load_example(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _jpeg(seed, size=48):
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


# --- notebook ---------------------------------------------------------------------------


def test_quickstart_notebook_executes(tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    import keras_inception

    monkeypatch.setenv("KERAS_INCEPTION_OFFLINE", "1")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    notebook = nbformat.read(os.path.join(EXAMPLES, "quickstart.ipynb"), as_version=4)
    NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()

    def text(output):
        return output.get("text") or "".join(output.get("data", {}).get("text/plain", ""))

    cells = [c for c in notebook.cells if c.cell_type == "code"]
    outputs = ["".join(text(o) for o in c.outputs) for c in cells]
    markdown = "".join(o.get("data", {}).get("text/markdown", "") for c in cells for o in c.outputs)
    zoo = next(out for out in outputs if "P5 feature map" in out)
    for name in keras_inception.list_models():
        spec = keras_inception.get_spec(name)
        row = next(line for line in zoo.splitlines() if line.startswith(name + " "))
        assert f"{spec.num_params:,}" in row and "(None, 1000)" in row
        size, channels = spec.final_grid
        assert row.endswith(f"{size}x{size}x{channels}")
    prediction = next(out for out in outputs if "top-5" in out)
    assert re.search(r"top-5 \((ImageNet|random) weights\)", prediction)
    assert len(re.findall(r"^  \S+ +[01]\.\d{4}$", prediction, re.MULTILINE)) == 5
    everything = "\n".join(outputs)
    assert "photo: (427, 640, 3) uint8" in everything
    if "random weights" in prediction:
        assert "NOTE: no pretrained weights" in everything
    assert "| mixed_5c |" in markdown and "**total**" in markdown
    macs = float(re.search(r"stages, ([\d.]+) G multiply-adds", everything).group(1))
    assert 1.4 < macs < 1.6  # GoogLeNet, Szegedy et al. 2015: "1.5 billion multiply-adds"
    assert all(f"P{i}: (1, " in everything for i in range(1, 6))


# --- scripts ------------------------------------------------------------------------------


def test_finetune_folder_smoke(tmp_path):
    run = tmp_path / "run"
    stdout = _run_example("finetune_folder.py", "--smoke", "--run-dir", str(run), cwd=tmp_path)

    config = json.loads((run / "config.json").read_text())
    assert config["finetune"] and config["unfreeze_top_blocks"] == 2 and config["weights"] is None
    history = (run / "history.csv").read_text().splitlines()
    assert len(history) == 1 + config["epochs"] + config["finetune_epochs"]  # both phases ran
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (run / "best.keras").exists()
    predicted = re.findall(
        r"^(\w+)/000\.jpg: (\w+) ([\d.]+), (\w+) ([\d.]+)$", stdout, re.MULTILINE
    )
    assert sorted(p[0] for p in predicted) == ["blue", "green", "red"]
    for _, first, first_score, second, second_score in predicted:
        assert {first, second} <= {"blue", "green", "red"} and first != second
        assert float(first_score) >= float(second_score)


def test_export_tflite_smoke(tmp_path):
    out = tmp_path / "toy_int8.tflite"
    stdout = _run_example(
        "export_tflite.py",
        "--smoke",
        "--run-dir",
        str(tmp_path / "run"),
        "--out",
        str(out),
        cwd=tmp_path,
    )

    sidecar = json.loads((tmp_path / "toy_int8.tflite.json").read_text())
    assert sidecar["mode"] == "int8" and sidecar["labels"] == ["blue", "green", "red"]
    assert sidecar["input"]["dtype"] == "uint8" and sidecar["output"]["dtype"] == "uint8"
    assert out.stat().st_size > 0
    parity = re.search(r"top-1 agreement ([\d.]+)% on (\d+) held-out images", stdout)
    compared = re.search(r"validation, (\d+) images: .* agreement ([\d.]+)%", stdout)
    assert parity and compared, stdout
    # The script's own LiteRT run and the exporter's check saw the same held-out images.
    assert compared.group(1) == parity.group(2)
    assert compared.group(2) == parity.group(1)
    assert float(parity.group(1)) >= 98.0


# --- serving client -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """``(model name, serve(signature, list of bytes) -> outputs)`` of an exported SavedModel."""
    import tensorflow as tf

    from keras_inception import InceptionV1
    from keras_inception import export

    model = InceptionV1(
        weights=None, input_shape=(64, 64, 3), depth_multiplier=0.25, classes=len(TOY_CLASSES)
    )
    base = tmp_path_factory.mktemp("saved_models")
    version_dir = export.export_saved_model(
        model, base_dir=str(base), model_name="toy", class_names=TOY_CLASSES, top_k=2
    )
    loaded = tf.saved_model.load(version_dir)

    def serve(signature, images):
        outputs = loaded.signatures[signature](image_bytes=tf.constant(images))
        return {key: value.numpy() for key, value in outputs.items()}

    return "toy", serve


def _rows(outputs):
    """TF Serving's row format: one ``{output: value}`` per instance, strings decoded."""

    def plain(value):
        value = value.tolist()
        if isinstance(value, list):
            return [v.decode("utf-8") if isinstance(v, bytes) else v for v in value]
        return value

    count = len(next(iter(outputs.values())))
    return [{key: plain(value[i]) for key, value in outputs.items()} for i in range(count)]


class _RestHandler(http.server.BaseHTTPRequestHandler):
    """TF Serving's REST ``POST /v1/models/<name>[/versions/<n>]:predict``."""

    route = re.compile(r"^/v1/models/([^/:]+)(?:/versions/(\d+))?:predict$")

    def do_POST(self):
        name, serve = self.server.served
        match = self.route.match(self.path)
        if not match or match.group(1) != name or match.group(2) not in (None, "1"):
            return self._answer(404, {"error": f"Servable not found for request: {self.path}"})
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        images = [
            base64.b64decode((item.get("image_bytes", item))["b64"]) for item in body["instances"]
        ]
        import tensorflow as tf

        try:
            outputs = serve(body.get("signature_name", "serving_default"), images)
        except tf.errors.InvalidArgumentError as error:
            return self._answer(400, {"error": error.message})
        self._answer(200, {"predictions": _rows(outputs)})

    def _answer(self, status, payload):
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def rest_server(served):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RestHandler)
    server.served = served
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _assert_matches_signature(answers, expected):
    assert len(answers) == len(expected)
    for answer, direct in zip(answers, expected):
        assert answer["top_k_labels"] == direct["top_k_labels"]
        assert answer["top_k_indices"] == direct["top_k_indices"]
        assert set(answer["top_k_labels"]) <= set(TOY_CLASSES)
        np.testing.assert_allclose(answer["top_k_scores"], direct["top_k_scores"], rtol=1e-6)
        np.testing.assert_allclose(answer["probabilities"], direct["probabilities"], rtol=1e-6)


def test_rest_client_command_against_a_local_tf_serving_rest_api(served, rest_server, tmp_path):
    name, serve = served
    images = [_jpeg(seed) for seed in range(3)]
    paths = []
    for index, image in enumerate(images):
        paths.append(tmp_path / f"image_{index}.jpg")
        paths[-1].write_bytes(image)

    stdout = _run_example(
        "rest_client.py",
        *map(str, paths),
        "--model",
        name,
        "--server",
        rest_server,
        "--batch-size",
        "2",
        "--json",
        cwd=tmp_path,
    )
    answers = [json.loads(line) for line in stdout.splitlines()]
    assert [a["path"] for a in answers] == [str(p) for p in paths]
    _assert_matches_signature(answers, _rows(serve("serving_default", images)))


def test_rest_client_reports_the_servers_error(served, rest_server):
    rest_client = _load_example("rest_client")
    name, _ = served
    with pytest.raises(rest_client.ServingError, match=r"HTTP 400: .+"):
        rest_client.predict_rest([_jpeg(0), b"not an image"], name, server=rest_server)
    with pytest.raises(rest_client.ServingError, match="HTTP 404: Servable not found"):
        rest_client.predict_rest([_jpeg(0)], name, server=rest_server, version=7)


def test_grpc_client_against_a_local_prediction_service(served):
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    name, serve = served

    class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):
            if request.model_spec.name != name:
                context.abort(grpc.StatusCode.NOT_FOUND, "Servable not found")
            images = list(tf.make_ndarray(request.inputs["image_bytes"]))
            try:
                outputs = serve(request.model_spec.signature_name or "serving_default", images)
            except tf.errors.InvalidArgumentError as error:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, error.message)
            response = predict_pb2.PredictResponse()
            for key, value in outputs.items():
                response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
            return response

    server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionService(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        rest_client = _load_example("rest_client")
        images = [_jpeg(seed) for seed in (5, 6)]
        answers = rest_client.predict_grpc(images, name, target=f"127.0.0.1:{port}")
        _assert_matches_signature(answers, _rows(serve("serving_default", images)))
        with pytest.raises(rest_client.ServingError, match="INVALID_ARGUMENT"):
            rest_client.predict_grpc([b"not an image"], name, target=f"127.0.0.1:{port}")
    finally:
        server.stop(0)


def test_grpc_without_serving_api_says_what_to_install(monkeypatch):
    rest_client = _load_example("rest_client")
    monkeypatch.setitem(sys.modules, "tensorflow_serving", None)
    monkeypatch.setitem(sys.modules, "tensorflow_serving.apis", None)
    with pytest.raises(ImportError, match="pip install tensorflow-serving-api"):
        rest_client.predict_grpc([b"..."], "toy")
