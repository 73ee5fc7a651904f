"""``tf.distribute`` strategies from the config, and what Keras leaves to us.

Two gaps of Keras 3.15 on TensorFlow 2.21 are closed here:

- ``model.fit`` under ``MultiWorkerMirroredStrategy`` fails before the first
  step (``ValueError: Attempt to convert a value (PerReplica...)``: ``fit``
  reduces a distributed batch eagerly to build the model). Multi-worker runs
  therefore use the custom loop of ``keras_inception.training.loop``.
- BatchNormalization's moving statistics are plain mirrored variables that
  every replica updates with its own batch, so the replicas' copies drift
  apart and a checkpoint keeps only the first. ``sync_replica_variables``
  averages them; averaging is exact for an exponential moving average fed
  with per-replica batch statistics.
"""

import json
import os

import keras
import tensorflow as tf


def tf_config():
    """The parsed ``TF_CONFIG`` environment variable (``{}`` when unset)."""
    raw = os.environ.get("TF_CONFIG", "")
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        raise ValueError(f"TF_CONFIG is not valid JSON. Received: TF_CONFIG={raw!r}") from None


def cluster_size():
    """Number of tasks (chief and workers) that ``TF_CONFIG`` describes."""
    cluster = tf_config().get("cluster", {})
    return sum(len(cluster.get(kind, [])) for kind in ("chief", "worker"))


def resolve_distribution(name):
    """The strategy ``"auto"`` stands for in this environment."""
    if name != "auto":
        return name
    if cluster_size() > 1:
        return "multi_worker"
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return "mirrored"
    return "default"


def get_strategy(name="auto", devices=(), tpu=""):
    """A ``tf.distribute.Strategy`` by name.

    Args:
        name: ``"auto"`` (default), ``"default"``, ``"one_device"``,
            ``"mirrored"``, ``"multi_worker"`` (reads ``TF_CONFIG``) or ``"tpu"``.
        devices: device names for ``one_device``/``mirrored``, default ``()``
            (the first GPU or the CPU / every GPU).
        tpu: TPU name or ``grpc://`` address for ``"tpu"``, default ``""``
            (the environment's TPU).
    """
    name = resolve_distribution(name)
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        device = (
            devices[0]
            if devices
            else ("/gpu:0" if tf.config.list_logical_devices("GPU") else "/cpu:0")
        )
        return tf.distribute.OneDeviceStrategy(device)
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(list(devices) or None)
    if name == "multi_worker":
        if cluster_size() < 1:
            raise ValueError(
                "distribution='multi_worker' needs TF_CONFIG with a cluster of "
                f"workers. Received: TF_CONFIG={os.environ.get('TF_CONFIG', '')!r}"
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or None)
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, tf.errors.OpError) as error:
            raise ValueError(f"No TPU could be reached ({error}). Received: tpu={tpu!r}") from None
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"Unknown distribution strategy. Received: distribution={name!r}")


def is_multi_worker(strategy):
    """Whether ``strategy`` spans several processes."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and (
        strategy.cluster_resolver is not None
        and len(strategy.cluster_resolver.cluster_spec().as_dict()) > 0
        and cluster_size() > 1
    )


def task_info(strategy):
    """``(task_type, task_id)`` of this process (``("chief", 0)`` when alone)."""
    if not is_multi_worker(strategy):
        return "chief", 0
    resolver = strategy.cluster_resolver
    return resolver.task_type, resolver.task_id


def is_chief(strategy):
    """Whether this process writes the run directory.

    The chief is the ``chief`` task, or worker 0 in a cluster without one
    (the ``MultiWorkerMirroredStrategy`` convention).
    """
    task_type, task_id = task_info(strategy)
    if task_type == "chief":
        return True
    has_chief = "chief" in tf_config().get("cluster", {})
    return task_type == "worker" and task_id == 0 and not has_chief


def replica_statistics(model):
    """The variables each replica updates on its own: float non-trainable ones.

    Integer states (the dropout seed generators) advance identically on every
    replica and are left alone.
    """
    return [v for v in model.non_trainable_variables if "float" in str(v.dtype)]


def sync_replica_variables(model, strategy):
    """Averages the replicas' copies of non-trainable variables (BN statistics).

    Call it in cross-replica context (between steps); in a multi-worker loop
    the step function averages them itself, see ``loop.py``.
    """
    if strategy.num_replicas_in_sync < 2 or is_multi_worker(strategy):
        return
    for variable in replica_statistics(model):
        copies = strategy.experimental_local_results(variable.value)
        if len(copies) > 1:
            variable.assign(tf.add_n([tf.convert_to_tensor(c) for c in copies]) / len(copies))


class SyncReplicaVariables(keras.callbacks.Callback):
    """Averages the replicas' BN statistics before evaluation and checkpoints.

    Args:
        strategy: the strategy the model was built under.
    """

    def __init__(self, strategy):
        super().__init__()
        self.strategy = strategy

    def on_test_begin(self, logs=None):
        sync_replica_variables(self.model, self.strategy)

    def on_epoch_end(self, epoch, logs=None):
        sync_replica_variables(self.model, self.strategy)

    def on_train_end(self, logs=None):
        sync_replica_variables(self.model, self.strategy)
