"""Evaluation reports: a JSON summary, a Markdown table, a confusion-matrix image.

The functions take any object with the attributes of ``EvaluationResult``.
Files are written atomically (``keras_inception.atomic``): a rerun never leaves half a
report.
"""

import io
import os

import numpy as np

from keras_inception import atomic
from keras_inception._extras import require

# Above this many classes the confusion matrix is left out of the JSON and the image.
MAX_CONFUSION_CLASSES = 50
# Above this many classes the image shows colours only, no counts.
MAX_ANNOTATED_CLASSES = 20
JSON_FILE = "evaluation.json"
MARKDOWN_FILE = "evaluation.md"
CONFUSION_FILE = "confusion_matrix.png"


def result_dict(result):
    """A JSON-serializable summary: accuracy and error, counts, per-class accuracy.

    The confusion matrix (rows = true class, columns = top-1 prediction) is
    included for at most ``MAX_CONFUSION_CLASSES`` classes.
    """
    summary = {
        "models": list(result.models),
        "data": result.data,
        "crops": result.crops,
        "num_images": result.num_images,
        "top1": result.top1,
        "top5": result.top5,
        "top1_error": result.top1_error,
        "top5_error": result.top5_error,
        "top_k": result.top_k,
        "seconds": result.seconds,
        "images_per_second": result.num_images / result.seconds if result.seconds else None,
        "per_class": result.per_class,
    }
    if len(result.class_names) <= MAX_CONFUSION_CLASSES:
        summary["confusion_matrix"] = result.confusion_matrix.tolist()
    return summary


def _percent(fraction):
    return "n/a" if fraction is None else f"{100 * fraction:.2f}"


def markdown_table(results):
    """A Markdown table with one row per result: models, crops, images, accuracy, error."""
    if not isinstance(results, (list, tuple)):
        results = [results]
    lines = [
        "| Models | Crops | Images | Top-1 % | Top-5 % | Top-1 err % | Top-5 err % |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        models = " + ".join(f"`{name}`" for name in r.models)
        lines.append(
            f"| {models} | {r.crops} | {r.num_images} | {_percent(r.top1)} | "
            f"{_percent(r.top5)} | {_percent(r.top1_error)} | {_percent(r.top5_error)} |"
        )
    return "\n".join(lines)


def per_class_table(result):
    """A Markdown table of each class's images and top-1/top-5 accuracy."""
    lines = ["| Class | Images | Top-1 % | Top-5 % |", "|---|---:|---:|---:|"]
    for name, row in result.per_class.items():
        lines.append(
            f"| {name} | {row['images']} | {_percent(row['top1'])} | {_percent(row['top5'])} |"
        )
    return "\n".join(lines)


def plot_confusion_matrix(confusion, class_names, path):
    """Saves a row-normalized confusion matrix as a PNG (matplotlib's Agg canvas).

    Args:
        confusion: int ``[classes, classes]``, rows = true class.
        class_names: tick labels.
        path: output file.
    """
    FigureCanvasAgg = require("matplotlib.backends.backend_agg").FigureCanvasAgg
    Figure = require("matplotlib.figure").Figure

    confusion = np.asarray(confusion)
    size = len(class_names)
    rows = confusion.sum(axis=1, keepdims=True)
    normalized = np.divide(confusion, rows, out=np.zeros(confusion.shape), where=rows > 0)
    inches = max(4.0, 0.3 * size + 2.0)
    figure = Figure(figsize=(inches + 1.0, inches))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    image = axes.imshow(normalized, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="fraction of the true class")
    axes.set_xticks(range(size), class_names, rotation=90, fontsize=8)
    axes.set_yticks(range(size), class_names, fontsize=8)
    axes.set_xlabel("predicted (top-1)")
    axes.set_ylabel("true class")
    if size <= MAX_ANNOTATED_CLASSES:
        for (row, column), count in np.ndenumerate(confusion):
            if count:
                color = "white" if normalized[row, column] > 0.5 else "black"
                axes.text(
                    column, row, str(count), ha="center", va="center", color=color, fontsize=7
                )
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    atomic.write_bytes(path, buffer.getvalue())


def write_report(result, out_dir):
    """Writes ``evaluation.json``, ``evaluation.md`` and (<= 50 classes) ``confusion_matrix.png``.

    Args:
        result: an ``EvaluationResult``.
        out_dir: directory to write to (created if needed).

    Returns:
        ``{"json": path, "markdown": path[, "confusion_matrix": path]}``.
    """
    os.makedirs(out_dir, exist_ok=True)
    paths = {
        "json": os.path.join(out_dir, JSON_FILE),
        "markdown": os.path.join(out_dir, MARKDOWN_FILE),
    }
    atomic.write_json(paths["json"], result_dict(result))
    sections = [
        f"# Evaluation on {result.data}",
        markdown_table(result),
        f"{result.num_images} images, {result.crops} crop(s) per image; top-5 is top-"
        f"{result.top_k}.",
    ]
    if len(result.class_names) <= MAX_CONFUSION_CLASSES:
        paths["confusion_matrix"] = os.path.join(out_dir, CONFUSION_FILE)
        plot_confusion_matrix(
            result.confusion_matrix, result.class_names, paths["confusion_matrix"]
        )
        sections += [
            "## Per class",
            per_class_table(result),
            f"![confusion matrix]({CONFUSION_FILE})",
        ]
    atomic.write_text(paths["markdown"], "\n\n".join(sections) + "\n")
    return paths


__all__ = [
    "markdown_table",
    "per_class_table",
    "plot_confusion_matrix",
    "result_dict",
    "write_report",
]
