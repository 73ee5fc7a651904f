"""Training curves: ``history.csv`` -> a PNG of loss and accuracy per epoch."""

import csv
import math
import os

from keras_inception._extras import require
from keras_inception.training import checkpoints


def read_history(path):
    """Columns of a run's ``history.csv`` (or a ``CSVLogger`` file), one row per epoch.

    A run rewrites the file whole at each epoch end, one row per epoch; in a
    file appended to across resumes (``CSVLogger``), the last row written for
    an epoch wins.

    Args:
        path: the ``history.csv`` path.

    Returns:
        ``{column: [values]}`` ordered by epoch, with an ``"epoch"`` column;
        ``{}`` when the file does not exist.
    """
    if not os.path.exists(path):
        return {}
    rows = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            rows[int(row["epoch"])] = row
    history = {}
    for epoch in sorted(rows):
        for key, value in rows[epoch].items():
            history.setdefault(key, []).append(int(value) if key == "epoch" else _number(value))
    return history


def _number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def plot_history(history, path, title=None):
    """Draws loss and accuracy (training and validation) against epochs.

    The figure is drawn with the Agg canvas directly, so no GUI backend is
    needed and matplotlib's global backend is left alone. The PNG is written
    atomically: a reader sees the old image or the new one.

    Args:
        history: ``{metric: [values]}`` (``read_history`` or ``History.history``).
        path: the PNG to write.
        title: optional figure title, default None.

    Returns:
        ``path``.
    """
    FigureCanvasAgg = require("matplotlib.backends.backend_agg").FigureCanvasAgg
    Figure = require("matplotlib.figure").Figure

    epochs = history.get("epoch") or list(range(len(history.get("loss", []))))
    epochs = [e + 1 for e in epochs]
    accuracy = [k for k in history if k.endswith("accuracy") and not k.startswith("val_")]
    panels = [("loss", "loss")] + [(key, "accuracy") for key in accuracy[:1]]
    figure = Figure(figsize=(5.5 * len(panels), 4), tight_layout=True)
    FigureCanvasAgg(figure)
    for index, (key, label) in enumerate(panels, start=1):
        axes = figure.add_subplot(1, len(panels), index)
        for name, style in ((key, "-o"), (f"val_{key}", "--s")):
            if name in history:
                axes.plot(epochs, history[name], style, label=name, markersize=3)
        axes.set_xlabel("epoch")
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
        axes.legend()
    if title:
        figure.suptitle(title)
    return checkpoints.publish_file(path, lambda temporary: figure.savefig(temporary, dpi=100))
