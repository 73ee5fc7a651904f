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
from keras_inception.data.files import DEFAULT_MAX_PIXELS
from keras_inception.data.files import SkippedFileWarning
from keras_inception.data.files import inspect_image_file
from keras_inception.data.files import verify_decodable
from keras_inception.data.layers import ColorDistortion
from keras_inception.data.pipeline import DatasetInfo
from keras_inception.data.pipeline import build_dataset
from keras_inception.data.pipeline import calibration_images
from keras_inception.data.pipeline import load_class_names
from keras_inception.data.pipeline import save_class_names
from keras_inception.data.preprocessing import AUGMENTATIONS
from keras_inception.data.preprocessing import Augmentation
from keras_inception.data.preprocessing import central_crop_window
from keras_inception.data.preprocessing import crop_to_window
from keras_inception.data.preprocessing import decode_and_crop
from keras_inception.data.preprocessing import decode_image
from keras_inception.data.preprocessing import distort_color
from keras_inception.data.preprocessing import distort_color_batch
from keras_inception.data.preprocessing import load_for_eval
from keras_inception.data.preprocessing import load_for_train
from keras_inception.data.preprocessing import preprocess_for_eval
from keras_inception.data.preprocessing import preprocess_for_train
from keras_inception.data.preprocessing import random_flip
from keras_inception.data.preprocessing import sample_crop_window
from keras_inception.data.preprocessing import to_model_range
from keras_inception.data.sources import Source
from keras_inception.data.sources import load_digits_rgb
from keras_inception.data.sources import open_source

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
