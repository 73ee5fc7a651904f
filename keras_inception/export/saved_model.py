"""SavedModel export for TF Serving.

The model is saved in TF Serving's layout, ``<base_dir>/<model_name>/<version>/``,
with three signatures:

- ``serving_default``: ``image_bytes``, a ``tf.string [batch]`` of encoded
  JPEG/PNG/GIF/BMP files. Decoding, the evaluation crop and resize of
  ``keras_inception.data`` (``load_pixels``) and the input scaling run in the graph, so a REST
  client sends ``{"instances": [{"b64": "..."}]}``. A file that does not decode
  fails its request with ``InvalidArgumentError``; there is no fallback image.
  Before anything is decoded, the image size is read from the header and an
  image of more than ``max_pixels`` pixels (an argument of the export, recorded
  in ``export_meta.json``) fails its request the same way: a 400 KB PNG can
  hold 20000x20000 pixels, 1.2 GB once decoded. The images of a batch are
  decoded one at a time, so one request holds at most one decoded image.
- ``serving_pixels``: ``pixels``, float32 ``[batch, H, W, 3]`` in 0-255, for
  clients that crop and resize themselves.
- ``serving_pixels_uint8``: the same with uint8 pixels (a cast, then as above).

The served graph is ``export.serving_copy(model, precision)``: batch norm
folded into the convolutions (no batch norm ops left to run after each
conv at serving time; ``keras_inception.inference``), computed in float32 or, with
``precision="bfloat16"``, in bfloat16 for CPUs with bfloat16 matrix units;
inputs, outputs and signatures are the same in both. It is compared with the
float32 Keras model before anything is written (``parity_check``).

Each returns ``probabilities`` ``[batch, classes]`` (a softmax is added to a
model that outputs logits), ``top_k_indices``, ``top_k_scores`` and
``top_k_labels``; the labels come from ``assets/labels.txt`` through a lookup
table, so they travel with the model.

The version directory is written under a hidden temporary name in the same
parent (``.staging-<pid>-*``), fsynced, given the modes the user's umask allows
(a server running as another user must be able to read it) and renamed into
place, so a server polling ``<model_name>/`` never loads half a model. An
export killed midway leaves its staging directory behind; the next export to
the same model directory removes those whose process is gone.
``assets.extra/export_meta.json`` records the TensorFlow version that wrote it
(a server older than that may lack some of its ops).
"""

import datetime
import os
import re
import shutil
import tempfile

import keras
import tensorflow as tf

from keras_inception import atomic
from keras_inception import faults
from keras_inception import image_header
from keras_inception import inference
from keras_inception.export import parity as parity_lib
from keras_inception.export import serving_config
from keras_inception.export.source import PIXEL_RANGE
from keras_inception.export.source import SCALED_RANGE
from keras_inception.export.source import load_source
from keras_inception.export.source import resolve_class_names
from keras_inception.export.source import to_probabilities

SIGNATURE_BYTES = "serving_default"
SIGNATURE_PIXELS = "serving_pixels"
SIGNATURE_PIXELS_UINT8 = "serving_pixels_uint8"
LABELS_FILE = "labels.txt"
META_FILE = os.path.join("assets.extra", "export_meta.json")
STAGING_PREFIX = ".staging-"

# The parity bound of each precision against the float32 Keras model. Folding
# batch norm changes float32 results by rounding only (about 1e-7 of the
# largest output); bfloat16 keeps 8 significant bits, so its bound is on the
# decisions (``parity.compare``).
PARITY_BOUNDS = {
    "float32": ("max_rel_diff", 1e-4),
    "bfloat16": ("decided_top1_agreement", 0.99),
}

