"""A custom training loop for ``tf.distribute``, used for multi-worker runs.

``model.fit`` cannot start under ``MultiWorkerMirroredStrategy`` with Keras
3.15 / TF 2.21 (see ``distribute.py``). This loop follows TensorFlow's
documented multi-worker pattern instead: ``strategy.run`` of a step function
inside a ``tf.function``, the loss averaged over the global batch
(``tf.nn.compute_average_loss``), gradients summed across replicas by the
Keras optimizer, and Keras callbacks driven through ``CallbackList`` so the
run directory gets the same checkpoints and logs as with ``fit``.

In every step the replicas also average their non-trainable variables (the
BN moving statistics), so all workers hold identical weights at all times.
Every worker evaluates the whole validation set locally, so all workers see
the same metrics; only the chief writes files. The backup is written
atomically by the chief and read by every worker when a run resumes, which
assumes the run directory is on storage all workers share.
"""

import keras
import numpy as np
import tensorflow as tf

from keras_inception import faults
from keras_inception.training import distribute
from keras_inception.training import recipe
from keras_inception.training.checkpoints import restore_backup
from keras_inception.training.checkpoints import write_backup


def _per_example_loss(model, config):
    """``f(y, y_pred)`` -> weighted per-example loss over all heads."""
    names = recipe.output_names(model)
    losses, weights = recipe.build_losses(
        names,
        label_smoothing=config.label_smoothing,
        aux_weight=recipe.aux_loss_weight(config),
        reduction=None,
    )
    if weights is None:
        return lambda y, y_pred: losses(y, y_pred)

    def weighted(y, y_pred):
        return tf.add_n([weights[n] * losses[n](y[n], y_pred[n]) for n in names])

    return weighted


def _main(values):
    return values[recipe.MAIN_OUTPUT] if isinstance(values, dict) else values


def _hits(y, y_pred, k):
    labels = tf.argmax(_main(y), axis=-1)
    return tf.reduce_sum(tf.cast(tf.math.in_top_k(labels, _main(y_pred), k), tf.float32))


