"""The papers' training recipe as Keras objects: model, optimizer, schedule, losses.

Szegedy et al. 2016 (Inception-v3, Sec. 8) and 2017 (Inception-v4, Sec. 4):
RMSProp (decay 0.9, epsilon 1.0) with learning rate 0.045 decayed by 0.94 every
two epochs, gradient clipping at 2.0, label smoothing 0.1 (Sec. 7), auxiliary
classifiers (weight 0.4 in the released code; 0.3 per head in GoogLeNet,
Szegedy et al. 2015, Sec. 5), L2 weight decay 4e-5 (TF-slim) and an
exponential moving average of the parameters for evaluation. Each value's
source is tabulated in ``docs/training.md``.
"""

import functools

import keras
from keras import ops

from keras_inception import registry
from keras_inception.models import blocks

# Output names of the main classifier; every other output is an auxiliary head.
MAIN_OUTPUT = "predictions"
_KERNEL_ATTRIBUTES = (
    ("kernel", "kernel_regularizer"),
    ("depthwise_kernel", "depthwise_regularizer"),
    ("pointwise_kernel", "pointwise_regularizer"),
)


def scaled_learning_rate(learning_rate, batch_size, reference_batch_size):
    """Linear scaling: ``learning_rate * batch_size / reference_batch_size``.

    Args:
        learning_rate: the rate at the reference batch.
        batch_size: the global batch size of this run.
        reference_batch_size: the batch the rate was tuned for.
    """
    return learning_rate * batch_size / reference_batch_size


@keras.saving.register_keras_serializable(package="keras_inception")
class WarmupExponentialDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Exponential decay, optionally in steps, after an optional linear warm-up.

    The Inception-v3 schedule (x0.94 every two epochs, staircase). The warm-up
    (Goyal et al. 2017, "Accurate, Large Minibatch SGD") multiplies the rate by
    ``(step + 1) / warmup_steps`` until ``warmup_steps``; the decay counts
    from step 0, so the warm-up does not shift it.

    Args:
        initial_learning_rate: rate at step 0 (after warm-up).
        decay_steps: steps between decays.
        decay_rate: multiplicative factor per ``decay_steps``.
        staircase: decay at whole multiples of ``decay_steps`` (default True).
        warmup_steps: length of the linear warm-up in steps, default 0.
    """

    def __init__(
        self, initial_learning_rate, decay_steps, decay_rate, staircase=True, warmup_steps=0
    ):
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = float(decay_steps)
        self.decay_rate = float(decay_rate)
        self.staircase = bool(staircase)
        self.warmup_steps = float(warmup_steps)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        exponent = step / self.decay_steps
        if self.staircase:
            exponent = ops.floor(exponent)
        rate = self.initial_learning_rate * ops.power(self.decay_rate, exponent)
        if self.warmup_steps > 0:
            rate = rate * ops.minimum(1.0, (step + 1.0) / self.warmup_steps)
        return rate

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "warmup_steps": self.warmup_steps,
        }


def learning_rate_schedule(config, steps_per_epoch, lr_scale=1.0):
    """The config's schedule: scaled rate, decay every ``lr_decay_epochs``, warm-up.

    Args:
        config: a ``TrainConfig``.
        steps_per_epoch: optimizer steps per epoch.
        lr_scale: extra factor on the rate (the fine-tuning phase), default 1.0.
    """
    rate = scaled_learning_rate(
        config.learning_rate * lr_scale, config.batch_size, config.reference_batch_size
    )
    return WarmupExponentialDecay(
        rate,
        decay_steps=max(1.0, config.lr_decay_epochs * steps_per_epoch),
        decay_rate=config.lr_decay_rate,
        staircase=config.lr_staircase,
        warmup_steps=round(config.warmup_epochs * steps_per_epoch),
    )


def build_optimizer(config, steps_per_epoch, num_replicas=1, lr_scale=1.0):
    """RMSProp (or momentum SGD, or Adam) with the schedule, clipping and optional EMA.

    Keras clips each replica's gradient before the cross-replica sum, and that
    gradient is 1/N of the replica's batch-mean gradient (the loss is divided
    by the N replicas). The threshold is divided by N so each replica's own
    batch gradient is clipped at ``clipnorm``, as each of the papers'
    asynchronous replicas clipped its batch-32 gradient.

    Args:
        config: a ``TrainConfig``.
        steps_per_epoch: optimizer steps per epoch (for the schedule).
        num_replicas: replicas in sync, default 1.
        lr_scale: extra learning-rate factor, default 1.0.
    """
    common = dict(
        learning_rate=learning_rate_schedule(config, steps_per_epoch, lr_scale),
        global_clipnorm=None if config.clipnorm is None else config.clipnorm / num_replicas,
        use_ema=config.use_ema,
        ema_momentum=config.ema_momentum,
    )
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(momentum=config.momentum, **common)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(**common)
    return keras.optimizers.RMSprop(
        rho=config.rho, momentum=config.momentum, epsilon=config.epsilon, **common
    )


def output_names(model):
    """The model's output names, main head first."""
    if isinstance(model.output, dict):
        return [MAIN_OUTPUT] + [n for n in model.output if n != MAIN_OUTPUT]
    return [MAIN_OUTPUT]


