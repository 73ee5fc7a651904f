"""The registry of pretrained weights: one record per set of published weights.

Two publishers released ImageNet weights for the family:

- ``keras.applications`` (Inception-v3 and Inception-ResNet-v2): HDF5 weight
  files with and without the classifier, 1000 classes, md5 checksums
  published in keras's ``inception_v3.py`` / ``inception_resnet_v2.py``;
- TF-slim (``tensorflow/models`` ``research/slim/README.md``): ``.tar.gz``
  archives holding one checkpoint each, for Inception-v1, -v2, -v3, -v4 and
  Inception-ResNet-v2, 1001 classes (class 0 is "background", ImageNet class
  ``i`` is output ``i + 1``), with the auxiliary head where the network has one.
  TF-slim publishes no checksums. The Inception-ResNet-v2 archive's md5 is the
  one pinned by the script that made the keras.applications weights
  (yuyang-huang/keras-inception-resnet-v2 ``extract_weights.py``); the others
  have none, so their sha256 is pinned on first use (see
  ``keras_inception.weights.download``).

Each model's ``weights="imagenet"`` is its record marked ``default``; every
record is also reachable by its own ``tag``.
"""

import dataclasses
import os
import urllib.parse

# The preprocessing every record expects: RGB scaled to [-1, 1] by x / 127.5 - 1.
INCEPTION_PREPROCESSING = "inception"
SLIM_LICENSE = "Apache-2.0 (tensorflow/models TF-slim release)"
KERAS_LICENSE = (
    "MIT (keras-applications; ported from the Apache-2.0 TF-slim checkpoints; "
    "no separate license is stated for the weight files)"
)
_KERAS_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/"
_SLIM_BASE = "https://download.tensorflow.org/models/"

_RECORDS = {}


@dataclasses.dataclass(frozen=True)
class WeightsFile:
    """One downloadable file.

    Attributes:
        url: where the publisher serves it.
        file_hash: its published checksum, or ``None`` when none is published
            (then its sha256 is pinned on first use).
        hash_algorithm: ``"md5"`` or ``"sha256"``, default ``"sha256"``.
    """

    url: str
    file_hash: str = None
    hash_algorithm: str = "sha256"

    @property
    def fname(self):
        """The file's name: the last component of its URL."""
        return os.path.basename(urllib.parse.urlsplit(self.url).path)


@dataclasses.dataclass(frozen=True)
class WeightsRecord:
    """Everything known about one set of pretrained weights.

    Attributes:
        model: registry name of the network, e.g. ``"inception_v3"``.
        tag: name of this set, accepted as ``weights=`` (e.g. ``"imagenet_slim"``).
        source: ``"keras.applications"`` or ``"tf-slim"``.
        file: the weights file (with the classifier).
        notop_file: a smaller file without the classifier, for
            ``include_top=False``, or ``None``.
        classes: width of the published classifier (1000, or 1001 for TF-slim).
        label_offset: index of ImageNet class 0 in the classifier (1 for
            TF-slim's background class, else 0).
        aux_logits: whether the weights include the auxiliary head.
        input_size: training and evaluation resolution in pixels.
        crop_fraction: central crop for evaluation (TF-slim's 0.875).
        interpolation: resize method for evaluation.
        preprocessing: pixel scaling, ``"inception"`` = ``x / 127.5 - 1``.
        top1: published single-crop ImageNet top-1 accuracy, percent.
        top5: published single-crop ImageNet top-5 accuracy, percent.
        num_params: ``count_params()`` of the model these weights fill:
            ``include_top=True``, ``classes=classes``, ``aux_logits=aux_logits``.
        license: the license the publisher states.
        variant: the builder ``variant`` the weights belong to, default ``"released"``.
        default: whether ``weights="imagenet"`` means this record, default False.
        notes: provenance of the figures and anything unusual.
    """

    model: str
    tag: str
    source: str
    file: WeightsFile
    classes: int
    label_offset: int
    aux_logits: bool
    input_size: int
    top1: float
    top5: float
    num_params: int
    license: str
    notop_file: WeightsFile = None
    crop_fraction: float = 0.875
    interpolation: str = "bilinear"
    preprocessing: str = INCEPTION_PREPROCESSING
    variant: str = "released"
    default: bool = False
    notes: str = ""

    @property
    def is_slim(self):
        """Whether the file is a TF-slim checkpoint archive (converted on first use)."""
        return self.source == "tf-slim"

    def file_for(self, include_top):
        """The file to fetch for a model with or without its classifier."""
        if not include_top and self.notop_file is not None:
            return self.notop_file
        return self.file


def register_weights(record):
    """Adds ``record`` to the registry.

    Raises:
        ValueError: a record with the same model and tag exists, or the model
            would get a second default.
    """
    key = (record.model, record.tag)
    if key in _RECORDS:
        raise ValueError(
            f"Weights {record.tag!r} of {record.model!r} are already registered. "
            f"Received: record={record!r}"
        )
    if record.default and any(r.default for r in list_weights(record.model)):
        raise ValueError(
            f"{record.model!r} already has default weights. Received: record={record!r}"
        )
    _RECORDS[key] = record
    return record


def unregister_weights(model, tag):
    """Removes a record (e.g. one registered by a test or a plugin)."""
    _RECORDS.pop((model, tag), None)


def list_weights(model=None):
    """The records of ``model`` (of every model when ``None``), sorted by model and tag."""
    return [r for key, r in sorted(_RECORDS.items()) if model is None or r.model == model]


