"""Defaults chosen from the data: ``augment``, ``central_fraction`` and
``validation_split`` set to ``"auto"``.

No source is special-cased by its name. ``profile_source`` looks at what a
source holds (a seeded sample of its training images: their sizes, whether
they are greyscale, and the number of images per class) and ``choose`` turns
that, the model's input size and the length of the run into settings:

=====================  =====================================================
setting                rule
=====================  =====================================================
``augment``            ``"inception"`` (the papers' recipe: crops down to 5 %
                       of the area, flips, colour distortion) only for a long
                       run (``epochs >= LONG_RUN_EPOCHS``) on images whose
                       short side is at least half the input size. Otherwise
                       a mild zoom and shift: ``"mild"`` (with flips) for
                       colour images, ``"light"`` (no flip) for greyscale
                       ones, which are mostly scans of characters and
                       symbols where a mirror image is another class.
``central_fraction``   0.875 (the papers' evaluation crop) for images at least
                       as large as the input; 1.0 for smaller ones, where the
                       crop would cut away the edges of tightly framed
                       objects.
``validation_split``   0.2 when there are fewer than ``FEW_PER_CLASS`` images
                       per class (a 10 % hold-out would be too small to
                       measure), else 0.1. Used only by sources without a
                       validation split of their own.
``steps_per_epoch``    In a short run (``epochs < LONG_RUN_EPOCHS``) whose
                       training split makes fewer than
                       ``MIN_STEPS_PER_EPOCH`` batches, that many steps an
                       epoch (the split repeated); otherwise one pass.
``input_resolution``   Only for a network with the stems of Inception-v3's
                       Sec. 9 (``spec.input_resolutions``: 299, 151, 79) and a
                       run that sets neither ``image_size`` nor
                       ``input_resolution`` (the ``paper`` preset): the
                       smallest stem whose receptive field holds the median
                       short side, trained at that stem's own size. Small
                       images then get the whole network at about the same
                       cost instead of being upscaled to 299 px (Table 2:
                       75.2 % top-1 at 79 px against 76.6 % at 299 px).
                       Presets that fix a small ``image_size`` (``quick``:
                       75 px) keep it: a low-resolution stem at its own size
                       costs about as much as the 299 network.
``color_in_model``     On when a GPU or TPU is present and the ``augment``
                       recipe distorts colours: the distortion then runs as
                       batch ops in the model's step on the device, since on
                       the host's CPU it costs about as much as the JPEG
                       decode (docs/performance.md, "Input pipeline"). Off on
                       a CPU-only host, where the per-image op in the
                       pipeline costs the CPU less than the batch op.
=====================  =====================================================

Each choice carries its reason and the ``--set`` that overrides it; the
training run prints them in its closing summary and stores them in
``summary.json``.
"""

import dataclasses
import statistics

import numpy as np
import tensorflow as tf

from keras_inception import image_header
from keras_inception.data import preprocessing
from keras_inception.data import sources as sources_lib

AUTO = "auto"

# Runs at least this long follow the papers' full augmentation recipe.
LONG_RUN_EPOCHS = 30

# Below this many images per class the hold-out is 20 % instead of 10 %.
FEW_PER_CLASS = 500

# An image counts as greyscale when its three channels are equal.
GREY_FRACTION = 0.9

# Images looked at by ``profile_source``.
SAMPLE_SIZE = 256

# A short run's epoch makes at least this many steps: a small training split
# is repeated within the epoch, so the compressed schedule still makes
# enough updates (docs/training.md has the runs behind the figure).
MIN_STEPS_PER_EPOCH = 40


@dataclasses.dataclass
class DataProfile:
    """What a source holds, from a sample of its training images.

    Attributes:
        source: the source as given.
        num_examples: images in the source (training split with nothing held out).
        num_classes: number of classes.
        sampled: images looked at.
        median_height: median image height in pixels.
        median_width: median image width in pixels.
        median_short_side: median of ``min(height, width)``.
        greyscale_fraction: fraction of sampled images whose channels are equal.
        has_validation_split: the source brings its own validation split.
    """

    source: str
    num_examples: int
    num_classes: int
    sampled: int
    median_height: int
    median_width: int
    median_short_side: int
    greyscale_fraction: float
    has_validation_split: bool = False

    @property
    def images_per_class(self):
        """Mean number of images per class."""
        return self.num_examples / max(1, self.num_classes)

    @property
    def greyscale(self):
        """Whether the images are (almost all) greyscale."""
        return self.greyscale_fraction >= GREY_FRACTION

    def to_dict(self):
        """JSON-ready fields."""
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Choice:
    """One setting chosen from the data.

    Attributes:
        value: the value used.
        reason: why, in one line.
        override: the ``--set`` that sets it by hand.
    """

    value: object
    reason: str
    override: str

    def to_dict(self):
        """JSON-ready fields."""
        return dataclasses.asdict(self)