def aux_loss_weight(config):
    """The config's auxiliary-loss weight, else the registry's for the network."""
    if config.aux_loss_weight is not None:
        return config.aux_loss_weight
    return registry.get_spec(config.model).aux_loss_weight


def build_losses(names, *, label_smoothing, aux_weight, reduction="sum_over_batch_size"):
    """Cross-entropy with label smoothing on every head, weighted per head.

    Args:
        names: output names (``output_names(model)``).
        label_smoothing: label smoothing of every head.
        aux_weight: weight of each output other than ``"predictions"``.
        reduction: Keras loss reduction, default ``"sum_over_batch_size"``;
            ``None`` gives per-example losses (the custom loop).

    Returns:
        ``(losses, loss_weights)``: a loss and ``None`` for a single output, or
        two dicts keyed by output name.
    """
    make = functools.partial(
        keras.losses.CategoricalCrossentropy,
        label_smoothing=label_smoothing,
        reduction=reduction,
    )
    if names == [MAIN_OUTPUT]:
        return make(), None
    losses = {name: make(name=f"{name}_loss") for name in names}
    weights = {name: 1.0 if name == MAIN_OUTPUT else aux_weight for name in names}
    return losses, weights


def build_metrics(names, num_classes):
    """Top-1 (and top-5 when there are more than 5 classes) on the main head only."""
    metrics = ["accuracy"]
    if num_classes > 5:
        metrics.append(keras.metrics.TopKCategoricalAccuracy(k=5, name="top5"))
    return metrics if names == [MAIN_OUTPUT] else {MAIN_OUTPUT: metrics}


def metric_key(model, metric, validation=False):
    """The name ``fit`` logs a main-head metric under (``val_predictions_accuracy``...)."""
    key = metric if output_names(model) == [MAIN_OUTPUT] else f"{MAIN_OUTPUT}_{metric}"
    return f"val_{key}" if validation else key


def apply_weight_decay(model, weight_decay):
    """L2 weight decay on every conv/dense kernel, visible in ``model.losses``.

    TF-slim's ``l2_regularizer(wd)`` adds ``wd * sum(w**2) / 2``; Keras's
    ``L2(l2)`` adds ``l2 * sum(w**2)``, hence ``L2(wd / 2)``. Setting the
    layer attribute as well keeps the regularizer in the saved config.

    Args:
        model: a built model (nested models are included).
        weight_decay: TF-slim weight decay; 0 removes the regularizers.

    Returns:
        The number of kernels regularized.
    """
    regularizer = keras.regularizers.L2(weight_decay / 2) if weight_decay else None
    count = 0
    for layer in _all_layers(model):
        for attribute, config_attribute in _KERNEL_ATTRIBUTES:
            variable = getattr(layer, attribute, None)
            if isinstance(variable, keras.Variable):
                variable.regularizer = regularizer
                setattr(layer, config_attribute, regularizer)
                count += 1
    return count


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)


def with_color_distortion(model, mode, *, scale=True, seed=None):
    """``model`` behind the training colour distortion: what trains with ``color_in_model``.

    The input pipeline left the distortion out (``DataConfig.color_in_model``);
    a ``data.ColorDistortion`` layer in front of the network applies it to each
    batch in the compiled step, on the device, in training only. The outputs
    keep the network's names, so losses and metrics are the same; the
    checkpoints save the network itself.

    Args:
        model: the network to train.
        mode: the distortion, ``"full"`` or ``"fast"`` (``DatasetInfo.color_in_model``).
        scale: the pipeline gives [-1, 1] pixels (default ``True``), else 0-255
            (a network with its own ``preprocessing`` layer).
        seed: seed of the distortion, default ``None`` (random).

    Returns:
        A Functional ``keras.Model`` named ``<model name>_train``.
    """
    from keras_inception import data

    inputs = keras.Input(model.input_shape[1:], name="image")
    distorted = data.ColorDistortion(
        mode,
        value_range=(-1.0, 1.0) if scale else (0.0, 255.0),
        seed=seed,
        name="color_distortion",
    )(inputs)
    outputs = model(distorted)
    if not isinstance(outputs, dict):
        # The main head keeps its name: losses and metrics are keyed by it.
        outputs = keras.layers.Identity(name=MAIN_OUTPUT, dtype=outputs.dtype)(outputs)
    return keras.Model(inputs, outputs, name=f"{model.name}_train")


