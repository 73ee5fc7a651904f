"""What every exporter starts from: a classifier with one output and its facts.

``load_source`` accepts the four things a user points the export and predict
commands at (a ``keras.Model``, a ``.keras`` file, a training run directory, a
registry name) and returns the same triple for each: a model with a single
``[batch, classes]`` output and a static input size, the class names, and the
facts the exporters need to wrap the model (input range, output kind).
"""

import json
import os

import keras

RUN_CONFIG = "config.json"
RUN_CLASS_NAMES = "class_names.json"
# A run directory's checkpoints, preferred first.
RUN_CHECKPOINTS = ("best.keras", "last.keras")
# The input ranges a model of this package takes, by the presence of its
# ``preprocessing`` layer (``include_preprocessing=True``).
PIXEL_RANGE = (0.0, 255.0)
SCALED_RANGE = (-1.0, 1.0)
# The evaluation crop of the papers' code, used unless the run recorded its own.
DEFAULT_CENTRAL_FRACTION = 0.875


def load_source(source):
    """Loads a classifier to export, with its class names and facts.

    Args:
        source: a ``keras.Model``; the path of a ``.keras`` file (class names
            are read from a ``class_names.json`` beside it); a training run
            directory (``best.keras``, else ``last.keras``, with its
            ``config.json`` and ``class_names.json``); or a registry name such
            as ``"inception_v3"``, built with ``weights="imagenet"``.

    Returns:
        ``(model, class_names, meta)``: ``model`` is a float32 ``keras.Model``
        (a model saved under a mixed policy is rebuilt in float32) with one
        ``[batch, classes]`` output (the ``"predictions"`` output of a model
        with auxiliary heads) and a static ``(height, width, 3)`` input;
        ``class_names`` is a list of strings or ``None``; ``meta`` is a dict
        with ``model`` (name), ``image_size`` (``[height, width]``),
        ``input_range`` (``[0, 255]`` for a model with a ``preprocessing``
        layer, else ``[-1, 1]``), ``output`` (``"probabilities"`` when the
        classifier ends in a softmax, else ``"logits"``), ``num_classes``,
        ``central_fraction`` (the evaluation crop: the run's
        ``config.json`` value unless missing or null, else 0.875) and ``source``.

    Raises:
        ValueError: the source is none of the above, or is not a classifier.
    """
    from keras_inception import precision

    config = {}
    class_names = None
    if isinstance(source, keras.Model):
        model, description = source, f"<keras.Model {source.name}>"
    else:
        description = os.fspath(source)
        model, config, class_names = _load_path_or_name(description)
    # A model trained under a mixed policy computes in float32 here: exports
    # are float32 artifacts unless asked otherwise, and checked against float32.
    return _as_classifier(precision.with_policy(model, "float32"), class_names, config, description)


def _load_path_or_name(source):
    """``(model, run config, class names)`` of a path or registry name."""
    from keras_inception import registry

    if os.path.isdir(source):
        checkpoint = next(
            (
                os.path.join(source, name)
                for name in RUN_CHECKPOINTS
                if os.path.isfile(os.path.join(source, name))
            ),
            None,
        )
        if checkpoint is None:
            raise ValueError(
                "A run directory must hold `best.keras` or `last.keras`. "
                f"Received: source={source!r}"
            )
        config = _read_json(os.path.join(source, RUN_CONFIG)) or {}
        return _load_keras_file(checkpoint), config, _read_class_names(source)
    if source.endswith(".keras"):
        if not os.path.isfile(source):
            raise ValueError(f"No such .keras file. Received: source={source!r}")
        return _load_keras_file(source), {}, _read_class_names(os.path.dirname(source))
    if source in registry.list_models():
        from keras_inception.preprocessing import imagenet_classes

        model = registry.get_model(source, weights="imagenet")
        return model, {"model": source}, [name for _, name in imagenet_classes()]
    raise ValueError(
        "`source` must be a keras.Model, a .keras file, a run directory or a "
        f"registry name ({', '.join(registry.list_models())}). Received: source={source!r}"
    )


def _load_keras_file(path):
    # Importing the package registers its custom layers for safe_mode loading.
    import keras_inception  # noqa: F401

    return keras.saving.load_model(path, compile=False)


def _read_json(path):
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _read_class_names(directory):
    path = os.path.join(directory, RUN_CLASS_NAMES)
    if not os.path.isfile(path):
        return None
    from keras_inception import data

    return list(data.load_class_names(path))


