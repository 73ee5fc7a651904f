"""The six networks; importing this package registers every builder."""

from keras_inception.models.inception_v3 import InceptionV3

__all__ = ["InceptionV3"]