def build_model(config, num_classes):
    """The network to train: the registry builder, or a fine-tuning model.

    Args:
        config: a ``TrainConfig``.
        num_classes: number of classes of the dataset.

    Returns:
        ``(model, backbone)``; ``backbone`` is the frozen feature extractor
        when fine-tuning, else ``None``.
    """
    spec = registry.get_spec(config.model).at_resolution(config.input_resolution)
    size = config.image_size or spec.default_size
    common = dict(input_shape=(size, size, 3), depth_multiplier=config.depth_multiplier)
    if config.input_resolution is not None:
        common["input_resolution"] = config.input_resolution
    if not config.finetune:
        model = registry.get_model(
            config.model,
            weights=config.weights,
            classes=num_classes,
            aux_logits=config.aux_logits,
            dropout_rate=config.dropout_rate,
            include_preprocessing=config.include_preprocessing,
            **common,
        )
        set_bn_momentum(model, config.bn_momentum)
        return model, None
    backbone = registry.get_model(config.model, include_top=False, weights=config.weights, **common)
    backbone.trainable = False
    inputs = keras.Input(shape=(size, size, 3), name="image")
    x = blocks.preprocessing_layer()(inputs) if config.include_preprocessing else inputs
    # Keras's transfer-learning recipe. A functional model replays nested calls
    # with the outer call's `training` flag, though, so what really keeps BN
    # in inference mode is its `trainable=False` (see unfreeze_top_blocks).
    x = backbone(x, training=False)
    outputs = blocks.classifier_head(
        x,
        include_top=True,
        pooling=None,
        classes=num_classes,
        classifier_activation="softmax",
        dropout_rate=config.dropout_rate,
    )
    return keras.Model(inputs, outputs, name=f"{config.model}_finetune"), backbone


def set_bn_momentum(model, momentum):
    """Sets the moving-average momentum of every BatchNormalization layer.

    Keras reads the attribute when the layer runs and saves it in the layer
    config, so setting it on a built model is enough. ``None`` changes nothing.

    Args:
        model: a model (nested models are included).
        momentum: the new momentum, or ``None``.
    """
    if momentum is None:
        return
    for layer in _all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum


def block_names(model):
    """Names of the Inception blocks of a network, input to output.

    A block is a layer whose name prefixes branch layers
    (``mixed_7c`` for ``mixed_7c_branch_0_...``), so the rule holds for every
    network that follows the TF-slim naming.
    """
    names = [layer.name for layer in model.layers]
    prefixes = {n.split("_branch_")[0] for n in names if "_branch_" in n}
    return [n for n in names if n in prefixes]


def unfreeze_top_blocks(backbone, num_blocks):
    """Makes the top ``num_blocks`` blocks (and all layers after them) trainable.

    BatchNormalization layers stay frozen: a frozen BN layer runs in inference
    mode, so the moving statistics learnt on the source data are kept (a small
    fine-tuning batch would otherwise overwrite them).

    Args:
        backbone: the feature extractor of ``build_model``.
        num_blocks: blocks to unfreeze, counted from the output.

    Returns:
        The name of the first unfrozen block.
    """
    names = block_names(backbone)
    if not 1 <= num_blocks <= len(names):
        raise ValueError(
            f"{backbone.name} has {len(names)} blocks to unfreeze. "
            f"Received: unfreeze_top_blocks={num_blocks}"
        )
    first = names[-num_blocks]
    backbone.trainable = True
    frozen = True
    for layer in backbone.layers:
        if layer.name == first or layer.name.startswith(f"{first}_"):
            frozen = False
        layer.trainable = not (frozen or isinstance(layer, keras.layers.BatchNormalization))
    return first


def compile_model(model, config, *, num_classes, steps_per_epoch, num_replicas=1, lr_scale=1.0):
    """Compiles ``model`` with the recipe: optimizer, weighted losses, metrics.

    Args:
        model: the model to train.
        config: a ``TrainConfig``.
        num_classes: number of classes (top-5 is added above 5 classes).
        steps_per_epoch: optimizer steps per epoch.
        num_replicas: replicas in sync, default 1.
        lr_scale: learning-rate factor (the fine-tuning phase), default 1.0.
    """
    names = output_names(model)
    losses, loss_weights = build_losses(
        names, label_smoothing=config.label_smoothing, aux_weight=aux_loss_weight(config)
    )
    model.compile(
        optimizer=build_optimizer(config, steps_per_epoch, num_replicas, lr_scale),
        loss=losses,
        loss_weights=loss_weights,
        metrics=build_metrics(names, num_classes),
        jit_compile=config.jit_compile,
        steps_per_execution=config.steps_per_execution,
    )
    return model
