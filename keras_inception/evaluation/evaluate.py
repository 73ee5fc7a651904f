"""``evaluate``: single-crop, multi-crop and ensemble accuracy, as the papers report it.

Szegedy et al. "Going Deeper with Convolutions" (CVPR 2015), Sec. 7: the
softmax probabilities are averaged over the crops of an image and over the
models of an ensemble, and the top-1 and top-5 predictions are taken from the
average. Each model gets its crops at its own input size and in its own input
range (0..255 with an in-graph ``preprocessing`` layer, else [-1, 1]), and a
softmax when it outputs logits.
"""

import dataclasses
import os
import time
import warnings

import keras
import numpy as np
import tensorflow as tf

from keras_inception import image_header
from keras_inception.evaluation import crops as crops_lib
from keras_inception.evaluation import report

# Top-k accuracy reported beside top-1 (fewer when the model has fewer classes).
TOP_K = 5


@dataclasses.dataclass
class EvaluationResult:
    """What ``evaluate`` measured; metrics are derived from the per-image outcomes.

    Attributes:
        labels: int ``[images]``, the true class of each image.
        predictions: int ``[images]``, the top-1 class of each image.
        top_k_correct: bool ``[images]``, whether the true class is among the
            ``top_k`` most probable (ties with it count as inside).
        class_names: label ``i`` is ``class_names[i]``.
        top_k: the k of ``top_k_correct``: 5, or the number of classes if fewer.
        models: a description of each model of the ensemble.
        data: a description of the data.
        crops: crops per image (1, 10, 12 or 144).
        seconds: wall-clock time of the evaluation.
        probabilities: float32 ``[images, classes]`` averaged probabilities,
            kept only with ``keep_probabilities=True``.
    """

    labels: np.ndarray
    predictions: np.ndarray
    top_k_correct: np.ndarray
    class_names: list
    top_k: int = TOP_K
    models: list = dataclasses.field(default_factory=list)
    data: str = ""
    crops: int = 1
    seconds: float = 0.0
    probabilities: np.ndarray = None

    @property
    def num_images(self):
        """Number of images evaluated."""
        return int(len(self.labels))

    @property
    def top1(self):
        """Top-1 accuracy, a fraction."""
        return float(np.mean(self.predictions == self.labels)) if self.num_images else 0.0

    @property
    def top5(self):
        """Top-``top_k`` accuracy (top-5 unless there are fewer classes), a fraction."""
        return float(np.mean(self.top_k_correct)) if self.num_images else 0.0

    @property
    def top1_error(self):
        """``1 - top1``."""
        return 1.0 - self.top1

    @property
    def top5_error(self):
        """``1 - top5``."""
        return 1.0 - self.top5

    @property
    def confusion_matrix(self):
        """int64 ``[classes, classes]``: row = true class, column = top-1 prediction."""
        size = len(self.class_names)
        counts = np.bincount(self.labels * size + self.predictions, minlength=size * size)
        return counts.reshape(size, size)

    @property
    def per_class(self):
        """``{class_name: {"images", "top1", "top5"}}`` (accuracy ``None`` for absent classes)."""
        images = np.bincount(self.labels, minlength=len(self.class_names))
        top1 = np.bincount(self.labels, self.predictions == self.labels, len(self.class_names))
        top5 = np.bincount(self.labels, self.top_k_correct, len(self.class_names))
        return {
            name: {
                "images": int(n),
                "top1": float(top1[i] / n) if n else None,
                "top5": float(top5[i] / n) if n else None,
            }
            for i, (name, n) in enumerate(zip(self.class_names, images))
        }

    def to_dict(self):
        """A JSON-serializable summary (``report.result_dict``)."""
        return report.result_dict(self)

    def save(self, out_dir):
        """Writes the JSON, the Markdown table and the confusion matrix; returns their paths."""
        return report.write_report(self, out_dir)


