"""SIGKILL the writing commands at their fault-injection points; check what is left and the rerun.

For each command (``keras-inception train``, ``export``, ``data convert``,
``convert``) on tiny inputs made here:

1. a reference run, uninterrupted, with ``KERAS_INCEPTION_FAULT_TRACE`` set:
   the ``faults.point`` names it passes, in order, and how often;
2. kill targets ``NAME@N`` chosen from that trace (every distinct point first,
   then repeated ones spread over the run), each run with
   ``KERAS_INCEPTION_FAULT=NAME@N`` so the process SIGKILLs itself there;
3. after each kill, before anything else runs: every file a reader could
   pick up (not a hidden temporary name) is checked whole, file by file
   (``.keras`` loads, JSON parses, ``history.csv`` has one row per epoch from
   0, TFRecords read with their CRCs, every all-digit SavedModel version loads
   with its signatures, ``.tflite`` loads in LiteRT, HDF5 opens);
4. the same command is run again: runs are chained, so the process that
   follows a kill is its rerun (armed with the next target, which it may
   reach or not); a chain ends with a run that finishes, whose result must
   equal the reference (epochs and history rows, exported signatures and
   versions, records, weights) and leave no temporary file behind. For
   ``train``, the epochs whose computation finished before a kill but are run
   again after it (``lost``) must be 0 or 1.

Time-based kills (``--timed K``: SIGKILL after a random delay) cover the
moments between points.

Run from the repository root::

    .venv/bin/python tools/fault_inject.py --command all --points 20 --timed 2

Prints one line per kill and a table per command; ``--json FILE`` writes the
figures. Exit status 1 if any check failed. Only one TensorFlow process runs
at a time (the checks run here, between the children).
"""

import argparse
import collections
import contextlib
import csv
import dataclasses
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

COMMANDS = ("train", "export", "data_convert", "convert")
_VERSION = re.compile(r"^[0-9]+$")
_EPOCH_LINE = re.compile(r"^Epoch (\d+)/(\d+)", re.MULTILINE)
# Points a train run passes only after its last epoch (a rerun from here on trains nothing).
_AFTER_TRAINING = (
    "train.phase_done",
    "train.evaluated",
    "train.trained",
    "train.curves_written",
    "train.before_backup_removal",
    "train.backup_removed",
    "train.export_start",
)


# Processes ----------------------------------------------------------------


@dataclasses.dataclass
class Run:
    """One child process: its exit status, output and the points it passed."""

    argv: list
    fault: str
    returncode: int
    output: str
    trace: list
    seconds: float
    # Seconds from the start to the first point reached (None: no point reached).
    first_point: float = None

    @property
    def killed(self):
        return self.returncode == -signal.SIGKILL


def run_command(argv, *, workdir, fault=None, kill_after=None, timeout=1800):
    """Runs ``keras-inception ARGV`` in ``workdir`` with the fault armed; returns a ``Run``."""
    trace_path = os.path.join(workdir, f".trace-{time.monotonic_ns()}")
    env = dict(
        os.environ,
        TF_CPP_MIN_LOG_LEVEL="2",
        KERAS_INCEPTION_FAULT_TRACE=trace_path,
        HOME=workdir,
        XDG_CACHE_HOME=os.path.join(workdir, "cache"),
        KERAS_HOME=os.path.join(workdir, "keras_home"),
        PYTHONUNBUFFERED="1",
    )
    env.pop("KERAS_INCEPTION_FAULT", None)
    if fault:
        env["KERAS_INCEPTION_FAULT"] = fault
    start = time.monotonic()
    first_point = None
    deadline = start + (kill_after if kill_after is not None else timeout)
    with tempfile.TemporaryFile(mode="w+") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "keras_inception", *argv],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        while child.poll() is None:
            if first_point is None and os.path.exists(trace_path):
                first_point = time.monotonic() - start
            if time.monotonic() >= deadline:
                os.kill(child.pid, signal.SIGKILL)
                child.wait()
                if kill_after is None:
                    raise subprocess.TimeoutExpired(argv, timeout)
                break
            time.sleep(0.05)
        log.seek(0)
        output = log.read()
    trace = []
    if os.path.exists(trace_path):
        with open(trace_path, encoding="utf-8") as f:
            trace = f.read().split()
        os.remove(trace_path)
    return Run(
        list(argv), fault, child.returncode, output, trace, time.monotonic() - start, first_point
    )


