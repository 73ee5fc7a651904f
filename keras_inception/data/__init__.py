"""Input pipelines: image sources, Inception preprocessing, ``tf.data`` batches.

    from keras_inception import data
    config = data.DataConfig("photos/", image_size=299, batch_size=32)
    train, info = data.build_dataset(config)
    val, _ = data.build_dataset(config.replace(split="validation"))
    model.fit(train, validation_data=val)

Sources: a class-folder directory, TFRecords (TF-slim layout), ``"tfds:NAME"``,
or the embedded ``"digits"``. Unusable files are skipped and reported (a
``SkippedFileWarning`` and a log file), never dropped silently.
"""

from keras_inception.data.config import DataConfig
from keras_inception.data.convert import write_tfrecords
from keras_inception.data.files import (
    DEFAULT_MAX_PIXELS,
    SkippedFileWarning,
    inspect_image_file,
    verify_decodable,
)
from keras_inception.data.layers import ColorDistortion
from keras_inception.data.pipeline import (
    DatasetInfo,
    build_dataset,
    calibration_images,
    load_class_names,
    save_class_names,
)
from keras_inception.data.preprocessing import (
    AUGMENTATIONS,
    Augmentation,
    central_crop_window,
    crop_to_window,
    decode_and_crop,
    decode_image,
    distort_color,
    distort_color_batch,
    load_for_eval,
    load_for_train,
    preprocess_for_eval,
    preprocess_for_train,
    random_flip,
    sample_crop_window,
    to_model_range,
)
from keras_inception.data.sources import Source, load_digits_rgb, open_source

__all__ = [
    "AUGMENTATIONS",
    "Augmentation",
    "ColorDistortion",
    "DEFAULT_MAX_PIXELS",
    "DataConfig",
    "DatasetInfo",
    "SkippedFileWarning",
    "Source",
    "build_dataset",
    "calibration_images",
    "central_crop_window",
    "crop_to_window",
    "decode_and_crop",
    "decode_image",
    "distort_color",
    "distort_color_batch",
    "inspect_image_file",
    "load_class_names",
    "load_digits_rgb",
    "load_for_eval",
    "load_for_train",
    "open_source",
    "preprocess_for_eval",
    "preprocess_for_train",
    "random_flip",
    "sample_crop_window",
    "save_class_names",
    "to_model_range",
    "verify_decodable",
    "write_tfrecords",
]