def profile_source(source, *, sample=SAMPLE_SIZE, seed=1337, **open_kwargs):
    """A ``DataProfile`` of ``source`` from a seeded sample of its images.

    Args:
        source: any ``build_dataset`` source.
        sample: images to look at, default ``SAMPLE_SIZE``.
        seed: seed of the sample, default 1337.
        **open_kwargs: further ``sources.open_source`` arguments
            (``verify``, ``skipped_log_dir``, ``data_dir``, ...).

    Returns:
        A ``DataProfile``.
    """
    src = sources_lib.open_source(
        source, split="train", validation_split=0.0, seed=seed, **open_kwargs
    )
    # A hold-out changes the training split only of sources without their own.
    halved = sources_lib.open_source(
        source, split="train", validation_split=0.5, seed=seed, **open_kwargs
    )
    # The size is what the source itself would resize to (only some do).
    ds = src.make(size=(299, 299), shuffle=True, seed=seed, input_context=None, cache=False)
    ds = ds.take(sample).map(_measure, num_parallel_calls=tf.data.AUTOTUNE).ignore_errors()
    measured = np.array([m for m in ds.as_numpy_iterator()], dtype=np.int64).reshape(-1, 3)
    if not len(measured):
        raise ValueError(f"No readable image in {source}. Received: source={source!r}")
    heights, widths, grey = measured[:, 0], measured[:, 1], measured[:, 2]
    return DataProfile(
        source=str(source),
        num_examples=src.num_examples,
        num_classes=len(src.class_names),
        sampled=len(measured),
        median_height=int(statistics.median(heights)),
        median_width=int(statistics.median(widths)),
        median_short_side=int(statistics.median(np.minimum(heights, widths))),
        greyscale_fraction=round(float(grey.mean()), 3),
        has_validation_split=halved.num_examples == src.num_examples,
    )


def choose(profile, image_size, *, epochs):
    """``{setting: Choice}`` for ``augment``, ``central_fraction`` and ``validation_split``.

    Args:
        profile: a ``DataProfile``.
        image_size: the model's square input size.
        epochs: length of the run in epochs.

    Returns:
        A dict of ``Choice``.
    """
    short = profile.median_short_side
    sizes = f"median {profile.median_width}x{profile.median_height} px"
    kind = "greyscale" if profile.greyscale else "colour"
    long_run = epochs >= LONG_RUN_EPOCHS
    if long_run and 2 * short >= image_size:
        augment, why = (
            "inception",
            (
                f"{kind} images ({sizes}) at least half the {image_size}-px input and a "
                f"{epochs}-epoch run (>= {LONG_RUN_EPOCHS}): the papers' recipe"
            ),
        )
    else:
        augment = "light" if profile.greyscale else "mild"
        cause = (
            f"a {epochs}-epoch run (< {LONG_RUN_EPOCHS})"
            if 2 * short >= image_size
            else f"small images ({sizes}, upscaled {image_size / max(short, 1):.1f}x "
            f"to {image_size} px)"
        )
        flip = "no flip: mirrored characters change class" if profile.greyscale else "flips"
        why = f"{kind} images and {cause}: mild zoom and shift, {flip}, no colour distortion"
    if short >= image_size:
        fraction, why_fraction = (
            0.875,
            (f"images ({sizes}) at least the {image_size}-px input: the papers' central crop"),
        )
    else:
        fraction, why_fraction = (
            1.0,
            (
                f"images ({sizes}) smaller than the {image_size}-px input: a crop would cut "
                "their edges"
            ),
        )
    per_class = profile.images_per_class
    if profile.has_validation_split:
        split, why_split = None, "the source has its own validation split"
    elif per_class < FEW_PER_CLASS:
        split, why_split = (
            0.2,
            (f"{per_class:.0f} images per class (< {FEW_PER_CLASS}): a 20 % hold-out"),
        )
    else:
        split, why_split = 0.1, f"{per_class:.0f} images per class: a 10 % hold-out"
    choices = {
        "augment": Choice(augment, why, f"--set augment={'|'.join(preprocessing.AUGMENTATIONS)}"),
        "central_fraction": Choice(fraction, why_fraction, "--set central_fraction=F"),
    }
    if split is not None:
        choices["validation_split"] = Choice(split, why_split, "--set validation_split=F")
    return choices