def occurrences(trace):
    """``[(name, n)]``: each point of ``trace`` with its running count (1-based)."""
    counts = collections.Counter()
    result = []
    for name in trace:
        counts[name] += 1
        result.append((name, counts[name]))
    return result


def choose_targets(trace, count):
    """``count`` ``NAME@N`` targets from a reference trace, in trace order.

    Every distinct point first (its first occurrence), then repeated ones
    (later epochs, shards, batches) spread evenly over the rest.
    """
    events = occurrences(trace)
    first = [i for i, (_, n) in enumerate(events) if n == 1]
    rest = [i for i, (_, n) in enumerate(events) if n > 1]
    chosen = first if len(first) <= count else _spread(first, count)
    if len(chosen) < count and rest:
        chosen += _spread(rest, count - len(chosen))
    return [f"{events[i][0]}@{events[i][1]}" for i in sorted(set(chosen))]


def _spread(items, count):
    """``count`` of ``items`` evenly spaced, first and last included."""
    if count >= len(items):
        return list(items)
    if count == 1:
        return [items[0]]
    return [items[round(k * (len(items) - 1) / (count - 1))] for k in range(count)]


# Checks of files ----------------------------------------------------------


class Checker:
    """Checks files whole, remembering those already checked (by inode, size and mtime)."""

    def __init__(self):
        self._seen = set()
        self._saved_models = {}
        self.files_checked = 0

    def _fresh(self, path):
        info = os.stat(path)
        key = (path, info.st_ino, info.st_size, info.st_mtime_ns)
        if key in self._seen:
            return False
        self._seen.add(key)
        self.files_checked += 1
        return True

    def visible_entries(self, root, skip=()):
        """Files and folders under ``root`` that a reader could pick up: no hidden names."""
        for directory, folders, files in os.walk(root):
            folders[:] = sorted(f for f in folders if not f.startswith(".") and f not in skip)
            for name in sorted(files):
                if not name.startswith("."):
                    yield os.path.join(directory, name)

    def hidden_entries(self, root):
        """Hidden (temporary, staging) names left under ``root``."""
        found = []
        for directory, folders, files in os.walk(root):
            found += [os.path.join(directory, n) for n in folders + files if n.startswith(".")]
            folders[:] = [f for f in folders if not f.startswith(".")]
        return found

    def check_file(self, path):
        """Returns a problem string, or None when the file is whole."""
        if not self._fresh(path):
            return None
        name = os.path.basename(path)
        try:
            if os.path.getsize(path) == 0 and not name.endswith(".txt"):
                return "empty file"
            if name.endswith(".keras"):
                import keras

                import keras_inception  # noqa: F401  (registers the custom layers)

                keras.saving.load_model(path, compile=False)
            elif name.endswith(".json"):
                with open(path, encoding="utf-8") as f:
                    json.load(f)
            elif name.endswith(".csv"):
                return check_history(path)
            elif name.endswith(".png"):
                from PIL import Image

                with Image.open(path) as image:
                    image.verify()
            elif name.endswith(".npz"):
                with np.load(path) as arrays:
                    for key in arrays.files:
                        arrays[key]
            elif name.endswith(".h5"):
                import h5py

                with h5py.File(path, "r") as f:
                    f.visititems(
                        lambda _, item: item[()] if isinstance(item, h5py.Dataset) else None
                    )
            elif name.endswith(".tflite"):
                from ai_edge_litert.interpreter import Interpreter

                Interpreter(model_path=path).allocate_tensors()
            elif name.startswith(("train-", "validation-")) or name.endswith(".tfrecord"):
                count_records(path)
            elif name == "models.config":
                text = open(path, encoding="utf-8").read()
                if not (text.startswith("model_config_list {") and text.endswith("}\n")):
                    return "models.config is not a whole model_config_list"
            elif name == "batching_parameters.txt":
                if "max_batch_size" not in open(path, encoding="utf-8").read():
                    return "batching_parameters.txt is not whole"
        except Exception as error:  # noqa: BLE001  (any failure to read is the finding)
            return f"{type(error).__name__}: {' '.join(str(error).split())[:200]}"
        return None

    def check_saved_model(self, version_dir, signatures=None):
        """Loads a SavedModel version directory; returns ``(problem, signature names)``."""
        marker = os.path.join(version_dir, "saved_model.pb")
        if not os.path.isfile(marker):
            return "no saved_model.pb", None
        info = os.stat(marker)
        key = (version_dir, info.st_ino, info.st_mtime_ns, tuple(signatures or ()))
        if key not in self._saved_models:
            self.files_checked += 1
            self._saved_models[key] = self._load_saved_model(version_dir, signatures)
        return self._saved_models[key]

    @staticmethod
    def _load_saved_model(version_dir, signatures):
        try:
            import tensorflow as tf

            loaded = tf.saved_model.load(version_dir)
            names = sorted(loaded.signatures)
        except Exception as error:  # noqa: BLE001
            return f"{type(error).__name__}: {' '.join(str(error).split())[:200]}", None
        if signatures is not None and names != signatures:
            return f"signatures {names} != {signatures}", names
        return None, names


