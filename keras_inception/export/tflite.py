"""TFLite (LiteRT) export with a parity check against the Keras model.

Modes (``tf.lite.TFLiteConverter``):

- ``float32``: the graph as it is;
- ``float16``: weights stored as float16 (half the size), computed in float32
  or float16 depending on the runtime's delegate;
- ``dynamic``: dynamic-range quantization, int8 weights and float activations;
- ``int8``: full integer quantization, int8 or uint8 input and output,
  calibrated on images from the evaluation pipeline of the user's data
  (``keras_inception.data.calibration_images``), so the activation ranges are
  those of the images the model will see. The ops of ``FLOAT_OPS`` (average
  pooling) stay float32 so that LiteRT's XNNPACK delegate runs the whole graph
  in one partition: this made int8 the fastest mode (docs/serving.md).

The model takes pixels (decoding an image is the app's job, so no Select TF op
is needed) and only builtin ops are allowed: a model that would need Select TF
(Flex) ops fails with a ``ValueError`` naming them.

Every export runs the converted model in the LiteRT interpreter
(``ai_edge_litert``) and compares it with the Keras model before writing the
file: float32 within 1e-4 (max abs difference of the outputs), float16 within
1e-2 of the outputs' largest magnitude, and for ``dynamic``/``int8`` top-1
agreement of at least 98% on the held-out real images that the float model
decides (``keras_inception.export.parity``; a model with random weights decides
none, and the report says the check could not test it). The labels and the input
normalization go to a JSON file beside the ``.tflite`` (``sidecar_path``),
with the model's SHA-256 so a reader can tell that the pair belongs together.
Both are written atomically (temporary file, fsync, rename, with the mode the
user's umask allows).
They are not embedded as TFLite metadata: the library that writes it,
tflite-support, is no longer maintained.
"""

import hashlib
import os
import re

import numpy as np
import tensorflow as tf

from keras_inception import atomic
from keras_inception._extras import require
from keras_inception.export import parity as parity_lib
from keras_inception.export.source import SCALED_RANGE
from keras_inception.export.source import load_source
from keras_inception.export.source import resolve_class_names

MODES = ("float32", "float16", "dynamic", "int8")
# Ops an ``int8`` model computes in float32. LiteRT's XNNPACK delegate (its
# default CPU backend) has no quantized AVERAGE_POOL_2D: left in int8, each of
# Inception-v3's nine 3x3 average pools runs in LiteRT's own kernel and cuts
# the graph into ten XNNPACK partitions, which made full int8 slower than
# dynamic-range quantization (benchmarks/bench_int8.py). In float32 between a
# dequantize and a quantize, which XNNPACK takes, the whole graph is one
# partition.
FLOAT_OPS = ("AVERAGE_POOL_2D",)
IO_TYPES = ("int8", "uint8")
# The parity bounds of each mode: ``max_abs_diff`` of the outputs (logits or
# probabilities, as the model gives them), ``max_rel_diff`` (the same divided
# by the largest output magnitude), or ``decided_top1_agreement`` with Keras
# (``keras_inception.export.parity``). float16
# rounds every weight to 11 significant bits, which moves the logits in
# proportion to their scale (on the trained digits model of the tests: 0.035
# absolute on logits up to 19, 0.011 on the probabilities), so its bound is
# relative.
PARITY_BOUNDS = {
    "float32": ("max_abs_diff", 1e-4),
    "float16": ("max_rel_diff", 1e-2),
    "dynamic": ("decided_top1_agreement", 0.98),
    "int8": ("decided_top1_agreement", 0.98),
}
SIDECAR_FORMAT = "keras_inception.tflite/1"

_FLEX_OP = re.compile(r"'tf\.(\w+)' op is neither a custom op nor a flex op")


def sidecar_path(tflite_path):
    """The JSON file beside a ``.tflite`` that holds its labels and input normalization."""
    return f"{os.fspath(tflite_path)}.json"


class LiteRTClassifier:
    """A ``.tflite`` classifier in the LiteRT interpreter, fed float model inputs.

    Quantizes the input and dequantizes the output of an integer model, so a
    caller always passes what the Keras model takes and gets what it returns.

    Args:
        model_path: path of a ``.tflite`` file (or ``None`` with ``model_content``).
        model_content: the ``.tflite`` bytes, default ``None``.
        num_threads: interpreter threads, default ``None`` (LiteRT's choice).
    """

    def __init__(self, model_path=None, *, model_content=None, num_threads=None):
        Interpreter = require("ai_edge_litert.interpreter").Interpreter

        self.interpreter = Interpreter(
            model_path=model_path, model_content=model_content, num_threads=num_threads
        )
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self._batch = None

    def __call__(self, images):
        """Outputs ``[batch, classes]`` float32 for float32 inputs ``[batch, H, W, 3]``."""
        images = np.asarray(images, dtype=np.float32)
        if self._batch != len(images):
            self.interpreter.resize_tensor_input(self.input["index"], images.shape)
            self.interpreter.allocate_tensors()
            self._batch = len(images)
        self.interpreter.set_tensor(self.input["index"], _quantize(images, self.input))
        self.interpreter.invoke()
        return _dequantize(self.interpreter.get_tensor(self.output["index"]), self.output)


