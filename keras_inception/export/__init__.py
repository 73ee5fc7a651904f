"""Export for deployment: SavedModel for TF Serving, TFLite (LiteRT) for mobile.

    from keras_inception import export
    export.export_saved_model("runs/flowers", base_dir="saved_models")
    export.export_saved_model("runs/flowers", precision="bfloat16", parity_data="photos/")
    export.export_tflite("runs/flowers", "flowers_int8.tflite", mode="int8",
                         calibration_data="photos/")
"""

from keras_inception.inference import PRECISIONS, fold_batch_norm, serving_copy
from keras_inception.export.saved_model import (
    META_FILE,
    SIGNATURE_BYTES,
    SIGNATURE_PIXELS,
    SIGNATURE_PIXELS_UINT8,
    ServingModule,
    export_saved_model,
)
from keras_inception.export.serving_config import model_versions, write_serving_config
from keras_inception.export.source import load_source
from keras_inception.export.tflite import (
    FLOAT_OPS,
    MODES,
    LiteRTClassifier,
    export_tflite,
    parity_check,
    sidecar_path,
)

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
