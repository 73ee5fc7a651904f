"""The parity check of every export: a converted model's outputs against the float32 Keras model.

Two kinds of bound, chosen per export mode by the caller:

- numbers (``max_abs_diff``, ``max_rel_diff``) for conversions that should
  change nothing but rounding (float32, float16);
- decisions (``decided_top1_agreement``) for conversions that change the
  arithmetic (int8, bfloat16): the share of images on which the converted
  model picks the float model's top-1 class, counted over the images the float
  model actually decides: those where its top-1 probability leads the
  runner-up by at least ``DECIDED_MARGIN``. Near a tie any rounding may swap
  the two classes, and that says nothing about the conversion. A model with
  random or untrained weights decides almost nothing (its outputs are
  near-uniform): when fewer than ``MIN_DECIDED_IMAGES`` held-out images are
  decided, the check reports that it cannot test the conversion instead of
  passing or failing it (``enforced: False`` with the reason).
"""

import os

import keras
import numpy as np

from keras_inception.export.source import SCALED_RANGE
from keras_inception.export.source import to_probabilities

# A lead of 0.1 in probability: 55 % against 45 % for two competing classes.
# On the trained digits model of the tests (Inception-v3 at half width), int8
# flipped 1 of 160 held-out images, one whose lead was 0.048, while 99 % of
# the images led by more than 0.17; int8's error on the probabilities had a
# 99th percentile of 0.14. Random weights give leads near 0.
DECIDED_MARGIN = 0.1
# Below this many decided images a top-1 bound of 98-99 % is not a test.
MIN_DECIDED_IMAGES = 20
# Synthetic images when no real ones are given: enough to exercise every op,
# few enough to run in seconds on a phone-sized model.
NUM_SYNTHETIC_IMAGES = 8
METRICS = ("max_abs_diff", "max_rel_diff", "decided_top1_agreement")


def keras_outputs(model, images, batch_size=16):
    """The float32 outputs of ``model`` on ``images`` in inference mode, as a numpy array."""
    return np.concatenate(
        [
            keras.ops.convert_to_numpy(model(images[i : i + batch_size], training=False))
            for i in range(0, len(images), batch_size)
        ]
    ).astype(np.float32)