_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ServingModule(tf.Module):
    """A classifier wrapped with decoding, scaling, softmax and top-k for serving.

    Args:
        model: a ``keras.Model`` with one ``[batch, classes]`` output and a
            static ``(H, W, 3)`` input.
        labels_path: text file with one class name per line, in class order.
        input_range: ``(0, 255)`` when the model scales its own input (a
            ``preprocessing`` layer), ``(-1, 1)`` when the graph must.
        output_kind: ``"logits"`` or ``"probabilities"``.
        top_k: number of classes in the ``top_k_*`` outputs, default 5
            (at most the number of classes).
        central_fraction: the evaluation crop of ``serving_default``,
            default 0.875.
        max_pixels: ``serving_default`` refuses larger images before decoding
            them, default ``image_header.DEFAULT_MAX_PIXELS``.
    """

    def __init__(
        self,
        model,
        labels_path,
        *,
        input_range,
        output_kind,
        top_k=5,
        central_fraction=0.875,
        max_pixels=image_header.DEFAULT_MAX_PIXELS,
    ):
        super().__init__(name="keras_inception_serving")
        self.model = model
        self.labels_file = tf.saved_model.Asset(labels_path)
        self.labels = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(
                self.labels_file,
                tf.int64,
                tf.lookup.TextFileIndex.LINE_NUMBER,
                tf.string,
                tf.lookup.TextFileIndex.WHOLE_LINE,
            ),
            default_value="",
        )
        self._scale_in_graph = tuple(input_range) != PIXEL_RANGE
        self._output_kind = output_kind
        self.central_fraction = central_fraction
        self.max_pixels = max_pixels
        self.num_classes = int(model.output.shape[-1])
        self.top_k = min(top_k, self.num_classes)
        self._height, self._width = (int(size) for size in model.input_shape[1:3])
        pixels_shape = [None, self._height, self._width, 3]
        self.serve_bytes = tf.function(
            self._serve_bytes,
            input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")],
        )
        self.serve_pixels = tf.function(
            self.classify,
            input_signature=[tf.TensorSpec(pixels_shape, tf.float32, name="pixels")],
        )
        self.serve_pixels_uint8 = tf.function(
            self.classify,
            input_signature=[tf.TensorSpec(pixels_shape, tf.uint8, name="pixels")],
        )

    def signatures(self):
        """The signature map for ``tf.saved_model.save``."""
        return {
            SIGNATURE_BYTES: self.serve_bytes.get_concrete_function(),
            SIGNATURE_PIXELS: self.serve_pixels.get_concrete_function(),
            SIGNATURE_PIXELS_UINT8: self.serve_pixels_uint8.get_concrete_function(),
        }

    def classify(self, pixels):
        """0-255 pixels ``[batch, H, W, 3]`` (float or uint8) -> the output dict."""
        from keras_inception.preprocessing import preprocess_input

        pixels = tf.cast(pixels, tf.float32)
        inputs = preprocess_input(pixels) if self._scale_in_graph else pixels
        # TensorFlow's CPU convolutions fail on an empty batch ("Matrix
        # size-incompatible"); an empty request gets an empty answer.
        probabilities = tf.cond(
            tf.shape(inputs)[0] > 0,
            lambda: to_probabilities(self.model(inputs, training=False), self._output_kind),
            lambda: tf.zeros([0, self.num_classes]),
        )
        scores, indices = tf.math.top_k(probabilities, k=self.top_k)
        return {
            "probabilities": probabilities,
            "top_k_indices": indices,
            "top_k_scores": scores,
            "top_k_labels": self.labels.lookup(tf.cast(indices, tf.int64)),
        }

    def _serve_bytes(self, image_bytes):
        pixels = tf.map_fn(
            lambda one_image: load_pixels(
                one_image, self._height, self._width, self.central_fraction, self.max_pixels
            ),
            image_bytes,
            fn_output_signature=tf.TensorSpec([self._height, self._width, 3], tf.float32),
            # One decoded image at a time bounds a request's memory.
            parallel_iterations=1,
        )
        return self.classify(pixels)


def load_pixels(
    image_bytes,
    height,
    width,
    central_fraction=0.875,
    max_pixels=image_header.DEFAULT_MAX_PIXELS,
):
    """One encoded image -> float32 ``[height, width, 3]`` pixels in 0-255, for serving.

    ``image_header.tf_check_max_pixels``, then ``data.decode_image`` then
    ``data.preprocess_for_eval``: the whole file is decoded, so a truncated or
    lying file raises ``InvalidArgumentError``. (``data.load_for_eval`` decodes
    only the crop, and libjpeg fills what a short JPEG lacks with grey instead
    of failing.)

    Args:
        image_bytes: scalar string tensor, the encoded file.
        height: output height.
        width: output width.
        central_fraction: the evaluation crop, default 0.875.
        max_pixels: larger images (by their header, all GIF frames together)
            raise ``InvalidArgumentError`` before any decoding, default
            ``image_header.DEFAULT_MAX_PIXELS``.
    """
    from keras_inception import data

    image = data.decode_image(image_header.tf_check_max_pixels(image_bytes, max_pixels))
    return data.preprocess_for_eval(image, height, width, central_fraction, scale=False)