def check_history(path):
    epochs = []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            epochs.append(int(row["epoch"]))
    if epochs != list(range(len(epochs))):
        return f"history.csv epochs {epochs} are not 0..{len(epochs) - 1} once each"
    return None


def count_records(path):
    """Reads a TFRecord file with its CRCs checked; returns ``[sha256 of each example]``.

    Examples are hashed in a canonical serialization: protobuf writes the
    feature map in an order that may change from one process to the next.
    """
    import tensorflow as tf

    return [
        hashlib.sha256(
            tf.train.Example.FromString(record.numpy()).SerializeToString(deterministic=True)
        ).hexdigest()
        for record in tf.data.TFRecordDataset(path)
    ]


def saved_model_versions(model_dir):
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(v) for v in os.listdir(model_dir) if _VERSION.match(v))


def check_export_base(checker, base, problems, signatures=None):
    """Every file of an export base, every all-digit version loadable; ``{model: {v: sigs}}``."""
    found = {}
    if not os.path.isdir(base):
        return found
    for path in checker.visible_entries(base, skip=()):
        if os.sep + "variables" + os.sep in path or path.endswith("saved_model.pb"):
            continue  # parts of a SavedModel, checked by loading it below
        if os.sep + "assets" in path:
            continue
        problem = checker.check_file(path)
        if problem:
            problems.append(f"{os.path.relpath(path, base)}: {problem}")
    for model in sorted(os.listdir(base)):
        model_dir = os.path.join(base, model)
        if model.startswith(".") or not os.path.isdir(model_dir):
            continue
        for version in saved_model_versions(model_dir):
            version_dir = os.path.join(model_dir, str(version))
            problem, names = checker.check_saved_model(version_dir, signatures)
            if problem:
                problems.append(f"{os.path.relpath(version_dir, base)}: {problem}")
            found.setdefault(model, {})[version] = names
    return found


# Scenarios ------------------------------------------------------------------


class Scenario:
    """A command on tiny inputs: its arguments, what a kill may leave, what a finished run gives."""

    name = None
    # The reference run's result (``result``'s fingerprint), set once it is known.
    reference = None
    # The point after the command's last write, if it has one: a run killed past
    # it is finished (the same command on a finished train run starts a new one).
    done_point = None

    def __init__(self, root):
        self.root = root
        self.inputs = os.path.join(root, "inputs")
        os.makedirs(self.inputs, exist_ok=True)

    def setup(self):
        """Writes the inputs."""

    def argv(self, out):
        raise NotImplementedError

    def check_after_kill(self, checker, out):
        """Problems a reader would meet in ``out`` right after a kill (list of strings)."""
        raise NotImplementedError

    def result(self, checker, out):
        """``(problems, fingerprint)`` of a run; the fingerprint must equal the reference's."""
        raise NotImplementedError


