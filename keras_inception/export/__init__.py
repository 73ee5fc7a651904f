"""Export for deployment: SavedModel for TF Serving, TFLite (LiteRT) for mobile.

from keras_inception import export
export.export_saved_model("runs/flowers", base_dir="saved_models")
export.export_saved_model("runs/flowers", precision="bfloat16", parity_data="photos/")
export.export_tflite("runs/flowers", "flowers_int8.tflite", mode="int8",
                     calibration_data="photos/")
"""

from keras_inception.export.saved_model import META_FILE
from keras_inception.export.saved_model import SIGNATURE_BYTES
from keras_inception.export.saved_model import SIGNATURE_PIXELS
from keras_inception.export.saved_model import SIGNATURE_PIXELS_UINT8
from keras_inception.export.saved_model import ServingModule
from keras_inception.export.saved_model import export_saved_model
from keras_inception.export.serving_config import model_versions
from keras_inception.export.serving_config import write_serving_config
from keras_inception.export.source import load_source
from keras_inception.export.tflite import FLOAT_OPS
from keras_inception.export.tflite import MODES
from keras_inception.export.tflite import LiteRTClassifier
from keras_inception.export.tflite import export_tflite
from keras_inception.export.tflite import parity_check
from keras_inception.export.tflite import sidecar_path
from keras_inception.inference import PRECISIONS
from keras_inception.inference import fold_batch_norm
from keras_inception.inference import serving_copy

__all__ = [
    "FLOAT_OPS",
    "META_FILE",
    "MODES",
    "PRECISIONS",
    "LiteRTClassifier",
    "SIGNATURE_BYTES",
    "SIGNATURE_PIXELS",
    "SIGNATURE_PIXELS_UINT8",
    "ServingModule",
    "export_saved_model",
    "export_tflite",
    "fold_batch_norm",
    "load_source",
    "model_versions",
    "parity_check",
    "serving_copy",
    "sidecar_path",
    "write_serving_config",
]