def export_saved_model(
    source,
    *,
    base_dir="saved_models",
    model_name=None,
    version=None,
    class_names=None,
    top_k=5,
    serving_base_path=serving_config.DEFAULT_SERVING_BASE_PATH,
    max_pixels=image_header.DEFAULT_MAX_PIXELS,
    precision="float32",
    parity_data=None,
    num_parity_images=100,
    check_parity=True,
):
    """Exports a classifier as a TF Serving SavedModel, atomically.

    Writes ``<base_dir>/<model_name>/<version>/`` (signatures in the module
    docstring) and refreshes ``<base_dir>/models.config`` and
    ``<base_dir>/batching_parameters.txt``. The served graph is
    ``export.serving_copy(model, precision)``: batch norm folded into the
    convolutions, computed in ``precision``; before anything is written it is
    checked against the float32 Keras model (``PARITY_BOUNDS``).

    Args:
        source: what ``load_source`` accepts: a ``keras.Model``, a ``.keras``
            file, a run directory or a registry name.
        base_dir: TF Serving's model base directory, default ``"saved_models"``.
        model_name: the served model's name, default the source's model name.
        version: positive integer version; default ``None``, the next integer
            after the versions already there (1 for the first).
        class_names: class names in output order, default ``None``: those of
            the source, else ``"0"``..``"n-1"``.
        top_k: number of classes in the ``top_k_*`` outputs, default 5.
        serving_base_path: where the server sees ``base_dir`` (written into
            ``models.config``), default ``"/models"``.
        max_pixels: ``serving_default`` refuses an image of more pixels (read
            from its header, before decoding) with ``InvalidArgumentError``,
            default ``image_header.DEFAULT_MAX_PIXELS`` (40,000,000).
        precision: ``"float32"`` (default) or ``"bfloat16"``: bfloat16
            activations and matrix products, float32 inputs, variables and
            probabilities; for CPUs with bfloat16 matrix units (AMX), see
            docs/serving.md. Signatures are the same in both.
        parity_data: held-out images of the user's data for the parity check,
            as ``export_tflite``'s ``calibration_data`` takes them (a dataset
            source or float32 arrays in the model's input range); default
            ``None``: seeded random images, which test the float32 export's
            numbers but cannot test bfloat16's top-1 agreement (the report
            says so).
        num_parity_images: held-out images to check, default 100.
        check_parity: run the parity check, default ``True``.

    Returns:
        The path of the version directory. Its
        ``assets.extra/export_meta.json`` holds ``precision`` and the
        ``parity`` figures.

    Raises:
        ValueError: a bad argument, ``version`` already exists, or the served
            graph fails its parity check (nothing is written).
    """
    if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
        raise ValueError(f"`top_k` must be a positive integer. Received: top_k={top_k!r}")
    if version is not None and (
        not isinstance(version, int) or isinstance(version, bool) or version < 1
    ):
        raise ValueError(f"`version` must be a positive integer. Received: version={version!r}")
    if not isinstance(max_pixels, int) or isinstance(max_pixels, bool) or max_pixels < 1:
        raise ValueError(
            f"`max_pixels` must be a positive integer. Received: max_pixels={max_pixels!r}"
        )
    if precision not in inference.PRECISIONS:
        raise ValueError(
            f"`precision` must be one of {inference.PRECISIONS}. Received: precision={precision!r}"
        )
    model, source_names, meta = load_source(source)
    class_names = resolve_class_names(
        class_names if class_names is not None else source_names, meta["num_classes"]
    )
    _, held_out = parity_lib.image_sets(
        parity_data, meta, 0, num_parity_images, names=("first", "num_parity_images")
    )
    served = inference.serving_copy(model, precision)
    parity = None
    if check_parity:
        parity = parity_check(model, served, precision, held_out, meta)
        if not parity["passed"]:
            raise ValueError(
                f"{parity_lib.failure_message(parity, f'The {precision} SavedModel graph')}; "
                f"nothing was written. Received: precision={precision!r}"
            )
    model_name = model_name or meta["model"]
    if not _MODEL_NAME.match(model_name):
        raise ValueError(
            "`model_name` must be letters, digits, '_', '.' or '-' (it names a "
            f"directory and a URL path). Received: model_name={model_name!r}"
        )
    model_dir = os.path.join(base_dir, model_name)
    if version is not None and os.path.exists(os.path.join(model_dir, str(version))):
        raise ValueError(
            f"Version {version} of {model_name!r} already exists in {base_dir!r}. "
            f"Received: version={version!r}"
        )
    os.makedirs(model_dir, exist_ok=True)
    # Exports killed midway left these; a concurrent export's are kept (its pid lives).
    atomic.remove_stale(model_dir, STAGING_PREFIX)
    # TF Serving only loads all-digit directory names, so it skips these.
    prefix = f"{STAGING_PREFIX}{os.getpid()}-"
    staging = tempfile.mkdtemp(prefix=prefix, dir=model_dir)
    scratch = tempfile.mkdtemp(prefix=prefix, dir=model_dir)
    try:
        labels_path = os.path.join(scratch, LABELS_FILE)
        atomic.write_text(labels_path, "".join(f"{name}\n" for name in class_names))
        module = ServingModule(
            served,
            labels_path,
            input_range=meta["input_range"],
            output_kind=meta["output"],
            top_k=top_k,
            central_fraction=meta["central_fraction"],
            max_pixels=max_pixels,
        )
        tf.saved_model.save(module, staging, signatures=module.signatures())
        faults.point("export.model_saved")
        os.makedirs(os.path.join(staging, "assets.extra"))
        atomic.write_json(
            os.path.join(staging, META_FILE),
            _export_meta(meta, model_name, len(class_names), module, precision, parity),
        )
        faults.point("export.meta_written")
        atomic.publish_tree(staging)
        atomic.fsync_tree(staging)
        faults.point("export.before_publish")
        version_dir = _publish(staging, model_dir, version)
        atomic.fsync_dir(model_dir)
        faults.point("export.published")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    serving_config.write_serving_config(base_dir, serving_base_path)
    return version_dir