def write_image_folder(root, classes=2, per_class=10, size=24, seed=0):
    """A class-folder dataset of small PNGs (smooth colour gradients, one hue per class)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c in range(classes):
        folder = os.path.join(root, f"class_{c}")
        os.makedirs(folder, exist_ok=True)
        for i in range(per_class):
            base = np.linspace(0, 255, size, dtype=np.float32)
            image = np.stack(np.meshgrid(base, base), -1).mean(-1, keepdims=True)
            image = np.concatenate([image * (c == k) + rng.uniform(0, 40) for k in range(3)], -1)
            Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(
                os.path.join(folder, f"{i:03d}.png")
            )
    return root


class TrainScenario(Scenario):
    """``keras-inception train`` on a 2-class PNG folder: 3 epochs of 2 steps, exports."""

    name = "train"
    epochs = 3
    done_point = "train.complete"

    def setup(self):
        self.data = write_image_folder(os.path.join(self.inputs, "images"))

    def argv(self, out):
        return [
            "train",
            "--preset",
            "smoke",
            "--data",
            self.data,
            "--model",
            "inception_v1",
            "--epochs",
            str(self.epochs),
            "--run-dir",
            os.path.join(out, "run"),
            "--set",
            "image_size=32",
            "--set",
            "depth_multiplier=0.25",
            "--set",
            "steps_per_epoch=2",
            "--set",
            "batch_size=4",
            "--set",
            "verbose=2",
            "--set",
            "export=true",
            "--set",
            f"export_dir={os.path.join(out, 'exports')}",
            "--set",
            "tflite_mode=float32",
        ]

    def check_after_kill(self, checker, out):
        problems = []
        run_dir = os.path.join(out, "run")
        if os.path.isdir(run_dir):
            for path in checker.visible_entries(run_dir, skip=("tensorboard",)):
                problem = checker.check_file(path)
                if problem:
                    problems.append(f"{os.path.relpath(path, out)}: {problem}")
            problems += self._check_backup(run_dir)
        check_export_base(checker, os.path.join(out, "exports"), problems)
        return problems

    @staticmethod
    def _check_backup(run_dir):
        """A backup's state names weights files that exist (they were checked as .h5 files)."""
        problems = []
        backup = os.path.join(run_dir, "backup")
        for phase in sorted(os.listdir(backup)) if os.path.isdir(backup) else []:
            state_path = os.path.join(backup, phase, "state.json")
            if not os.path.isfile(state_path):
                continue
            with open(state_path, encoding="utf-8") as f:
                state = json.load(f)
            for entry in (state, state.get("previous")):
                if entry and not os.path.isfile(os.path.join(backup, phase, entry["weights"])):
                    problems.append(f"backup/{phase}/state.json names a missing {entry['weights']}")
        return problems

    def result(self, checker, out):
        problems = self.check_after_kill(checker, out)
        run_dir = os.path.join(out, "run")
        summary_path = os.path.join(run_dir, "summary.json")
        if not os.path.isfile(summary_path):
            return problems + ["no summary.json"], None
        with open(summary_path, encoding="utf-8") as f:
            summary = json.load(f)
        with open(os.path.join(run_dir, "history.csv"), newline="", encoding="utf-8") as f:
            epochs = [int(row["epoch"]) for row in csv.DictReader(f)]
        if os.path.exists(os.path.join(run_dir, "backup")):
            problems.append("the backup was not removed")
        problems += [f"left behind: {p}" for p in checker.hidden_entries(out)]
        exports = check_export_base(checker, os.path.join(out, "exports"), problems)
        tflite = summary.get("exports", {}).get("tflite", {})
        fingerprint = {
            "state": summary.get("state"),
            "epochs": summary.get("epochs"),
            "history_epochs": epochs,
            "saved_model": exports,
            "tflite_signature": tflite.get("input"),
            "files": sorted(
                os.path.relpath(p, out)
                for p in checker.visible_entries(out, skip=("tensorboard", "variables", "assets"))
            ),
        }
        return problems, fingerprint


