"""The six networks; importing this package registers every builder."""

from keras_inception.models.inception_v1 import GoogLeNet, InceptionV1
from keras_inception.models.inception_v2 import InceptionV2
from keras_inception.models.inception_v3 import InceptionV3

__all__ = ["GoogLeNet", "InceptionV1", "InceptionV2", "InceptionV3"]
