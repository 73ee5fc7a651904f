"""The run directory's files, written so that a kill at any line loses at most an epoch.

Every file a run writes is published whole or not at all (``publish_file``):
the writer (``model.save``, ``np.savez``, a CSV writer, matplotlib) fills a
uniquely named temporary file beside the target, which is then fsynced, given
the permissions the user's umask allows, and renamed over the target. A
temporary file left by a killed writer carries its process id and is removed
by the next writer of that file (or by ``remove_stale_files``).

The end of an epoch writes, in this order: the backup (``write_backup``),
``best.keras``, ``last.keras``, then ``history.csv``. The history is the
commit record: a run killed between its backup and its history resumes from
the backup before (``restore_backup`` keeps two and takes the newest one the
history covers) and repeats that one epoch, so the history never has a gap and
never a duplicate row, and every checkpoint matches a history row.
"""

import contextlib
import csv
import io
import json
import os
import secrets

import keras

from keras_inception import atomic
from keras_inception import faults

STATE_FILE = "state.json"
_WEIGHTS_SUFFIX = ".weights.h5"


def publish_file(path, write):
    """Writes a file through ``write(temporary_path)`` and publishes it at ``path`` atomically.

    ``atomic.write_file``: the temporary path ends like ``path`` (``.keras``,
    ``.npz``, ``.png``, ...), since Keras and numpy choose the format from the
    name.

    Args:
        path: the file to (re)place.
        write: a function that writes the whole file at the path it is given.

    Returns:
        ``path``.
    """
    return atomic.write_file(path, write)


write_json = atomic.write_json


def read_json(path):
    """The JSON content of ``path``; ``None`` when there is no such file.

    Raises:
        ValueError: the file is not JSON (one line naming it).
    """
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(
            f"{path} is not valid JSON ({error}); remove it or the run directory. "
            f"Received: path={path!r}"
        ) from None


def remove_stale_files(directory, names):
    """Removes the temporary files that killed writers of ``names`` left in ``directory``."""
    for name in names:
        atomic.remove_stale(directory, f".{name}.tmp-")


# Backups -----------------------------------------------------------------


def read_backup(backup_dir):
    """The saved state ``{"epoch", "weights", ["previous"]}``, or ``None``."""
    return read_json(os.path.join(backup_dir, STATE_FILE))


def write_backup(model, backup_dir, epoch):
    """Saves weights and optimizer state so a run can resume at ``epoch``.

    The weights go to a new, uniquely named file; ``state.json`` is then
    replaced atomically to point at it, keeping the state it replaces as
    ``"previous"`` (``restore_backup`` falls back to it). Weights files that
    neither state names (older ones, those of a killed write) are removed.
    """
    os.makedirs(backup_dir, exist_ok=True)
    current = read_backup(backup_dir)
    weights = f"epoch_{epoch}-{os.getpid()}-{secrets.token_hex(4)}{_WEIGHTS_SUFFIX}"
    path = os.path.join(backup_dir, weights)
    model.save_weights(path)
    atomic.fsync_path(path)
    faults.point("train.backup_weights_written")
    state = {"epoch": int(epoch), "weights": weights}
    if current:
        state["previous"] = {"epoch": current["epoch"], "weights": current["weights"]}
    write_json(os.path.join(backup_dir, STATE_FILE), state)
    faults.point("train.backup_written")
    _remove_unreferenced_weights(backup_dir, state)


def restore_backup(model, backup_dir, committed=None):
    """Loads the newest backup the history covers into ``model``.

    Args:
        model: the compiled model (its optimizer is built if needed).
        backup_dir: the backup directory.
        committed: epochs whose outputs (checkpoints, history row) were
            written, or None to take the newest backup. A backup of a later
            epoch (a kill after the backup, before the history) is passed
            over for the one before it, and that epoch is run again.

    Returns:
        The epoch to resume at: 0 when there is no usable backup.
    """
    state = read_backup(backup_dir)
    if not state:
        return 0
    for entry in (state, state.get("previous")):
        if not entry or (committed is not None and entry["epoch"] > committed):
            continue
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        path = os.path.join(backup_dir, entry["weights"])
        try:
            model.load_weights(path)
        except (OSError, ValueError, KeyError) as error:
            raise ValueError(
                f"The backup {path} does not load ({' '.join(str(error).split())}); "
                f"remove {backup_dir} to restart that phase. Received: backup_dir={backup_dir!r}"
            ) from None
        return int(entry["epoch"])
    return 0