class ExportScenario(Scenario):
    """``keras-inception export`` of a small ``.keras`` classifier as a SavedModel.

    The network is a few layers (the export machinery does not depend on it),
    so that a run takes seconds: ``train`` exports a registry network.
    """

    name = "export"

    def setup(self):
        import keras

        keras.utils.set_random_seed(0)
        inputs = keras.Input((32, 32, 3))
        x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inputs)
        x = keras.layers.GlobalAveragePooling2D()(x)
        model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
        self.source = os.path.join(self.inputs, "tiny.keras")
        model.save(self.source)
        with open(os.path.join(self.inputs, "class_names.json"), "w", encoding="utf-8") as f:
            json.dump(["cat", "dog", "owl"], f)

    def argv(self, out):
        return [
            "export",
            self.source,
            "--out",
            os.path.join(out, "exports"),
            "--model-name",
            "tiny",
        ]

    def check_after_kill(self, checker, out):
        problems = []
        check_export_base(checker, os.path.join(out, "exports"), problems)
        return problems

    def result(self, checker, out):
        problems = []
        exports = check_export_base(checker, os.path.join(out, "exports"), problems)
        problems += [f"left behind: {p}" for p in checker.hidden_entries(out)]
        versions = exports.get("tiny", {})
        if not versions:
            return problems + ["no version exported"], None
        # A kill after a version was published leaves it, whole; the rerun adds the next.
        signatures = {tuple(names or ()) for names in versions.values()}
        if len(signatures) != 1:
            problems.append(f"versions with different signatures: {versions}")
        with open(os.path.join(out, "exports", "models.config"), encoding="utf-8") as f:
            config = f.read()
        return problems, {"signatures": sorted(signatures), "models_config": config}


class DataConvertScenario(Scenario):
    """``keras-inception data convert`` of a 2-class PNG folder into 16 + 4 shards."""

    name = "data_convert"

    def setup(self):
        self.images = write_image_folder(os.path.join(self.inputs, "images"), per_class=20)

    def argv(self, out):
        return [
            "data",
            "convert",
            self.images,
            os.path.join(out, "records"),
            "--shards",
            "16",
            "--validation-shards",
            "4",
            "--validation-split",
            "0.2",
            "--overwrite",
        ]

    def _records(self, checker, records, problems):
        """``{file: [record hashes]}`` of a whole output, or problems."""
        if not os.path.isdir(records):
            return None
        info_path = os.path.join(records, "dataset_info.json")
        if not os.path.isfile(info_path):
            problems.append("records/ is visible without its dataset_info.json")
            return None
        for path in checker.visible_entries(records):
            problem = checker.check_file(path)
            if problem:
                problems.append(f"{os.path.relpath(path, records)}: {problem}")
        with open(info_path, encoding="utf-8") as f:
            info = json.load(f)
        content = {}
        for split, entry in info["splits"].items():
            for name in entry["files"]:
                path = os.path.join(records, name)
                if not os.path.isfile(path):
                    problems.append(f"{name} listed in dataset_info.json is missing")
                    continue
                content[name] = count_records(path)
            total = sum(len(content.get(n, [])) for n in entry["files"])
            if total != entry["num_examples"]:
                problems.append(f"{split}: {total} records, {entry['num_examples']} listed")
        return content

    def check_after_kill(self, checker, out):
        problems = []
        self._records(checker, os.path.join(out, "records"), problems)
        return problems

    def result(self, checker, out):
        problems = []
        content = self._records(checker, os.path.join(out, "records"), problems)
        problems += [f"left behind: {p}" for p in checker.hidden_entries(out)]
        if content is None:
            return problems + ["no records/"], None
        return problems, content