def score(probabilities, labels, *, class_names=None, top_k=TOP_K):
    """Top-1 and top-k outcomes of class probabilities (or any scores).

    Top-1 is the arg-max (the first class among equals); the true class is in
    the top k when fewer than k classes score strictly higher, as
    ``tf.math.in_top_k``.

    Args:
        probabilities: float ``[images, classes]``.
        labels: int ``[images]``.
        class_names: names of the classes, default None (``"0"``, ``"1"``, ...).
        top_k: k of the top-k accuracy, default 5 (at most the number of classes).

    Returns:
        An ``EvaluationResult``.
    """
    probabilities = np.asarray(probabilities)
    labels = np.asarray(labels).astype(np.int64)
    if probabilities.ndim != 2 or labels.shape != probabilities.shape[:1]:
        raise ValueError(
            "Expected probabilities [images, classes] and labels [images]. Received: "
            f"probabilities.shape={probabilities.shape}, labels.shape={labels.shape}"
        )
    num_classes = probabilities.shape[1]
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"Labels must be in [0, {num_classes}) for a model of {num_classes} classes. "
            f"Received: labels in [{labels.min()}, {labels.max()}]"
        )
    top_k = min(top_k, num_classes)
    true_score = probabilities[np.arange(len(labels)), labels]
    higher = np.sum(probabilities > true_score[:, None], axis=1)
    return EvaluationResult(
        labels=labels,
        predictions=np.argmax(probabilities, axis=1),
        top_k_correct=higher < top_k,
        class_names=list(class_names) if class_names else [str(i) for i in range(num_classes)],
        top_k=top_k,
    )


def _load_members(models, precision="auto"):
    """The ``loading.Classifier`` of each model of the ensemble."""
    from keras_inception.loading import load_classifier

    if isinstance(models, (str, os.PathLike, keras.Model)):
        models = [models]
    models = list(models)
    if not models:
        raise ValueError(f"`models` must name at least one model. Received: models={models!r}")
    members = [load_classifier(source, precision=precision) for source in models]
    classes = {member.num_classes for member in members}
    if len(classes) > 1:
        raise ValueError(
            "The models of an ensemble must have the same classes. Received: "
            + ", ".join(f"{m.name} with {m.num_classes}" for m in members)
        )
    return members


@dataclasses.dataclass
class _Examples:
    """Raw labelled images: ``dataset`` yields ``(image [h, w, 3], label)``."""

    dataset: tf.data.Dataset
    description: str
    class_names: list = None
    count: int = None
    central_fraction: float = 0.875


def _raw_examples(data, *, split, validation_split, label_offset, size, max_pixels):
    """The ``_Examples`` of ``data``.

    ``size`` is the largest model input, ``(height, width)``.
    An encoded image of more than ``max_pixels`` pixels (by its header) is
    refused before it is decoded.
    """
    if isinstance(data, tf.data.Dataset):
        if len(data.element_spec) != 2:
            raise ValueError(
                "A dataset must yield (image, label) pairs. "
                f"Received: element_spec={data.element_spec}"
            )
        if data.element_spec[0].shape.rank == 4:
            data = data.unbatch()
        count = int(data.cardinality())
        return _Examples(data, "tf.data.Dataset", count=count if count >= 0 else None)
    if isinstance(data, (tuple, list)) and len(data) == 2 and not isinstance(data[0], str):
        images, labels = data
        labels = np.asarray(labels, np.int32)
        if isinstance(images, np.ndarray):
            dataset = tf.data.Dataset.from_tensor_slices((images, labels))
        else:
            dataset = tf.data.Dataset.from_generator(
                lambda: zip(images, labels),
                output_signature=(
                    tf.TensorSpec((None, None, 3), tf.as_dtype(images[0].dtype)),
                    tf.TensorSpec((), tf.int32),
                ),
            )
        return _Examples(dataset, f"{len(labels)} in-memory images", count=len(labels))
    from keras_inception import data as data_lib

    source = data_lib.open_source(
        data,
        split=split,
        validation_split=validation_split,
        label_offset=label_offset,
        max_pixels=max_pixels,
    )

    def decode(element):
        if "image" in element:
            return element["image"], element["label"]
        encoded = image_header.tf_check_max_pixels(element["encoded"], max_pixels)
        return data_lib.decode_image(encoded), element["label"]

    dataset = source.make(size=size, shuffle=False, seed=0, input_context=None, cache=False)
    dataset = dataset.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    if source.verified == "quick":
        dataset = dataset.ignore_errors(log_warning=True)
    # The evaluation crop follows the images, as in training (data.auto): the
    # papers' 0.875 for images at least the input size, the whole of smaller ones.
    from keras_inception.data import auto

    profile = auto.profile_source(data, label_offset=label_offset, max_pixels=max_pixels)
    central_fraction = auto.choose(profile, max(size), epochs=1)["central_fraction"].value
    return _Examples(
        dataset,
        f"{data} ({split})",
        list(source.class_names),
        source.num_examples,
        central_fraction,
    )


