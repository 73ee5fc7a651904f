"""keras_inception: the Inception family of networks for Keras 3.

    import keras_inception
    model = keras_inception.InceptionV3(classes=10, aux_logits=True)
"""

from keras_inception.benchmark import benchmark_model
from keras_inception.evaluation import EvaluationResult, evaluate
from keras_inception.features import feature_extractor
from keras_inception.flops import model_flops, model_macs
from keras_inception.models import (
    GoogLeNet,
    InceptionResNetV1,
    InceptionResNetV2,
    InceptionV1,
    InceptionV2,
    InceptionV3,
    InceptionV4,
)
from keras_inception.preprocessing import decode_predictions, preprocess_input
from keras_inception.registry import ModelSpec, get_model, get_spec, list_models
from keras_inception.training import TrainConfig, train
from keras_inception.weights import convert_weights, get_weights, list_weights

__version__ = "0.1.0"

__all__ = [
    "EvaluationResult",
    "GoogLeNet",
    "InceptionResNetV1",
    "InceptionResNetV2",
    "InceptionV1",
    "InceptionV2",
    "InceptionV3",
    "InceptionV4",
    "ModelSpec",
    "TrainConfig",
    "benchmark_model",
    "convert_weights",
    "decode_predictions",
    "evaluate",
    "feature_extractor",
    "get_model",
    "get_spec",
    "get_weights",
    "list_models",
    "list_weights",
    "model_flops",
    "model_macs",
    "preprocess_input",
    "train",
]
