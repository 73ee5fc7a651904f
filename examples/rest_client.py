"""Classify image files with a keras_inception model served by TensorFlow Serving.

The SavedModel of ``keras-inception export`` (``export.export_saved_model``)
decodes, crops and scales images in its graph, so a client sends the encoded
files as they are: over REST, base64 in JSON (``{"b64": ...}``); over gRPC,
the raw bytes in a ``DT_STRING`` tensor. Each answer holds the top-k labels
and scores (``top_k_labels``, ``top_k_scores``) and the full
``probabilities``. See ``examples/serve_tf_serving.md`` for the server.

    python examples/rest_client.py cat.jpg dog.png --model inception_v3
    python examples/rest_client.py *.jpg --model flowers --server http://gpu-box:8501 --json
    python examples/rest_client.py cat.jpg --model flowers --grpc localhost:8500

REST needs only the Python standard library. gRPC needs the
``tensorflow-serving-api`` package (``pip install tensorflow-serving-api``, the
release matching your TensorFlow), which brings TensorFlow with it.
"""

import argparse
import base64
import json
import sys
import urllib.error
import urllib.request

# The signature and input name that ``export.export_saved_model`` writes.
SIGNATURE = "serving_default"
INPUT_KEY = "image_bytes"
OUTPUT_KEYS = ("probabilities", "top_k_indices", "top_k_scores", "top_k_labels")


class ServingError(RuntimeError):
    """The server refused a request; the message is the server's own."""


def model_path(model_name, version=None):
    """The model's path on the server, with an explicit version or the latest."""
    return f"v1/models/{model_name}" + (f"/versions/{version}" if version else "")


def predict_rest(
    images,
    model_name,
    *,
    server="http://localhost:8501",
    version=None,
    signature=SIGNATURE,
    timeout=30.0,
):
    """Sends encoded images to TF Serving's REST ``:predict`` endpoint.

    Args:
        images: encoded image files (``bytes``: JPEG, PNG, GIF or BMP).
        model_name: the served model's name (its directory under the base path).
        server: the REST address, default ``"http://localhost:8501"``.
        version: a model version, default ``None`` (the latest the server has).
        signature: the signature to call, default ``"serving_default"``.
        timeout: seconds to wait for the answer, default 30.

    Returns:
        One dict per image with the signature's outputs
        (``probabilities``, ``top_k_indices``, ``top_k_scores``, ``top_k_labels``).

    Raises:
        ServingError: the server answered with an error (an image that does
            not decode fails the whole request).
        OSError: the server cannot be reached.
    """
    body = json.dumps(
        {
            "signature_name": signature,
            "instances": [{"b64": base64.b64encode(image).decode("ascii")} for image in images],
        }
    ).encode("utf-8")
    request = urllib.request.Request(
        f"{server.rstrip('/')}/{model_path(model_name, version)}:predict",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as error:
        raise ServingError(f"HTTP {error.code}: {_error_text(error)}") from None
    return answer["predictions"]


def predict_grpc(
    images, model_name, *, target="localhost:8500", version=None, signature=SIGNATURE, timeout=30.0
):
    """Sends encoded images to TF Serving's gRPC ``PredictionService.Predict``.

    Args:
        images: encoded image files (``bytes``).
        model_name: the served model's name.
        target: the gRPC ``host:port``, default ``"localhost:8500"``.
        version: a model version, default ``None`` (the latest).
        signature: the signature to call, default ``"serving_default"``.
        timeout: seconds to wait for the answer, default 30.

    Returns:
        One dict per image, as ``predict_rest`` returns.

    Raises:
        ServingError: the server answered with an error.
        ImportError: ``tensorflow-serving-api`` is not installed.
    """
    try:
        import grpc
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2
        from tensorflow_serving.apis import prediction_service_pb2_grpc
    except ImportError as error:
        raise ImportError(
            "gRPC needs the tensorflow-serving-api package: pip install "
            f"tensorflow-serving-api (the release matching your TensorFlow), or use REST. ({error})"
        ) from None
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature
    if version:
        request.model_spec.version.value = int(version)
    request.inputs[INPUT_KEY].CopyFrom(
        tf.make_tensor_proto(list(images), dtype=tf.string, shape=[len(images)])
    )
    with grpc.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            response = stub.Predict(request, timeout=timeout)
        except grpc.RpcError as error:
            raise ServingError(f"{error.code().name}: {error.details()}") from None
    outputs = {key: tf.make_ndarray(response.outputs[key]) for key in OUTPUT_KEYS}
    return [
        {
            key: [v.decode("utf-8") if isinstance(v, bytes) else v.item() for v in values[i]]
            for key, values in outputs.items()
        }
        for i in range(len(images))
    ]


def _error_text(error):
    """TF Serving's ``{"error": ...}`` message, else the raw body."""
    text = error.read().decode("utf-8", "replace")
    try:
        return json.loads(text)["error"]
    except (ValueError, KeyError, TypeError):
        return text or error.reason


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="+", help="image files (JPEG, PNG, GIF, BMP)")
    parser.add_argument("--model", required=True, help="served model name")
    parser.add_argument("--version", type=int, help="model version (default: the latest)")
    parser.add_argument(
        "--server",
        default="http://localhost:8501",
        help="REST address (default http://localhost:8501)",
    )
    parser.add_argument(
        "--grpc",
        metavar="HOST:PORT",
        help="use gRPC at this address instead of REST (e.g. localhost:8500)",
    )
    parser.add_argument("--signature", default=SIGNATURE, help=f"signature (default {SIGNATURE})")
    parser.add_argument(
        "--batch-size", type=int, default=16, help="images per request (default 16)"
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds per request (default 30)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the answers as JSON (one object per image)"
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.batch_size < 1:
        print(f"error: --batch-size must be positive. Received: {args.batch_size}", file=sys.stderr)
        return 2
    common = dict(version=args.version, signature=args.signature, timeout=args.timeout)
    if args.grpc:

        def send(batch):
            return predict_grpc(batch, args.model, target=args.grpc, **common)
    else:

        def send(batch):
            return predict_rest(batch, args.model, server=args.server, **common)

    results = []
    try:
        for start in range(0, len(args.images), args.batch_size):
            paths = args.images[start : start + args.batch_size]
            batch = []
            for path in paths:
                with open(path, "rb") as f:
                    batch.append(f.read())
            results += [{"path": p, **answer} for p, answer in zip(paths, send(batch))]
    except (ServingError, ImportError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for result in results:
        if args.json:
            print(json.dumps({k: result[k] for k in ("path",) + OUTPUT_KEYS}))
        else:
            best = ", ".join(
                f"{label} {score:.3f}"
                for label, score in zip(result["top_k_labels"], result["top_k_scores"])
            )
            print(f"{result['path']}: {best}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