def choose_steps(steps, *, epochs, batch_size, num_examples):
    """The ``Choice`` of ``steps_per_epoch`` for a short run on few images, or ``None``.

    Args:
        steps: steps of one pass over the training split.
        epochs: length of the run in epochs.
        batch_size: the global batch size.
        num_examples: images in the training split.

    Returns:
        A ``Choice`` of ``MIN_STEPS_PER_EPOCH``, or ``None`` (one pass an epoch)
        for long runs and for splits of at least that many batches.
    """
    if epochs >= LONG_RUN_EPOCHS or steps >= MIN_STEPS_PER_EPOCH:
        return None
    return Choice(
        MIN_STEPS_PER_EPOCH,
        f"{num_examples} training images make {steps} batch(es) of {batch_size}: a "
        f"{epochs}-epoch run repeats them to {MIN_STEPS_PER_EPOCH} steps an epoch "
        f"({MIN_STEPS_PER_EPOCH * epochs} updates)",
        "--set steps_per_epoch=N",
    )


def choose_color_in_model(augment, accelerators):
    """The ``Choice`` of ``color_in_model`` for a run, or ``None`` when ``augment`` has no colour.

    Args:
        augment: the run's augmentation recipe (a name of
            ``preprocessing.AUGMENTATIONS``).
        accelerators: the GPU and TPU devices present (names; empty on a
            CPU-only host).

    Returns:
        A ``Choice`` of ``True`` (with accelerators) or ``False``, or ``None``
        for a recipe without colour distortion (nothing to move).
    """
    color = preprocessing.AUGMENTATIONS[augment].color
    if color is None:
        return None
    if accelerators:
        return Choice(
            True,
            f"{len(accelerators)} GPU/TPU device(s): the {color!r} colour distortion runs as "
            "batch ops in the model's step there, not on the host's CPU, where it costs about "
            "as much as decoding the JPEG",
            "--set color_in_model=false",
        )
    return Choice(
        False,
        f"no GPU or TPU: the {color!r} colour distortion stays in the input pipeline, where "
        "it costs the CPU less than as batch ops in the model's step",
        "--set color_in_model=true",
    )


def choose_stem(profile, input_resolutions, default_size):
    """The ``Choice`` of ``input_resolution`` for small images, or ``None``.

    Args:
        profile: a ``DataProfile``.
        input_resolutions: the network's ``{input_resolution: min_size}``
            (``ModelSpec.input_resolutions``); empty for a network with one stem.
        default_size: the network's default input size (its released stem's).

    Returns:
        A ``Choice`` whose value is the stem (also the input size to train
        at), or ``None`` when the network has one stem or the images are at
        least ``default_size``: the released stem is then the choice.
    """
    if not input_resolutions:
        return None
    short = profile.median_short_side
    fitting = sorted(r for r in input_resolutions if r >= short)
    stem = fitting[0] if fitting else default_size
    if stem == default_size:
        return None
    sizes = f"median {profile.median_width}x{profile.median_height} px"
    return Choice(
        stem,
        f"small images ({sizes}): the {stem}x{stem} receptive-field stem of Inception-v3's "
        f"Sec. 9 at its own {stem}-px size, not an upscale to {default_size} px (about the "
        "same cost; Table 2)",
        "--set input_resolution=" + "|".join(str(r) for r in sorted(input_resolutions)),
    )


def _measure(element):
    """``[height, width, is_greyscale]`` of one raw element."""
    if "encoded" in element:
        encoded = image_header.tf_check_max_pixels(
            element["encoded"], image_header.DEFAULT_MAX_PIXELS
        )
        image = preprocessing.decode_image(encoded)
    else:
        image = tf.cast(element["image"], tf.uint8)
    shape = tf.shape(image)
    grey = tf.reduce_all(tf.equal(image[..., 0], image[..., 1])) & tf.reduce_all(
        tf.equal(image[..., 1], image[..., 2])
    )
    return tf.stack([shape[0], shape[1], tf.cast(grey, tf.int32)])
