"""Evaluation as in the papers: single-crop, 10/12/144-crop and ensembles.

import keras_inception
result = keras_inception.evaluate(["inception_v3", "run/"], "val/", crops=144)
print(result.top1, result.top5)
result.save("eval_out")
"""

from keras_inception.evaluation.crops import CROP_COUNTS
from keras_inception.evaluation.crops import CropBox
from keras_inception.evaluation.crops import crop_boxes
from keras_inception.evaluation.crops import multi_crop
from keras_inception.evaluation.evaluate import EvaluationResult
from keras_inception.evaluation.evaluate import evaluate
from keras_inception.evaluation.evaluate import score
from keras_inception.evaluation.report import markdown_table
from keras_inception.evaluation.report import plot_confusion_matrix
from keras_inception.evaluation.report import write_report

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