def evaluate(
    models,
    data,
    *,
    crops=1,
    batch_size=32,
    split="validation",
    validation_split=None,
    label_offset=0,
    max_images=None,
    keep_probabilities=False,
    verbose=1,
    max_pixels=image_header.DEFAULT_MAX_PIXELS,
    precision="auto",
):
    """Top-1/top-5 accuracy of a model or an ensemble, with 1, 10, 12 or 144 crops per image.

    Szegedy et al. "Going Deeper with Convolutions" (CVPR 2015), Sec. 7; the
    Inception-v3 (CVPR 2016) and Inception-v4 (AAAI 2017) papers report single,
    12 and 144-crop numbers. ``crops.crop_boxes`` and ``docs/evaluation.md``
    list the crops; softmax probabilities are averaged over crops and models.

    Args:
        models: one model or a list (an ensemble), each loaded by
            ``keras_inception.loading.load_classifier``: ``keras.Model``,
            ``.keras`` file, training run directory, registry name (ImageNet
            weights), SavedModel directory from ``export_saved_model`` (a
            version, or the model directory: its newest version) or ``.tflite``
            file with its sidecar JSON. Input sizes may differ.
        data: a ``keras_inception.data`` source (class-folder directory,
            TFRecords, ``"tfds:NAME"``, ``"digits"``), a ``tf.data.Dataset``
            of ``(image [h, w, 3] uint8 or 0..255 float, label)``, or a pair
            ``(images, labels)`` of arrays (or a list of images of any sizes).
        crops: 1 (central 87.5%; the whole image for digits), 10, 12 or 144,
            default 1.
        batch_size: largest batch a model is called on, crops included,
            default 32.
        split: split of a source, default ``"validation"``.
        validation_split: held-out fraction of a source without a validation
            split, default None (the data module's default).
        label_offset: subtracted from TFRecord labels, default 0 (1 for TF-slim
            ImageNet records with a background class).
        max_images: evaluate only the first this many images, default None (all).
        keep_probabilities: keep the averaged probabilities in the result,
            default False.
        verbose: 1 shows a progress bar, 0 is silent, default 1.
        max_pixels: an encoded image of more pixels (read from its header;
            all frames of a GIF together) is never decoded, default
            ``image_header.DEFAULT_MAX_PIXELS``. A source's checks skip it and
            report it; one that reaches the decoder stops the evaluation with
            a ``ValueError`` naming the limit.
        precision: dtype policy of Keras models: ``"auto"`` (default:
            ``keras_inception.precision``'s rule) or a policy name; SavedModels
            and ``.tflite`` files compute as they were exported.

    Returns:
        An ``EvaluationResult``.

    Raises:
        ValueError: a bad argument, or an image of the data that cannot be
            decoded or is over ``max_pixels`` (and was not skipped).
    """
    if crops not in crops_lib.CROP_COUNTS:
        raise ValueError(
            f"`crops` must be one of {crops_lib.CROP_COUNTS}. Received: crops={crops!r}"
        )
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(
            f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}"
        )
    if not isinstance(max_pixels, int) or isinstance(max_pixels, bool) or max_pixels < 1:
        raise ValueError(
            f"`max_pixels` must be a positive integer. Received: max_pixels={max_pixels!r}"
        )
    members = _load_members(models, precision)
    sizes = sorted({member.image_size for member in members})
    examples = _raw_examples(
        data,
        split=split,
        validation_split=validation_split,
        label_offset=label_offset,
        size=max(sizes),
        max_pixels=max_pixels,
    )
    dataset, class_names, count = examples.dataset, examples.class_names, examples.count
    num_classes = members[0].num_classes
    if class_names is not None and len(class_names) != num_classes:
        raise ValueError(
            f"The data has {len(class_names)} classes, the model {num_classes}. "
            f"Received: data={examples.description}"
        )
    for member in members:
        if class_names and member.class_names and list(member.class_names) != class_names:
            warnings.warn(
                f"The class names of {member.name} differ from the data's; labels are "
                "matched by index.",
                stacklevel=2,
            )
    class_names = class_names or next((m.class_names for m in members if m.class_names), None)
    if max_images is not None:
        dataset = dataset.take(max_images)
        count = max_images if count is None else min(count, max_images)

    def crop_all(image, label):
        return tuple(
            crops_lib.multi_crop(image, size, crops, examples.central_fraction) for size in sizes
        ), label

    images_per_step = max(1, batch_size // crops)
    dataset = (
        dataset.map(crop_all, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(images_per_step)
        .prefetch(tf.data.AUTOTUNE)
    )
    progress = keras.utils.Progbar(count, unit_name="image", verbose=verbose)
    outcomes, kept, seen = [], [], 0
    start = time.perf_counter()
    for crop_batches, labels in _batches(dataset, examples.description):
        probabilities = np.mean(
            [_predict(m, crop_batches[sizes.index(m.image_size)], batch_size) for m in members],
            axis=0,
        )
        outcome = score(probabilities, labels.numpy(), class_names=class_names)
        outcomes.append(outcome)
        if keep_probabilities:
            kept.append(probabilities)
        seen += len(labels)
        progress.update(seen)
    seconds = time.perf_counter() - start
    empty = np.zeros((0,), np.int64)
    result = EvaluationResult(
        labels=np.concatenate([o.labels for o in outcomes]) if outcomes else empty,
        predictions=np.concatenate([o.predictions for o in outcomes]) if outcomes else empty,
        top_k_correct=(
            np.concatenate([o.top_k_correct for o in outcomes]) if outcomes else empty.astype(bool)
        ),
        class_names=class_names or [str(i) for i in range(num_classes)],
        top_k=min(TOP_K, num_classes),
        models=[member.name for member in members],
        data=examples.description,
        crops=crops,
        seconds=seconds,
        probabilities=np.concatenate(kept) if kept else None,
    )
    return result


def _batches(dataset, description):
    """Iterates ``dataset``; an image that cannot be decoded becomes a one-line ``ValueError``."""
    from keras_inception.predict import op_error_text

    iterator = iter(dataset)
    while True:
        try:
            yield next(iterator)
        except StopIteration:
            return
        except tf.errors.InvalidArgumentError as error:
            raise ValueError(
                f"An image of {description} cannot be evaluated: {op_error_text(error)}"
            ) from None


def _predict(member, crop_batch, batch_size):
    """Probabilities ``[images, classes]`` averaged over each image's crops."""
    images, crops = crop_batch.shape[0], crop_batch.shape[1]
    flat = tf.reshape(crop_batch, (-1, *crop_batch.shape[2:]))
    probabilities = np.concatenate(
        [
            np.asarray(member.predict(flat[i : i + batch_size]))
            for i in range(0, images * crops, batch_size)
        ]
    )
    return probabilities.reshape(images, crops, -1).mean(axis=1)


__all__ = ["EvaluationResult", "evaluate", "score"]