def image_sets(source, meta, first, second, *, names=("first", "second")):
    """Two consecutive sets of images of the user's data in the model's input, or ``None``s.

    Args:
        source: ``None``; a ``build_dataset`` source (a directory, TFRecords,
            ``"tfds:NAME"``, ``"digits"``) read through
            ``data.calibration_images`` (its evaluation preprocessing, a seeded
            shuffle of the validation split); or an iterable of float32 arrays
            ``[batch, H, W, 3]`` already in the model's input range.
        meta: the source facts of ``load_source`` (image size, input range).
        first: how many images the first set holds.
        second: how many the second holds (those after the first).
        names: the argument names of ``first`` and ``second``, for errors.

    Returns:
        ``(first images, second images)`` as float32 arrays, or ``(None,
        None)`` without a source. A source with fewer than ``first + second``
        images is split so that the second set (the held-out parity images)
        gets at least half of them, up to ``second``: a small validation split
        still checks the conversion on real images rather than on none.

    Raises:
        ValueError: a count is not a non-negative integer, or the source holds
            no images.
    """
    for arg, value in zip(names, (first, second)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"`{arg}` must be a non-negative integer. Received: {arg}={value!r}")
    if source is None:
        return None, None
    wanted = first + second
    if isinstance(source, (str, os.PathLike)):
        from keras_inception import data

        batches = data.calibration_images(
            os.fspath(source),
            tuple(meta["image_size"]),
            num_images=wanted,
            scale=tuple(meta["input_range"]) == SCALED_RANGE,
            batch_size=32,
        )
    else:
        batches = source
    images = []
    for batch in batches:
        images.extend(np.asarray(batch, dtype=np.float32))
        if len(images) >= wanted:
            break
    if not images:
        raise ValueError(f"The image source holds no images. Received: {source!r}")
    images = np.stack(images[:wanted])
    held_out = min(second, max(len(images) - first, len(images) // 2))
    split = len(images) - held_out
    return images[:split], images[split:]


def synthetic_images(image_shape, input_range):
    """``NUM_SYNTHETIC_IMAGES`` seeded uniform images in the model's input range."""
    rng = np.random.default_rng(0)
    return rng.uniform(*input_range, (NUM_SYNTHETIC_IMAGES, *image_shape)).astype(np.float32)


def check(
    model,
    converted_outputs,
    metric,
    bound,
    images=None,
    *,
    output_kind="logits",
    input_range=SCALED_RANGE,
):
    """``compare`` of a converted model's outputs with the Keras model's on the same images.

    Args:
        model: the float32 Keras model.
        converted_outputs: function of float32 model inputs ``[n, H, W, 3]``
            returning the converted model's outputs ``[n, classes]``.
        metric: the bound's metric (``METRICS``).
        bound: the bound.
        images: held-out float32 model inputs; default ``None``: seeded random
            images (``synthetic_images``), on which a decision bound is
            reported but not enforced.
        output_kind: ``"logits"`` (default) or ``"probabilities"``.
        input_range: the model's input range, for the synthetic images,
            default ``(-1, 1)``.

    Returns:
        The dict of ``compare``.
    """
    real = images is not None and len(images) > 0
    if not real:
        images = synthetic_images(model.input_shape[1:], input_range)
    return compare(
        keras_outputs(model, images),
        converted_outputs(images),
        metric,
        bound,
        output_kind=output_kind,
        real=real,
    )


def compare(expected, got, metric, bound, *, output_kind="logits", real=True):
    """The parity figures of ``got`` against ``expected`` and the verdict of one bound.

    Args:
        expected: float model outputs ``[n, classes]``.
        got: converted model outputs on the same inputs.
        metric: one of ``METRICS``; ``max_*`` bounds are upper bounds,
            ``decided_top1_agreement`` a lower bound.
        bound: the bound.
        output_kind: ``"logits"`` (default) or ``"probabilities"``.
        real: whether the inputs are held-out real images (a decision bound is
            never enforced on synthetic ones), default ``True``.

    Returns:
        A dict: ``max_abs_diff``, ``max_rel_diff``, ``max_abs_prob_diff``,
        ``top1_agreement`` (all images), ``decided_top1_agreement`` (``None``
        when no image is decided), ``num_decided``, ``decided_margin``,
        ``num_images``, ``images`` (``"held-out"`` or ``"synthetic"``),
        ``metric``, ``bound``, ``enforced``, ``reason`` (why it is not
        enforced, else ``None``) and ``passed``.
    """
    if metric not in METRICS:
        raise ValueError(f"`metric` must be one of {METRICS}. Received: metric={metric!r}")
    expected = np.asarray(expected, np.float32)
    got = np.asarray(got, np.float32)
    diff = np.abs(got - expected)
    expected_probabilities = to_probabilities(expected, output_kind)
    top_two = np.sort(expected_probabilities, axis=-1)[:, -2:]
    decided = (top_two[:, 1] - top_two[:, 0]) >= DECIDED_MARGIN
    same = np.argmax(got, -1) == np.argmax(expected, -1)
    figures = {
        "max_abs_diff": float(diff.max()),
        "max_rel_diff": float(diff.max() / max(float(np.abs(expected).max()), 1e-30)),
        "max_abs_prob_diff": float(
            np.max(np.abs(to_probabilities(got, output_kind) - expected_probabilities))
        ),
        "top1_agreement": float(same.mean()),
        "decided_top1_agreement": float(same[decided].mean()) if decided.any() else None,
        "num_decided": int(decided.sum()),
        "decided_margin": DECIDED_MARGIN,
    }
    reason = None
    if metric == "decided_top1_agreement":
        if not real:
            reason = (
                "synthetic images: agreement on noise says nothing about a trained "
                "model; pass held-out images of your data to test it"
            )
        elif figures["num_decided"] < MIN_DECIDED_IMAGES:
            reason = (
                f"only {figures['num_decided']} of {len(expected)} held-out images have a "
                f"top-1 probability lead of at least {DECIDED_MARGIN} in the float model "
                f"(fewer than {MIN_DECIDED_IMAGES}; untrained or random weights?), so top-1 "
                "agreement cannot test this conversion"
            )
        within = reason is None and figures[metric] >= bound
    else:
        within = figures[metric] <= bound
    return {
        **figures,
        "num_images": len(expected),
        "images": "held-out" if real else "synthetic",
        "metric": metric,
        "bound": bound,
        "enforced": reason is None,
        "reason": reason,
        "passed": within or reason is not None,
    }


def describe(parity):
    """One line: the figures and the verdict of a ``compare`` result."""
    agreement = parity["decided_top1_agreement"]
    line = (
        f"parity vs Keras on {parity['num_images']} {parity['images']} images: max abs diff "
        f"{parity['max_abs_diff']:.3g}, top-1 agreement {parity['top1_agreement']:.1%} "
        f"(on the {parity['num_decided']} decided: "
        f"{'-' if agreement is None else f'{agreement:.1%}'}); "
        f"bound {parity['metric']} {'>=' if parity['metric'].endswith('agreement') else '<='} "
        f"{parity['bound']}"
    )
    if not parity["enforced"]:
        return f"{line}, NOT TESTED: {parity['reason']}"
    return f"{line}, {'passed' if parity['passed'] else 'FAILED'}"


def failure_message(parity, what):
    """The one-line error of a failed check of ``what`` (e.g. ``"The int8 TFLite model"``)."""
    value = parity[parity["metric"]]
    return (
        f"{what} fails its parity check with Keras: {parity['metric']}={value:.6g}, bound "
        f"{parity['bound']} on {parity['num_images']} {parity['images']} images"
    )