def _as_classifier(model, class_names, config, description):
    """Wraps ``model`` to one output and a static input size; gathers its facts."""
    if not isinstance(model.output, dict) and len(model.outputs) != 1:
        raise ValueError(
            "Only a model with one output, or a dict with a 'predictions' "
            f"output, can be exported. Received: source={description}"
        )
    if isinstance(model.output, dict) and "predictions" not in model.output:
        raise ValueError(
            "A model with several outputs needs a 'predictions' output. "
            f"Received: outputs {sorted(model.output)} of source={description}"
        )
    height, width = _image_size(model, config, description)
    input_shape = (height, width, model.input_shape[-1])
    if tuple(model.input_shape[1:]) == input_shape and isinstance(model.output, dict):
        # The main head's own graph, without the auxiliary branch: the layers
        # stay in one graph, where batch norm can be folded for serving.
        classifier = keras.Model(model.input, model.output["predictions"], name=model.name)
    elif isinstance(model.output, dict) or tuple(model.input_shape[1:]) != input_shape:
        image = keras.Input(shape=input_shape, name="image")
        outputs = model(image)
        if isinstance(outputs, dict):
            outputs = outputs["predictions"]
        classifier = keras.Model(image, outputs, name=model.name)
    else:
        classifier = model
    if len(classifier.output.shape) != 2:
        raise ValueError(
            "Only classifiers (a `[batch, classes]` output) can be exported; build "
            f"with include_top=True. Received: output shape {classifier.output.shape} "
            f"of source={description}"
        )
    num_classes = int(classifier.output.shape[-1])
    if class_names is not None and len(class_names) != num_classes:
        raise ValueError(
            f"The model has {num_classes} classes but {len(class_names)} class "
            f"names were found. Received: source={description}"
        )
    layer_names = {layer.name for layer in model.layers}
    meta = {
        "model": config.get("model", model.name),
        "image_size": [height, width],
        "input_range": list(PIXEL_RANGE if "preprocessing" in layer_names else SCALED_RANGE),
        "output": _output_kind(model),
        "num_classes": num_classes,
        "central_fraction": float(config.get("central_fraction") or DEFAULT_CENTRAL_FRACTION),
        "source": description,
    }
    return classifier, class_names, meta


def _image_size(model, config, description):
    """The ``(height, width)`` to export at: the model's, else the run's or registry's."""
    height, width = model.input_shape[1:3]
    if height is not None and width is not None:
        return int(height), int(width)
    size = config.get("image_size")
    if size is None:
        from keras_inception import registry

        name = config.get("model", model.name)
        if name not in registry.list_models():
            raise ValueError(
                "The model takes any input size and no image size is known; "
                f"rebuild it with a fixed input_shape. Received: source={description}"
            )
        size = registry.get_spec(name).default_size
    if isinstance(size, int):
        return size, size
    return int(size[0]), int(size[1])


def _output_kind(model):
    """``"probabilities"`` when the main classifier ends in a softmax, else ``"logits"``."""
    names = {layer.name: layer for layer in model.layers}
    last = names.get("predictions") or model.layers[-1]
    if isinstance(last, keras.layers.Softmax):
        return "probabilities"
    activation = last.get_config().get("activation")
    return "probabilities" if activation == "softmax" else "logits"


def resolve_class_names(class_names, num_classes):
    """The class names to ship with an export: given ones, checked, or ``"0"``.. ``"n-1"``.

    Raises:
        ValueError: the count differs from ``num_classes``, or a name holds a
            line break (label files hold one name per line).
    """
    if class_names is None:
        return [str(i) for i in range(num_classes)]
    class_names = [str(name) for name in class_names]
    if len(class_names) != num_classes:
        raise ValueError(
            f"Expected {num_classes} class names, one per model output. "
            f"Received: class_names of length {len(class_names)}"
        )
    bad = [name for name in class_names if "\n" in name or "\r" in name]
    if bad:
        raise ValueError(f"Class names cannot hold line breaks. Received: class_names={bad!r}")
    return class_names


def to_probabilities(outputs, output_kind):
    """Softmax of logits; probabilities pass through (``output_kind`` as in ``meta``)."""
    import tensorflow as tf

    if output_kind == "logits":
        return tf.nn.softmax(outputs, axis=-1)
    return tf.convert_to_tensor(outputs)