def export_tflite(
    source,
    out_path,
    *,
    mode="float32",
    calibration_data=None,
    class_names=None,
    check_parity=True,
    io_type="uint8",
    num_calibration_images=200,
    num_parity_images=100,
    float_ops=FLOAT_OPS,
):
    """Converts a classifier to a ``.tflite`` file, checks it, writes it with its sidecar.

    Args:
        source: what ``load_source`` accepts: a ``keras.Model``, a ``.keras``
            file, a run directory or a registry name.
        out_path: the ``.tflite`` file to write (atomically); the sidecar JSON
            goes to ``sidecar_path(out_path)``.
        mode: ``"float32"`` (default), ``"float16"``, ``"dynamic"`` or ``"int8"``.
        calibration_data: images of the user's data: a ``build_dataset``
            source (a directory, TFRecords, ``"tfds:NAME"``, ``"digits"``),
            read through ``data.calibration_images`` with the evaluation
            preprocessing, or an iterable of float32 arrays ``[batch, H, W, 3]``
            already in the model's input range. Required for ``int8``; in
            every mode the images after the first ``num_calibration_images``
            serve as the held-out parity set. Default ``None``.
        class_names: class names in output order, default ``None``: those of
            the source, else ``"0"``..``"n-1"``.
        check_parity: run the parity check and refuse to write a model that
            fails it, default ``True``.
        io_type: input/output type of an ``int8`` model, ``"uint8"`` (default)
            or ``"int8"``.
        num_calibration_images: images used to calibrate ``int8``, default
            200 (100-500 is the useful range).
        num_parity_images: held-out images for the parity check, default 100.
        float_ops: TFLite op names an ``int8`` model computes in float32
            (selective quantization), default ``FLOAT_OPS``; ``()`` quantizes
            every op.

    Returns:
        A report dict: ``path``, ``sidecar``, ``mode``, ``size_bytes``, ``sha256``,
        ``float32_weight_bytes`` (4 bytes per parameter), ``input`` and
        ``output`` (dtype, shape, quantization), ``float_ops`` (the ops kept
        in float32) and ``parity`` (figures, bound, ``passed``; ``None``
        without ``check_parity``).

    Raises:
        ValueError: a bad argument, a model that needs Select TF ops, or a
            failed parity check.
    """
    if mode not in MODES:
        raise ValueError(f"`mode` must be one of {MODES}. Received: mode={mode!r}")
    if io_type not in IO_TYPES:
        raise ValueError(f"`io_type` must be one of {IO_TYPES}. Received: io_type={io_type!r}")
    if mode == "int8" and calibration_data is None:
        raise ValueError(
            "Full integer quantization needs images of your data to calibrate on; "
            "pass calibration_data (a dataset source or arrays). "
            f"Received: calibration_data={calibration_data!r}"
        )
    out_path = os.fspath(out_path)
    model, source_names, meta = load_source(source)
    class_names = resolve_class_names(
        class_names if class_names is not None else source_names, meta["num_classes"]
    )
    calibration, held_out = parity_lib.image_sets(
        calibration_data,
        meta,
        num_calibration_images,
        num_parity_images,
        names=("num_calibration_images", "num_parity_images"),
    )
    if not isinstance(float_ops, (list, tuple)) or not all(
        isinstance(op, str) and op.isupper() for op in float_ops
    ):
        raise ValueError(
            "`float_ops` must be a sequence of TFLite op names such as 'AVERAGE_POOL_2D'. "
            f"Received: float_ops={float_ops!r}"
        )
    content = _convert(model, mode, calibration, io_type, tuple(float_ops))
    classifier = LiteRTClassifier(model_content=content)
    parity = None
    if check_parity:
        parity = parity_check(
            model,
            classifier,
            mode,
            held_out,
            output_kind=meta["output"],
            input_range=meta["input_range"],
        )
        if not parity["passed"]:
            raise ValueError(
                f"{parity_lib.failure_message(parity, f'The {mode} TFLite model')}; "
                f"nothing was written. Received: mode={mode!r}"
            )
    report = {
        "path": out_path,
        "sidecar": sidecar_path(out_path),
        "mode": mode,
        "size_bytes": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "float32_weight_bytes": 4 * model.count_params(),
        "input": _tensor_facts(classifier.input),
        "output": _tensor_facts(classifier.output),
        "float_ops": list(float_ops) if mode == "int8" else [],
        "parity": parity,
    }
    directory = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(directory, exist_ok=True)
    atomic.write_bytes(out_path, content, fault="export.tflite")
    atomic.write_json(
        report["sidecar"], _sidecar(meta, mode, class_names, report), fault="export.tflite_sidecar"
    )
    return report


