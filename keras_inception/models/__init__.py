"""The six networks; importing this package registers every builder."""

from keras_inception.models.inception_resnet_v1 import InceptionResNetV1
from keras_inception.models.inception_resnet_v2 import InceptionResNetV2
from keras_inception.models.inception_v1 import GoogLeNet
from keras_inception.models.inception_v1 import InceptionV1
from keras_inception.models.inception_v2 import InceptionV2
from keras_inception.models.inception_v3 import InceptionV3
from keras_inception.models.inception_v4 import InceptionV4

__all__ = [
    "GoogLeNet",
    "InceptionResNetV1",
    "InceptionResNetV2",
    "InceptionV1",
    "InceptionV2",
    "InceptionV3",
    "InceptionV4",
]
