"""Export for deployment: SavedModel for TF Serving, TFLite (LiteRT) for mobile.

    from keras_inception import export
    export.export_saved_model("runs/flowers", base_dir="saved_models")
    export.export_tflite("runs/flowers", "flowers_int8.tflite", mode="int8",
                         calibration_data="photos/")
"""

from keras_inception.export.saved_model import (
    SIGNATURE_BYTES,
    SIGNATURE_PIXELS,
    SIGNATURE_PIXELS_UINT8,
    ServingModule,
    export_saved_model,
)
from keras_inception.export.serving_config import model_versions, write_serving_config
from keras_inception.export.source import load_source
from keras_inception.export.tflite import (
    MODES,
    LiteRTClassifier,
    export_tflite,
    parity_check,
    sidecar_path,
)

__all__ = [
    "MODES",
    "LiteRTClassifier",
    "SIGNATURE_BYTES",
    "SIGNATURE_PIXELS",
    "SIGNATURE_PIXELS_UINT8",
    "ServingModule",
    "export_saved_model",
    "export_tflite",
    "load_source",
    "model_versions",
    "parity_check",
    "sidecar_path",
    "write_serving_config",
]