class CustomLoop:
    """Trains a compiled model with ``strategy.run`` (any strategy, one or many workers).

    Args:
        model: a model compiled by ``recipe.compile_model`` under ``strategy``.
        config: the ``TrainConfig`` (losses, batch size, steps per execution).
        strategy: the ``tf.distribute.Strategy``.
        num_classes: number of classes (top-5 is logged above 5).
    """

    def __init__(self, model, config, strategy, num_classes):
        if config.jit_compile:
            raise ValueError(
                "The custom (multi-worker) loop runs without XLA; set "
                f"jit_compile=false. Received: jit_compile={config.jit_compile!r}"
            )
        self.model = model
        self.config = config
        self.strategy = strategy
        self.top_k = 5 if num_classes > 5 else None
        self.loss_fn = _per_example_loss(model, config)
        if not model.optimizer.built:
            with strategy.scope():
                model.optimizer.build(model.trainable_variables)
        self._train_steps = tf.function(self._train_steps_fn)
        self._eval_step = tf.function(self._eval_step_fn)

    def _replica_step(self, data):
        model, optimizer = self.model, self.model.optimizer
        x, y = data
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            per_example = self.loss_fn(y, y_pred)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=self.config.batch_size)
            if model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
            scaled = optimizer.scale_loss(loss)
        variables = model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        statistics = distribute.replica_statistics(model)
        if statistics:
            context = tf.distribute.get_replica_context()
            means = context.all_reduce(
                tf.distribute.ReduceOp.MEAN, [tf.identity(v.value) for v in statistics]
            )
            for variable, mean in zip(statistics, means):
                variable.assign(mean)
        count = tf.cast(tf.shape(per_example)[0], tf.float32)
        return loss, _hits(y, y_pred, 1), count

    def _train_steps_fn(self, iterator, num_steps):
        total = tf.zeros(3)
        for _ in tf.range(num_steps):
            outputs = self.strategy.run(self._replica_step, args=(next(iterator),))
            reduced = [
                self.strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
                for value in outputs
            ]
            total += tf.stack(reduced)
        return total

    def _eval_step_fn(self, x, y):
        y_pred = self.model(x, training=False)
        per_example = self.loss_fn(y, y_pred)
        hits = [_hits(y, y_pred, 1)]
        if self.top_k:
            hits.append(_hits(y, y_pred, self.top_k))
        count = tf.cast(tf.shape(per_example)[0], tf.float32)
        return tf.reduce_sum(per_example), tf.stack(hits), count

    def evaluate(self, dataset):
        """Loss and accuracy of ``dataset`` computed locally (no collectives).

        Returns:
            ``{"loss": ..., "accuracy": ..., ["top5": ...]}``, the keys
            ``model.evaluate`` uses for the main head.
        """
        loss_sum, hits, count = 0.0, 0.0, 0.0
        for x, y in dataset:
            batch_loss, batch_hits, batch_count = self._eval_step(x, y)
            loss_sum += float(batch_loss)
            hits = hits + batch_hits.numpy()
            count += float(batch_count)
        count = max(count, 1.0)
        hits = np.atleast_1d(hits) / count
        logs = {"loss": loss_sum / count, recipe.metric_key(self.model, "accuracy"): hits[0]}
        if self.top_k:
            logs[recipe.metric_key(self.model, "top5")] = hits[1]
        return {k: float(v) for k, v in logs.items()}

    def fit(
        self,
        dataset,
        *,
        epochs,
        steps_per_epoch,
        initial_epoch=0,
        validation_data=None,
        callbacks=(),
        backup_dir=None,
        restore=True,
        write_backup_files=True,
        verbose=1,
    ):
        """Trains from ``initial_epoch`` (or the backup's epoch) to ``epochs``.

        Args:
            dataset: repeated training ``tf.data.Dataset`` of ``(x, y)``
                batched at the global batch size.
            epochs: index of the last epoch plus one.
            steps_per_epoch: steps per epoch.
            initial_epoch: epoch to start at without a backup, default 0.
            validation_data: optional dataset evaluated after each epoch.
            callbacks: Keras callbacks (checkpoints, CSV, TensorBoard).
            backup_dir: where the backup lives, or None for no backup.
            restore: resume from the backup in ``backup_dir`` if there is
                one, default True. Every worker must pass the same value.
            write_backup_files: whether this worker writes the backup (the
                chief) or only reads it. Default True.
            verbose: 0 silent, 1 progress bar, 2 one line per epoch. Default 1.

        Returns:
            ``(history, initial_epoch)``: a ``keras.callbacks.History`` and the
            epoch the run started (or resumed) at.
        """
        if backup_dir and restore:
            initial_epoch = max(initial_epoch, restore_backup(self.model, backup_dir))
        history = keras.callbacks.History()
        callback_list = keras.callbacks.CallbackList(
            [history, *callbacks],
            add_history=False,
            add_progbar=verbose != 0,
            model=self.model,
            verbose=verbose,
            epochs=epochs,
            steps=steps_per_epoch,
        )
        iterator = iter(self.strategy.experimental_distribute_dataset(dataset))
        save_freq = self.config.save_freq
        per_call = self.config.steps_per_execution
        global_step = initial_epoch * steps_per_epoch
        callback_list.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            callback_list.on_epoch_begin(epoch)
            totals = np.zeros(3)
            step = 0
            while step < steps_per_epoch:
                num_steps = min(per_call, steps_per_epoch - step)
                callback_list.on_train_batch_begin(step)
                totals += self._train_steps(iterator, tf.constant(num_steps)).numpy()
                step += num_steps
                global_step += num_steps
                logs = self._train_logs(totals, step)
                callback_list.on_train_batch_end(step - 1, logs)
                faults.point("train.batch_end")
                if (
                    backup_dir
                    and write_backup_files
                    and save_freq != "epoch"
                    and (global_step % save_freq < num_steps)
                ):
                    write_backup(self.model, backup_dir, epoch)
            logs = self._train_logs(totals, step)
            if validation_data is not None:
                logs.update({f"val_{k}": v for k, v in self.evaluate(validation_data).items()})
            faults.point("train.epoch_end")
            if backup_dir and write_backup_files:
                write_backup(self.model, backup_dir, epoch + 1)
            callback_list.on_epoch_end(epoch, logs)
        # With use_ema, the model ends with the averaged weights (as fit does).
        self.model.optimizer.finalize_variable_values(self.model.trainable_variables)
        callback_list.on_train_end()
        return history, initial_epoch

    def _train_logs(self, totals, steps):
        loss_sum, hits, count = totals
        return {
            "loss": float(loss_sum / max(steps, 1)),
            recipe.metric_key(self.model, "accuracy"): float(hits / max(count, 1.0)),
        }