class ConvertScenario(Scenario):
    """``keras-inception convert`` of a thin TF-slim GoogLeNet checkpoint archive."""

    name = "convert"

    def setup(self):
        import tarfile

        import keras

        import keras_inception
        from keras_inception.weights import slim

        keras.utils.set_random_seed(0)
        model = keras_inception.get_model(
            "inception_v1",
            weights=None,
            input_shape=(75, 75, 3),
            depth_multiplier=0.25,
        )
        prefix = slim.save_checkpoint(
            model,
            os.path.join(self.inputs, "ckpt", "inception_v1.ckpt"),
            "inception_v1",
            background_class=True,
        )
        self.source = os.path.join(self.inputs, "inception_v1_thin.tar.gz")
        with tarfile.open(self.source, "w:gz") as archive:
            for name in os.listdir(os.path.dirname(prefix)):
                archive.add(os.path.join(os.path.dirname(prefix), name), arcname=name)

    def argv(self, out):
        return [
            "convert",
            self.source,
            "--model",
            "inception_v1",
            "--depth-multiplier",
            "0.25",
            "--out",
            os.path.join(out, "inception_v1_thin.weights.h5"),
        ]

    def _weights(self, checker, out, problems):
        folder = out
        for path in checker.visible_entries(folder):
            problem = checker.check_file(path)
            if problem:
                problems.append(f"{os.path.relpath(path, out)}: {problem}")
        path = os.path.join(folder, "inception_v1_thin.weights.h5")
        if not os.path.isfile(path):
            return None
        sidecar = path + ".sha256"
        if os.path.isfile(sidecar):
            with open(path, "rb") as f:
                actual = hashlib.sha256(f.read()).hexdigest()
            with open(sidecar, encoding="utf-8") as f:
                if f.read().split()[:1] != [actual]:
                    problems.append("the .sha256 sidecar does not match the weights file")
        import h5py

        digest = {}
        with h5py.File(path, "r") as f:
            f.visititems(
                lambda name, item: (
                    digest.__setitem__(
                        name, hashlib.sha256(np.ascontiguousarray(item[()]).tobytes()).hexdigest()
                    )
                    if isinstance(item, h5py.Dataset)
                    else None
                )
            )
        return digest

    def check_after_kill(self, checker, out):
        problems = []
        digest = self._weights(checker, out, problems)
        if digest is not None and self.reference is not None and digest != self.reference:
            problems.append("the published weights differ from an uninterrupted conversion's")
        return problems

    def result(self, checker, out):
        problems = []
        digest = self._weights(checker, out, problems)
        problems += [f"left behind: {p}" for p in checker.hidden_entries(out)]
        if digest is None:
            return problems + ["no weights file"], None
        return problems, digest


SCENARIOS = {
    "train": TrainScenario,
    "export": ExportScenario,
    "data_convert": DataConvertScenario,
    "convert": ConvertScenario,
}


# The campaign ---------------------------------------------------------------


@dataclasses.dataclass
class Report:
    """What a campaign found for one command."""

    command: str
    reference_points: dict = dataclasses.field(default_factory=dict)
    reference_seconds: float = 0.0
    kills: list = dataclasses.field(default_factory=list)
    unreached: list = dataclasses.field(default_factory=list)
    chains: int = 0
    recovered: int = 0
    problems: list = dataclasses.field(default_factory=list)
    epochs_lost_max: int = 0
    files_checked: int = 0
    seconds: float = 0.0

    @property
    def passed(self):
        return not self.problems

    def to_dict(self):
        return {
            **dataclasses.asdict(self),
            "kill_points": sum(1 for k in self.kills if not k["timed"]),
            "timed_kills": sum(1 for k in self.kills if k["timed"]),
            "distinct_points": len(
                {k["target"].split("@")[0] for k in self.kills if not k["timed"]}
            ),
            "passed": self.passed,
        }