def parity_check(
    model, classifier, mode, images=None, *, output_kind="logits", input_range=SCALED_RANGE
):
    """Compares a converted model with its Keras model on the same inputs.

    Args:
        model: the Keras model.
        classifier: a ``LiteRTClassifier`` of the converted model.
        mode: the conversion mode, which selects the bound (``PARITY_BOUNDS``).
        images: held-out float32 model inputs ``[n, H, W, 3]``; default
            ``None``: seeded random images (``parity.synthetic_images``), on
            which a top-1 bound is reported but not enforced (agreement on
            noise says nothing about a trained model).
        output_kind: what the model outputs, ``"logits"`` (default) or
            ``"probabilities"`` (``meta["output"]`` of ``load_source``).
        input_range: the model's input range, default ``(-1, 1)``
            (``meta["input_range"]``), for the synthetic images.

    Returns:
        The dict of ``parity.compare``.
    """
    metric, bound = PARITY_BOUNDS[mode]
    return parity_lib.check(
        model,
        lambda inputs: np.concatenate([classifier(inputs[i : i + 1]) for i in range(len(inputs))]),
        metric,
        bound,
        images,
        output_kind=output_kind,
        input_range=input_range,
    )


def _convert(model, mode, calibration, io_type, float_ops):
    # A concrete function without a trackable object makes the converter
    # freeze the variables into constants directly: several times faster than
    # ``from_keras_model``, which writes and reloads a SavedModel first.
    function = tf.function(
        lambda images: model(images, training=False),
        input_signature=[tf.TensorSpec([None, *model.input_shape[1:]], tf.float32, name="image")],
    )
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if mode != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if mode == "int8":
        converter.representative_dataset = lambda: ([image[None]] for image in calibration)
        if float_ops:
            return _convert_selectively(converter, calibration, io_type, float_ops, model.name)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.as_dtype(io_type)
        converter.inference_output_type = tf.as_dtype(io_type)
    return _run_converter(converter.convert, model.name)


def _convert_selectively(converter, calibration, io_type, float_ops, model_name):
    """Full integer quantization with ``float_ops`` left in float32."""
    # Selective quantization, TensorFlow's documented use of its quantization
    # debugger: the ops stay float32 between a dequantize and a quantize.
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter,
        debug_dataset=lambda: ([image[None]] for image in calibration[:1]),
        debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=list(float_ops)),
    )
    content = _run_converter(debugger.get_nondebug_quantized_model, model_name)
    # The debugger leaves float32 input and output around the integer graph;
    # the converter's own step for ``inference_input_type`` makes them integer.
    # It has no public name, so TensorFlow's module path is used directly.
    from tensorflow.lite.python.util import modify_model_io_type

    io_dtype = tf.as_dtype(io_type)
    return modify_model_io_type(content, io_dtype, io_dtype)


def _run_converter(convert, model_name):
    try:
        return convert()
    except Exception as error:
        flex_ops = sorted(set(_FLEX_OP.findall(str(error))))
        if not flex_ops:
            raise
        raise ValueError(
            "The model needs TensorFlow ops that TFLite has no builtin kernel for "
            f"({', '.join(flex_ops)}); builtin ops only are allowed, so replace "
            f"the layers using them. Received: model={model_name!r}"
        ) from error


def _quantize(values, details):
    if details["dtype"] == np.float32:
        return values
    scale, zero_point = details["quantization"]
    info = np.iinfo(details["dtype"])
    quantized = np.round(values / scale + zero_point)
    return np.clip(quantized, info.min, info.max).astype(details["dtype"])


def _dequantize(values, details):
    if details["dtype"] == np.float32:
        return values.astype(np.float32)
    scale, zero_point = details["quantization"]
    return (values.astype(np.float32) - zero_point) * scale


def _tensor_facts(details):
    scale, zero_point = details["quantization"]
    return {
        "name": details["name"],
        "dtype": np.dtype(details["dtype"]).name,
        "shape": [int(d) for d in details["shape_signature"]],
        "quantization": ({"scale": float(scale), "zero_point": int(zero_point)} if scale else None),
    }


def _sidecar(meta, mode, class_names, report):
    from keras_inception import __version__

    low, high = meta["input_range"]
    # The affine map of 0-255 pixels onto the model's input range.
    std = 255.0 / (high - low)
    return {
        "format": SIDECAR_FORMAT,
        "model": meta["model"],
        "mode": mode,
        # Which .tflite this sidecar describes: an export killed between the
        # two renames leaves a new model beside an old sidecar.
        "model_sha256": report["sha256"],
        "labels": class_names,
        "input": {
            **report["input"],
            "range": meta["input_range"],
            "normalization": {
                "mean": [-low * std] * 3,
                "std": [std] * 3,
                "formula": "model_input = (pixel - mean) / std, RGB pixels in 0-255",
            },
            "image_size": meta["image_size"],
            "central_fraction": meta["central_fraction"],
            "resize": "bilinear",
            "layout": "NHWC",
        },
        "output": {**report["output"], "kind": meta["output"]},
        "float_ops": report["float_ops"],
        "parity": report["parity"],
        "tensorflow_version": tf.__version__,
        "keras_inception_version": __version__,
    }
