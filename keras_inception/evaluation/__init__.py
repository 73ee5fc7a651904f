"""Evaluation as in the papers: single-crop, 10/12/144-crop and ensembles.

    import keras_inception
    result = keras_inception.evaluate(["inception_v3", "run/"], "val/", crops=144)
    print(result.top1, result.top5)
    result.save("eval_out")
"""

from keras_inception.evaluation.crops import CROP_COUNTS, CropBox, crop_boxes, multi_crop
from keras_inception.evaluation.evaluate import EvaluationResult, evaluate, score
from keras_inception.evaluation.report import markdown_table, plot_confusion_matrix, write_report

__all__ = [
    "CROP_COUNTS",
    "CropBox",
    "EvaluationResult",
    "crop_boxes",
    "evaluate",
    "markdown_table",
    "multi_crop",
    "plot_confusion_matrix",
    "score",
    "write_report",
]