class Campaign:
    """Kills one command at chosen points (and random times) and checks every rerun."""

    def __init__(self, scenario_cls, root, *, points, timed, seed, log=print):
        self._chain_kills = 0
        self.root = root
        self.scenario = scenario_cls(os.path.join(root, scenario_cls.name))
        self.points = points
        self.timed = timed
        self.rng = random.Random(seed)
        self.log = log
        self.checker = Checker()
        self.report = Report(scenario_cls.name)
        self._outs = 0

    def _out(self):
        self._outs += 1
        path = os.path.join(self.scenario.root, f"out{self._outs:03d}")
        os.makedirs(path)
        return path

    def _run(self, out, fault=None, kill_after=None):
        return run_command(
            self.scenario.argv(out), workdir=self.scenario.root, fault=fault, kill_after=kill_after
        )

    def execute(self):
        start = time.monotonic()
        self.scenario.setup()
        out = self._out()
        reference = self._run(out)
        if reference.returncode != 0:
            raise RuntimeError(
                f"{self.scenario.name}: the reference run failed:\n{reference.output[-4000:]}"
            )
        self.report.reference_seconds = round(reference.seconds, 1)
        self.report.reference_points = dict(collections.Counter(reference.trace))
        problems, self.fingerprint = self.scenario.result(self.checker, out)
        if problems or self.fingerprint is None:
            raise RuntimeError(f"{self.scenario.name}: the reference run's output: {problems}")
        self.scenario.reference = self.fingerprint
        self.epochs = getattr(self.scenario, "epochs", None)
        targets = choose_targets(reference.trace, self.points)
        self.log(
            f"{self.scenario.name}: reference {reference.seconds:.0f} s, "
            f"{len(set(reference.trace))} distinct points, {len(reference.trace)} reached; "
            f"{len(targets)} targets"
        )
        self._point_chains(collections.deque(targets))
        # Fewer point occurrences than asked for: time-based kills make up the number.
        self.timed = max(self.timed, self.points - len(targets))
        self._timed_chain(reference.first_point or 0.0, reference.seconds)
        self.report.files_checked = self.checker.files_checked
        self.report.seconds = round(time.monotonic() - start, 1)
        return self.report

    def _point_chains(self, pending):
        attempts = collections.Counter()
        while pending:
            out = self._out()
            self.report.chains += 1
            self._chain_kills = 0
            chain = _Progress(self.epochs)
            while True:
                target = pending[0] if pending else None
                run = self._run(out, fault=target)
                chain.after(run, self.report)
                if run.killed:
                    pending.popleft()
                    self._after_kill(run, out, target, timed=False)
                    if self.scenario.done_point in run.trace:
                        self._check_result(out, "killed after its last write, no rerun")
                        break
                    continue
                if target is not None:
                    attempts[target] += 1
                    if attempts[target] >= 2 or self.report.chains > 4 * self.points:
                        pending.popleft()
                        self.report.unreached.append(target)
                self._finished(run, out)
                break

    def _timed_chain(self, first_point, seconds):
        """Kills after random delays between the first point and the end of a run.

        A run that ends before its delay closes its chain (with shorter delays next).
        """
        kills = attempts = 0
        out = chain = None
        while kills < self.timed and attempts < 3 * self.timed:
            attempts += 1
            if out is None:
                out, chain = self._out(), _Progress(self.epochs)
                self.report.chains += 1
                self._chain_kills = 0
            delay = self.rng.uniform(min(first_point, 0.9 * seconds), seconds)
            run = self._run(out, kill_after=delay)
            chain.after(run, self.report)
            if run.killed:
                kills += 1
                self._after_kill(run, out, f"after {delay:.1f} s", timed=True)
                if self.scenario.done_point in run.trace:
                    self._check_result(out, "killed after its last write, no rerun")
                    out = None
                continue
            self._finished(run, out)
            out, seconds = None, min(seconds, run.seconds)
        if out is not None:
            run = self._run(out)
            chain.after(run, self.report)
            self._finished(run, out)

    def _after_kill(self, run, out, target, *, timed):
        where = run.trace[-1] if run.trace else "(before any point)"
        problems = []
        if not timed:
            name, _, nth = target.partition("@")
            reached = collections.Counter(run.trace)[name]
            if not run.trace or run.trace[-1] != name or reached != int(nth or 1):
                problems.append(f"killed at {where} x{reached}, not at {target}")
        problems += self.scenario.check_after_kill(self.checker, out)
        self.report.kills.append(
            {
                "target": target,
                "timed": timed,
                "last_point": where,
                "seconds": round(run.seconds, 1),
                "problems": problems,
            }
        )
        self.report.problems += [f"after kill at {target}: {p}" for p in problems]
        self._chain_kills += 1
        self.log(
            f"  {self.scenario.name}: killed at {target:<42} "
            f"{'ok' if not problems else '; '.join(problems)}"
        )

    def _finished(self, run, out):
        if run.returncode != 0:
            self.report.problems.append(
                f"a rerun failed (exit {run.returncode}): {run.output.strip()[-1500:]}"
            )
            self.log(f"  {self.scenario.name}: RERUN FAILED exit {run.returncode}")
            return
        self._check_result(out, f"rerun finished in {run.seconds:.0f} s")

    def _check_result(self, out, label):
        """The chain's end: the result in ``out`` must be the reference's."""
        problems, fingerprint = self.scenario.result(self.checker, out)
        if fingerprint != self.fingerprint:
            problems.append(
                f"result differs from the reference: {_difference(fingerprint, self.fingerprint)}"
            )
        self.report.problems += [f"after rerun in {os.path.basename(out)}: {p}" for p in problems]
        if not problems:
            # Every kill of this chain was followed by reruns that ended with the reference result.
            self.report.recovered += self._chain_kills
        self.log(
            f"  {self.scenario.name}: {label}: "
            f"{'same result' if not problems else '; '.join(problems)}"
        )