def find_weights(model, weights):
    """The record that ``weights`` names for ``model``, or ``None`` if it names none.

    ``"imagenet"`` names the model's default record.

    Raises:
        ValueError: ``weights`` is ``"imagenet"`` but ``model`` has no published weights.
    """
    records = list_weights(model)
    if weights == "imagenet":
        defaults = [r for r in records if r.default]
        if not defaults:
            raise ValueError(
                f"No pretrained ImageNet weights are published for {model!r}; "
                "pass `weights=None` or the path of a weights file. "
                f"Received: weights={weights!r}"
            )
        return defaults[0]
    return _RECORDS.get((model, weights))


def get_weights(model, tag="imagenet"):
    """The record that ``tag`` names for ``model``.

    Raises:
        ValueError: no such record.
    """
    record = find_weights(model, tag)
    if record is None:
        tags = ", ".join(["imagenet"] + [r.tag for r in list_weights(model)])
        raise ValueError(
            f"Unknown weights for {model!r}; known tags: {tags}. Received: tag={tag!r}"
        )
    return record


def _keras_file(path, md5):
    return WeightsFile(_KERAS_BASE + path, md5, "md5")


def _slim_file(archive, md5=None):
    if md5 is None:
        return WeightsFile(_SLIM_BASE + archive)
    return WeightsFile(_SLIM_BASE + archive, md5, "md5")


_SLIM_NOTES = (
    "TF-slim research/slim README; evaluated on 224 (v1, v2) or 299 (v3, v4, "
    "IRv2) central crops of 87.5%. Archive checksum not published: pinned on first use."
)

for _record in (
    WeightsRecord(
        model="inception_v1",
        tag="imagenet_slim",
        source="tf-slim",
        file=_slim_file("inception_v1_2016_08_28.tar.gz"),
        classes=1001,
        label_offset=1,
        aux_logits=False,
        input_size=224,
        top1=69.8,
        top5=89.6,
        num_params=6_633_209,
        license=SLIM_LICENSE,
        default=True,
        notes=_SLIM_NOTES + " Checkpoint inception_v1.ckpt.",
    ),
    WeightsRecord(
        model="inception_v2",
        tag="imagenet_slim",
        source="tf-slim",
        file=_slim_file("inception_v2_2016_08_28.tar.gz"),
        classes=1001,
        label_offset=1,
        aux_logits=False,
        input_size=224,
        top1=73.9,
        top5=91.8,
        num_params=11_199_265,
        license=SLIM_LICENSE,
        default=True,
        notes=_SLIM_NOTES + " Checkpoint inception_v2.ckpt.",
    ),
    WeightsRecord(
        model="inception_v3",
        tag="imagenet_keras",
        source="keras.applications",
        file=_keras_file(
            "inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
            "9a0d58056eeedaa3f26cb7ebd46da564",
        ),
        notop_file=_keras_file(
            "inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
            "bcbd6486424b2319ff4ef7d526e38f63",
        ),
        classes=1000,
        label_offset=0,
        aux_logits=False,
        input_size=299,
        top1=77.9,
        top5=93.7,
        num_params=23_851_784,
        license=KERAS_LICENSE,
        default=True,
        notes="Accuracy from keras.io/api/applications (keras-applications "
        "README measures 22.102 / 6.280 % error). md5 from keras's inception_v3.py.",
    ),
    WeightsRecord(
        model="inception_v3",
        tag="imagenet_slim",
        source="tf-slim",
        file=_slim_file("inception_v3_2016_08_28.tar.gz"),
        classes=1001,
        label_offset=1,
        aux_logits=True,
        input_size=299,
        top1=78.0,
        top5=93.9,
        num_params=27_182_194,
        license=SLIM_LICENSE,
        notes=_SLIM_NOTES + " Checkpoint inception_v3.ckpt.",
    ),
    WeightsRecord(
        model="inception_v4",
        tag="imagenet_slim",
        source="tf-slim",
        file=_slim_file("inception_v4_2016_09_09.tar.gz"),
        classes=1001,
        label_offset=1,
        aux_logits=True,
        input_size=299,
        top1=80.2,
        top5=95.2,
        num_params=46_074_066,
        license=SLIM_LICENSE,
        default=True,
        notes=_SLIM_NOTES + " Checkpoint inception_v4.ckpt.",
    ),
    WeightsRecord(
        model="inception_resnet_v2",
        tag="imagenet_keras",
        source="keras.applications",
        file=_keras_file(
            "inception_resnet_v2/inception_resnet_v2_weights_tf_dim_ordering_tf_kernels.h5",
            "e693bd0210a403b3192acc6073ad2e96",
        ),
        notop_file=_keras_file(
            "inception_resnet_v2/inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
            "d19885ff4a710c122648d3b5c3b684e4",
        ),
        classes=1000,
        label_offset=0,
        aux_logits=False,
        input_size=299,
        top1=80.3,
        top5=95.3,
        num_params=55_873_736,
        license=KERAS_LICENSE,
        default=True,
        notes="Accuracy from keras.io/api/applications (keras-applications "
        "README measures 19.744 / 4.748 % error). md5 from keras's "
        "inception_resnet_v2.py.",
    ),
    WeightsRecord(
        model="inception_resnet_v2",
        tag="imagenet_slim",
        source="tf-slim",
        file=_slim_file(
            "inception_resnet_v2_2016_08_30.tar.gz", "9e0f18e1259acf943e30690460d96123"
        ),
        classes=1001,
        label_offset=1,
        aux_logits=True,
        input_size=299,
        top1=80.4,
        top5=95.3,
        num_params=59_244_594,
        license=SLIM_LICENSE,
        notes="TF-slim research/slim README; 299 central crops of 87.5%. "
        "Checkpoint inception_resnet_v2_2016_08_30.ckpt. md5 as pinned by "
        "yuyang-huang/keras-inception-resnet-v2 extract_weights.py (third "
        "party; TF-slim publishes none).",
    ),
):
    register_weights(_record)
