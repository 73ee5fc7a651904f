"""keras_inception: the Inception family of networks for Keras 3.

    import keras_inception
    model = keras_inception.InceptionV3(classes=10, aux_logits=True)

The attributes below load on first use (PEP 562): ``import keras_inception``
imports neither Keras nor TensorFlow, so the command line can quiet
TensorFlow's logging before TensorFlow starts, and the builders
(``keras_inception.InceptionV3`` ...) do not pull in training, export,
evaluation or TensorFlow Datasets. Subpackages load the same way:
``keras_inception.training.resolve_config(...)`` needs no import of its own.
"""

import importlib
import importlib.util

__version__ = "0.1.0"

# Public name -> the module that defines it.
_ATTRIBUTES = {
    "GoogLeNet": "keras_inception.models",
    "InceptionResNetV1": "keras_inception.models",
    "InceptionResNetV2": "keras_inception.models",
    "InceptionV1": "keras_inception.models",
    "InceptionV2": "keras_inception.models",
    "InceptionV3": "keras_inception.models",
    "InceptionV4": "keras_inception.models",
    "ModelSpec": "keras_inception.registry",
    "get_model": "keras_inception.registry",
    "get_spec": "keras_inception.registry",
    "list_models": "keras_inception.registry",
    "decode_predictions": "keras_inception.preprocessing",
    "preprocess_input": "keras_inception.preprocessing",
    "feature_extractor": "keras_inception.features",
    "model_flops": "keras_inception.flops",
    "model_macs": "keras_inception.flops",
    "benchmark_model": "keras_inception.benchmark",
    "EvaluationResult": "keras_inception.evaluation",
    "evaluate": "keras_inception.evaluation",
    "TrainConfig": "keras_inception.training",
    "train": "keras_inception.training",
    "convert_weights": "keras_inception.conversion",
    "get_weights": "keras_inception.weights",
    "list_weights": "keras_inception.weights",
}

__all__ = sorted(_ATTRIBUTES)


def __getattr__(name):
    if name in _ATTRIBUTES:
        value = getattr(importlib.import_module(_ATTRIBUTES[name]), name)
    elif (
        name.isidentifier()
        and not name.startswith("_")
        and importlib.util.find_spec(f"{__name__}.{name}") is not None
    ):
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_ATTRIBUTES))
