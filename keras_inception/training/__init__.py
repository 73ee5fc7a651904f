"""Training: the papers' recipe, presets, distribution and fault-tolerant runs.

from keras_inception import training
config = training.resolve_config(preset="quick", overrides=["epochs=3"])
result = training.train(config)
print(result.metrics["accuracy"])
"""

from keras_inception.training.config import PRESETS
from keras_inception.training.config import TrainConfig
from keras_inception.training.config import get_preset
from keras_inception.training.config import load_config_file
from keras_inception.training.config import parse_overrides
from keras_inception.training.config import resolve_config
from keras_inception.training.distribute import get_strategy
from keras_inception.training.loop import CustomLoop
from keras_inception.training.plots import plot_history
from keras_inception.training.plots import read_history
from keras_inception.training.recipe import WarmupExponentialDecay
from keras_inception.training.recipe import apply_weight_decay
from keras_inception.training.recipe import build_model
from keras_inception.training.recipe import build_optimizer
from keras_inception.training.recipe import compile_model
from keras_inception.training.recipe import unfreeze_top_blocks
from keras_inception.training.trainer import TrainResult
from keras_inception.training.trainer import train

__all__ = [
    "PRESETS",
    "CustomLoop",
    "TrainConfig",
    "TrainResult",
    "WarmupExponentialDecay",
    "apply_weight_decay",
    "build_model",
    "build_optimizer",
    "compile_model",
    "get_preset",
    "get_strategy",
    "load_config_file",
    "parse_overrides",
    "plot_history",
    "read_history",
    "resolve_config",
    "train",
    "unfreeze_top_blocks",
]
