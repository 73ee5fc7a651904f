"""Multi-worker training: two worker processes on localhost, one MultiWorkerMirroredStrategy.

``model.fit`` fails under MultiWorkerMirroredStrategy with Keras 3.15 / TF 2.21,
so ``train`` switches to its custom loop; this test runs it for real.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from keras_inception.training import distribute

# One worker: trains a thin GoogLeNet on a fixed, easy set (the class sets the
# brightness) and dumps its final weights.
WORKER = r"""
import json, sys
import numpy as np
import tensorflow as tf
from keras_inception import training



def datasets():
    # Called by train() after the strategy exists: under multi-worker no
    # TensorFlow op may run before.
    rng = np.random.default_rng(0)
    labels = np.arange(32) % 4
    images = labels[:, None, None, None] / 1.5 - 1 + rng.normal(0, 0.1, (32, 32, 32, 3))
    dataset = tf.data.Dataset.from_tensor_slices((images.astype("float32"), labels)).batch(16)
    return dataset, dataset, ["a", "b", "c", "d"]


config = training.resolve_config(preset="smoke", overrides=sys.argv[2:])
result = training.train(config, datasets=datasets)
np.savez(sys.argv[1], *result.model.get_weights())
print("REPORT " + json.dumps({"summary": result.summary, "history": result.history}))
"""


def _free_ports(count):
    sockets = []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _tf_config(ports, index):
    return json.dumps(
        {
            "cluster": {"worker": [f"localhost:{port}" for port in ports]},
            "task": {"type": "worker", "index": index},
        }
    )


def test_two_workers_train_in_lockstep(tmp_path):
    ports = _free_ports(2)
    overrides = [
        "model=inception_v1",
        "image_size=32",
        "depth_multiplier=0.25",
        "batch_size=16",
        "epochs=3",
        "steps_per_epoch=4",
        "steps_per_execution=2",
        "learning_rate=0.1",
        "clipnorm=null",
        "label_smoothing=0.0",
        "dropout_rate=0.0",
        f"run_dir={tmp_path / 'run'}",
        "verbose=2",
    ]
    workers = []
    for index in range(2):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_CONFIG=_tf_config(ports, index))
        workers.append(
            subprocess.Popen(
                [sys.executable, "-c", WORKER, str(tmp_path / f"w{index}.npz"), *overrides],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    outputs = []
    try:
        for worker in workers:
            outputs.append(worker.communicate(timeout=600)[0])
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    for worker, output in zip(workers, outputs):
        assert worker.returncode == 0, output[-4000:]

    reports = [
        json.loads(line[len("REPORT ") :])
        for output in outputs
        for line in output.splitlines()
        if line.startswith("REPORT ")
    ]
    chief, other = reports
    assert chief["summary"]["strategy"] == "CollectiveAllReduceStrategy"
    assert chief["summary"]["num_replicas"] == 2 and chief["summary"]["loop"] == "custom"
    losses = chief["history"]["loss"]
    assert losses[-1] < losses[0], losses
    assert other["history"]["loss"] == pytest.approx(losses)

    first, second = np.load(tmp_path / "w0.npz"), np.load(tmp_path / "w1.npz")
    assert len(first.files) > 100
    for key in first.files:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)
    # Only the chief (worker 0) writes the run directory.
    assert (tmp_path / "run" / "best.keras").exists()
    assert (tmp_path / "run" / "summary.json").exists()


def test_chief_and_cluster_size_from_tf_config(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", _tf_config([1, 2, 3], 2))
    assert distribute.cluster_size() == 3
    assert distribute.resolve_distribution("auto") == "multi_worker"
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG"):
        distribute.tf_config()
    monkeypatch.delenv("TF_CONFIG")
    assert distribute.resolve_distribution("auto") in ("default", "mirrored")
    with pytest.raises(ValueError, match="TF_CONFIG"):
        distribute.get_strategy("multi_worker")
