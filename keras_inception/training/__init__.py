"""Training: the papers' recipe, presets, distribution and fault-tolerant runs.

    from keras_inception import training
    config = training.resolve_config(preset="quick", overrides=["epochs=3"])
    result = training.train(config)
    print(result.metrics["accuracy"])
"""

from keras_inception.training.config import (
    PRESETS,
    TrainConfig,
    get_preset,
    load_config_file,
    parse_overrides,
    resolve_config,
)
from keras_inception.training.distribute import get_strategy
from keras_inception.training.loop import CustomLoop
from keras_inception.training.plots import plot_history, read_history
from keras_inception.training.recipe import (
    WarmupExponentialDecay,
    apply_weight_decay,
    build_model,
    build_optimizer,
    compile_model,
    unfreeze_top_blocks,
)
from keras_inception.training.trainer import TrainResult, train

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