class _Progress:
    """Counts, along one chain of train runs, the finished epochs a kill makes run again."""

    def __init__(self, epochs):
        self.epochs = epochs
        self.progress = 0

    def after(self, run, report):
        if self.epochs is None:
            return
        started = [int(m.group(1)) - 1 for m in _EPOCH_LINE.finditer(run.output)]
        if started:
            resume = started[0]
        elif any(p in _AFTER_TRAINING for p in run.trace):
            resume = self.epochs
        else:
            return  # killed before training started: nothing run, nothing lost
        lost = self.progress - resume
        if not 0 <= lost <= 1:
            report.problems.append(
                f"{'lost' if lost > 0 else 'skipped'} {abs(lost)} epoch(s): finished "
                f"{self.progress}, resumed at {resume}"
            )
        report.epochs_lost_max = max(report.epochs_lost_max, lost)
        self.progress = resume + run.trace.count("train.epoch_end")


def _difference(got, want):
    if not isinstance(got, dict) or not isinstance(want, dict):
        return f"{str(got)[:300]} != {str(want)[:300]}"
    keys = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
    shown = "; ".join(f"{k}: {str(got.get(k))[:150]} != {str(want.get(k))[:150]}" for k in keys[:3])
    return shown + (f" (and {len(keys) - 3} more)" if len(keys) > 3 else "")


def run_campaigns(commands, root, *, points, timed, seed, log=print):
    """Runs the campaign of each command under ``root``; returns their ``Report``s."""
    return [
        Campaign(SCENARIOS[c], root, points=points, timed=timed, seed=seed, log=log).execute()
        for c in commands
    ]


def format_table(reports):
    rows = [
        "| command | kill points (distinct) | timed kills | reruns that recovered | chains "
        "| epochs lost, max | corrupt or half-written files found | files checked | wall time |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in reports:
        d = r.to_dict()
        rows.append(
            f"| `{r.command}` | {d['kill_points']} ({d['distinct_points']}) | {d['timed_kills']} "
            f"| {r.recovered} of {len(r.kills)} | {r.chains} "
            f"| {r.epochs_lost_max if r.command == 'train' else '-'} | {len(r.problems)} "
            f"| {r.files_checked} | {r.seconds / 60:.1f} min |"
        )
    return "\n".join(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--command", choices=(*COMMANDS, "all"), default="all")
    parser.add_argument(
        "--points", type=int, default=20, help="kill points per command (default 20)"
    )
    parser.add_argument(
        "--timed",
        type=int,
        default=2,
        help="extra kills after a random delay, per command (default 2)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--workdir", help="where to work (default: a new temporary folder, removed)"
    )
    parser.add_argument("--json", metavar="FILE", help="write the reports as JSON")
    args = parser.parse_args(argv)
    commands = COMMANDS if args.command == "all" else (args.command,)
    root = args.workdir or tempfile.mkdtemp(prefix="fault_inject-")
    try:
        reports = run_campaigns(
            commands, root, points=args.points, timed=args.timed, seed=args.seed
        )
    finally:
        if not args.workdir:
            shutil.rmtree(root, ignore_errors=True)
    print(format_table(reports))
    for report in reports:
        for problem in report.problems:
            print(f"{report.command}: {problem}")
    if args.json:
        from keras_inception import atomic

        atomic.write_json(args.json, [r.to_dict() for r in reports])
    return 0 if all(r.passed for r in reports) else 1


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