def remove_stale_backup_files(backup_dir):
    """Removes what a killed ``write_backup`` left: unreferenced weights, temporary state."""
    if not os.path.isdir(backup_dir):
        return
    remove_stale_files(backup_dir, [STATE_FILE])
    _remove_unreferenced_weights(backup_dir, read_backup(backup_dir) or {})


def _remove_unreferenced_weights(backup_dir, state):
    keep = {state.get("weights"), (state.get("previous") or {}).get("weights")}
    for name in os.listdir(backup_dir):
        if name.endswith(_WEIGHTS_SUFFIX) and name not in keep:
            with contextlib.suppress(OSError):
                os.remove(os.path.join(backup_dir, name))


# History ------------------------------------------------------------------


def read_rows(path):
    """The rows of ``history.csv`` as dicts of strings (``[]`` when absent)."""
    if not os.path.exists(path):
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return [row for row in csv.DictReader(f) if (row.get("epoch") or "").isdigit()]


def committed_epochs(path):
    """How many epochs, counted from 0 without a gap, have a row in ``history.csv``."""
    epochs = {int(row["epoch"]) for row in read_rows(path)}
    count = 0
    while count in epochs:
        count += 1
    return count


def write_history_row(path, epoch, logs):
    """Rewrites ``history.csv`` atomically: its rows before ``epoch``, then this one."""
    rows = [row for row in read_rows(path) if int(row["epoch"]) < epoch]
    rows.append({"epoch": str(epoch), **{k: _csv_value(v) for k, v in logs.items()}})
    fields = ["epoch"] + sorted({key for row in rows for key in row} - {"epoch"})
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic.write_bytes(path, text.getvalue().encode("utf-8"))


def _csv_value(value):
    try:
        return repr(float(value))
    except (TypeError, ValueError):
        return str(value)


# Callbacks ----------------------------------------------------------------


class BackupCallback(keras.callbacks.Callback):
    """Writes the backup at each epoch end (and every ``save_freq`` steps) in ``model.fit``.

    The fault-injection points ``train.batch_end`` (after each step) and
    ``train.epoch_end`` (before the epoch's backup) are reached here.

    Args:
        backup_dir: the phase's backup directory.
        save_freq: ``"epoch"`` or a number of steps between mid-epoch backups.
    """

    def __init__(self, backup_dir, save_freq="epoch"):
        super().__init__()
        self.backup_dir = backup_dir
        self.save_freq = save_freq
        self._epoch = 0
        self._steps = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        faults.point("train.batch_end")
        if self.save_freq == "epoch":
            return
        self._steps += 1
        if self._steps % self.save_freq == 0:
            write_backup(self.model, self.backup_dir, self._epoch)

    def on_epoch_end(self, epoch, logs=None):
        faults.point("train.epoch_end")
        write_backup(self.model, self.backup_dir, epoch + 1)


class CheckpointCallback(keras.callbacks.Callback):
    """Saves the model to a ``.keras`` file at each epoch end, atomically.

    Args:
        path: the ``.keras`` file.
        point: the fault-injection name, ``train.before_<point>`` and
            ``train.after_<point>`` around the write.
        monitor: a log key; when given, the model is saved only when the
            value exceeds the best so far. Default None: every epoch.
        best: the best value of earlier epochs (a resumed run), default None.
        saved: the model to save, default None: the model being trained (a
            run whose step wraps the network, e.g. with the colour
            distortion, saves the network alone).
    """

    def __init__(self, path, point, monitor=None, best=None, saved=None):
        super().__init__()
        self.path = path
        self.point = point
        self.monitor = monitor
        self.best = best
        self.saved = saved

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor:
            value = (logs or {}).get(self.monitor)
            if value is None or (self.best is not None and not value > self.best):
                return
            self.best = float(value)
        faults.point(f"train.before_{self.point}")
        publish_file(self.path, (self.model if self.saved is None else self.saved).save)
        faults.point(f"train.after_{self.point}")


class HistoryCallback(keras.callbacks.Callback):
    """Rewrites ``history.csv`` at each epoch end: one row per epoch, no gap, no duplicate.

    Args:
        path: the CSV file.
    """

    def __init__(self, path):
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        write_history_row(self.path, epoch, logs or {})
        faults.point("train.history_written")