def _publish(staging, model_dir, version):
    """Renames ``staging`` to the version directory; the next free one if ``version`` is None."""
    while True:
        target = version or (serving_config.model_versions(model_dir) or [0])[-1] + 1
        version_dir = os.path.join(model_dir, str(target))
        try:
            # rename is atomic, and fails if another export took the name.
            os.rename(staging, version_dir)
            return version_dir
        except OSError:
            if version is not None or not os.path.exists(version_dir):
                raise


def parity_check(model, served, precision, images=None, meta=None):
    """Compares the served graph of an export with the float32 Keras model.

    Args:
        model: the Keras model.
        served: its ``serving_copy``.
        precision: the export precision, which selects the bound (``PARITY_BOUNDS``).
        images: held-out float32 model inputs ``[n, H, W, 3]``; default
            ``None``: seeded random images (a top-1 bound is then reported but
            not enforced).
        meta: the ``load_source`` facts (output kind, input range), default
            ``None``: logits in [-1, 1].

    Returns:
        The dict of ``parity.compare``.
    """
    meta = meta or {"output": "logits", "input_range": SCALED_RANGE}
    metric, bound = PARITY_BOUNDS[precision]
    return parity_lib.check(
        model,
        lambda inputs: parity_lib.keras_outputs(served, inputs),
        metric,
        bound,
        images,
        output_kind=meta["output"],
        input_range=meta["input_range"],
    )


def _export_meta(meta, model_name, num_classes, module, precision, parity):
    from keras_inception import __version__

    return {
        "model_name": model_name,
        "model": meta["model"],
        "source": meta["source"],
        "image_size": meta["image_size"],
        "central_fraction": meta["central_fraction"],
        "num_classes": num_classes,
        "top_k": module.top_k,
        "max_pixels": module.max_pixels,
        "input_range": meta["input_range"],
        "model_output": meta["output"],
        "precision": precision,
        "parity": parity,
        "signatures": [SIGNATURE_BYTES, SIGNATURE_PIXELS, SIGNATURE_PIXELS_UINT8],
        "tensorflow_version": tf.__version__,
        # A TF Serving release older than the TensorFlow that wrote the
        # SavedModel may not know all of its ops.
        "min_tf_serving_version": ".".join(tf.__version__.split(".")[:2]),
        "keras_version": keras.__version__,
        "keras_inception_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
