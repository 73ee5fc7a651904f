"""The recipe's pieces: schedule, optimizer, losses, weight decay, fine-tuning, precision."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_inception import training
from keras_inception.training import recipe

# GoogLeNet at its minimum input, thinned: the cheapest real network of the family.
SMALL = dict(model="inception_v1", image_size=32, depth_multiplier=0.25)


def _batch(num_classes, size=32, n=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, size, size, 3)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, num_classes, n), num_classes)
    return x, y


def test_schedule_is_staircase_decay_with_linear_warmup():
    schedule = recipe.WarmupExponentialDecay(0.045, decay_steps=10, decay_rate=0.94)
    rates = [float(schedule(step)) for step in (0, 9, 10, 25)]
    np.testing.assert_allclose(rates, [0.045, 0.045, 0.045 * 0.94, 0.045 * 0.94**2], rtol=1e-6)
    warm = recipe.WarmupExponentialDecay(0.045, 10, 0.94, warmup_steps=5)
    np.testing.assert_allclose(
        [float(warm(s)) for s in (0, 2, 4, 9)], [0.009, 0.027, 0.045, 0.045], rtol=1e-6
    )
    smooth = recipe.WarmupExponentialDecay(0.045, 10, 0.94, staircase=False)
    np.testing.assert_allclose(float(smooth(5)), 0.045 * 0.94**0.5, rtol=1e-6)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(warm))
    assert isinstance(restored, recipe.WarmupExponentialDecay)
    assert restored.get_config() == warm.get_config()


def test_learning_rate_scales_with_the_global_batch():
    config = training.TrainConfig(batch_size=64, warmup_epochs=0.5)
    schedule = recipe.learning_rate_schedule(config, steps_per_epoch=100)
    assert schedule.initial_learning_rate == pytest.approx(0.09)
    assert (schedule.decay_steps, schedule.warmup_steps) == (200, 50)
    finetune = recipe.learning_rate_schedule(config, 100, lr_scale=0.1)
    assert finetune.initial_learning_rate == pytest.approx(0.009)


def test_optimizer_is_the_papers_rmsprop():
    optimizer = recipe.build_optimizer(training.TrainConfig(use_ema=True), 100, num_replicas=2)
    assert isinstance(optimizer, keras.optimizers.RMSprop)
    assert (optimizer.rho, optimizer.momentum, optimizer.epsilon) == (0.9, 0.9, 1.0)
    # Each replica's share of the gradient is clipped at 2.0 / replicas.
    assert optimizer.global_clipnorm == pytest.approx(1.0)
    assert optimizer.use_ema and optimizer.ema_momentum == 0.9999
    sgd = recipe.build_optimizer(training.TrainConfig(optimizer="sgd", clipnorm=None), 10)
    assert isinstance(sgd, keras.optimizers.SGD) and sgd.global_clipnorm is None
    adam = recipe.build_optimizer(training.get_preset("quick"), 10)
    # Adam keeps Keras' epsilon, not RMSProp's 1.0, and the preset's clipping.
    assert isinstance(adam, keras.optimizers.Adam) and adam.epsilon == pytest.approx(1e-7)
    assert adam.global_clipnorm == pytest.approx(2.0)


def test_auxiliary_weights_come_from_the_registry():
    assert recipe.aux_loss_weight(training.TrainConfig(model="inception_v1")) == 0.3
    assert recipe.aux_loss_weight(training.TrainConfig(model="inception_v3")) == 0.4
    assert recipe.aux_loss_weight(training.TrainConfig(aux_loss_weight=0.0)) == 0.0
    losses, weights = recipe.build_losses(
        ["predictions", "aux_1", "aux_2"], label_smoothing=0.1, aux_weight=0.3
    )
    assert weights == {"predictions": 1.0, "aux_1": 0.3, "aux_2": 0.3}
    assert set(losses) == set(weights)
    single, none = recipe.build_losses(["predictions"], label_smoothing=0.1, aux_weight=0.3)
    assert isinstance(single, keras.losses.CategoricalCrossentropy) and none is None


def test_label_smoothing_targets():
    loss, _ = recipe.build_losses(["predictions"], label_smoothing=0.1, aux_weight=0.4)
    y = np.eye(10, dtype="float32")[[3]]
    smoothed = 0.9 * y + 0.01
    expected = -np.sum(smoothed * np.log(smoothed))
    # The smoothed targets are the minimum, and the loss is their entropy.
    assert float(loss(y, smoothed)) == pytest.approx(expected, rel=1e-4)
    assert float(loss(y, 0.99 * y + 0.001)) > expected


def test_weight_decay_is_in_the_loss_and_survives_saving(tmp_path):
    config = training.TrainConfig(**SMALL, weight_decay=4e-3, dropout_rate=0.0)
    model, _ = recipe.build_model(config, num_classes=5)
    kernels = [
        layer.kernel
        for layer in model.layers
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))
    ]
    assert recipe.apply_weight_decay(model, 4e-3) == len(kernels) > 50
    penalty = 4e-3 / 2 * sum(float(np.sum(np.square(k.numpy()))) for k in kernels)
    assert float(sum(model.losses)) == pytest.approx(penalty, rel=1e-4)

    x, y = _batch(5)
    recipe.compile_model(model, config, num_classes=5, steps_per_epoch=1)
    model.run_eagerly = True
    with_decay = model.evaluate(x, y, verbose=0, return_dict=True)["loss"]
    recipe.apply_weight_decay(model, 0.0)
    assert not model.losses
    without = model.evaluate(x, y, verbose=0, return_dict=True)["loss"]
    assert with_decay - without == pytest.approx(penalty, rel=1e-3)

    recipe.apply_weight_decay(model, 4e-3)
    path = str(tmp_path / "decay.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path, compile=False)
    assert float(sum(reloaded.losses)) == pytest.approx(penalty, rel=1e-4)


def _bn_statistics(model):
    return {v.path: v.numpy().copy() for v in model.non_trainable_variables if "moving" in v.path}


def test_finetuning_keeps_batchnorm_statistics_frozen():
    config = training.TrainConfig(
        **SMALL,
        finetune=True,
        unfreeze_top_blocks=2,
        finetune_epochs=1,
        learning_rate=0.1,
        label_smoothing=0.0,
    ).validate()
    model, backbone = recipe.build_model(config, num_classes=3)
    recipe.apply_weight_decay(model, config.weight_decay)
    assert model.get_layer("predictions").dtype == "float32"
    assert all(not w.trainable for w in backbone.weights)
    # Only the new head's kernel is regularized while the backbone is frozen.
    assert len(model.losses) == 1

    x, y = _batch(3)
    statistics = _bn_statistics(model)
    assert len(statistics) > 50
    head = model.get_layer("predictions").kernel.numpy().copy()
    backbone_kernels = [v.numpy().copy() for v in backbone.weights if "kernel" in v.path]
    recipe.compile_model(model, config, num_classes=3, steps_per_epoch=2)
    model.run_eagerly = True
    for _ in range(2):
        model.train_on_batch(x, y)
    assert not np.allclose(head, model.get_layer("predictions").kernel.numpy())
    for before, after in zip(backbone_kernels, [v for v in backbone.weights if "kernel" in v.path]):
        np.testing.assert_array_equal(before, after.numpy())
    for path, value in _bn_statistics(model).items():
        np.testing.assert_array_equal(statistics[path], value, err_msg=path)

    first = recipe.unfreeze_top_blocks(backbone, 2)
    assert first == recipe.block_names(backbone)[-2] == "mixed_5b"
    top = [layer for layer in backbone.layers if layer.name.startswith("mixed_5")]
    low = backbone.get_layer("mixed_4f_branch_0_conv2d_0a_1x1_conv")
    assert not low.trainable
    assert all(
        layer.trainable != isinstance(layer, keras.layers.BatchNormalization) for layer in top
    )
    top_kernel = backbone.get_layer("mixed_5c_branch_0_conv2d_0a_1x1_conv").kernel
    top_before, low_before = top_kernel.numpy().copy(), low.kernel.numpy().copy()
    recipe.compile_model(model, config, num_classes=3, steps_per_epoch=2, lr_scale=0.1)
    model.run_eagerly = True
    model.train_on_batch(x, y)
    assert not np.allclose(top_before, top_kernel.numpy())
    np.testing.assert_array_equal(low_before, low.kernel.numpy())
    # Unfrozen blocks still run BatchNormalization in inference mode.
    for path, value in _bn_statistics(model).items():
        np.testing.assert_array_equal(statistics[path], value, err_msg=path)
    with pytest.raises(ValueError, match="unfreeze_top_blocks=99"):
        recipe.unfreeze_top_blocks(backbone, 99)


def test_block_names_follow_the_slim_scopes():
    import keras_inception

    residual = keras_inception.get_model(
        "inception_resnet_v1", include_top=False, input_shape=(75, 75, 3), depth_multiplier=0.1
    )
    names = recipe.block_names(residual)
    assert names[:2] == ["block35_1", "block35_2"] and len(names) == 23
    assert names.index("mixed_6a") < names.index("block17_1") < names.index("mixed_7a")


def test_train_restores_the_dtype_policy_when_it_fails(tmp_path):
    keras.config.set_dtype_policy("float32")
    endless = tf.data.Dataset.from_tensors((tf.zeros((4, 32, 32, 3)), tf.zeros(4, tf.int32)))
    endless = endless.repeat()
    config = training.TrainConfig(
        **SMALL,
        precision="mixed_bfloat16",
        batch_size=4,
        run_dir=str(tmp_path / "run"),
        export=False,
    )
    with pytest.raises(ValueError, match="steps_per_epoch=None"):
        training.train(config, datasets=(endless, endless, ["a", "b"]))
    assert keras.config.dtype_policy().name == "float32"
    assert math.isclose(
        training.resolve_config(file=str(tmp_path / "run" / "config.json")).learning_rate,
        config.learning_rate,
    )
