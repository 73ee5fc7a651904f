"""Speed of a network on this machine, beside ``keras.applications`` where it has one.

``benchmark_model(name)`` measures, in one process: parameters; multiply-adds
from the traced graph (``keras_inception.model_macs``); inference images per
second at each batch size in float32, in ``mixed_bfloat16`` and with XLA
(``jit_compile=True``); training-step images per second; and, for the networks
``keras.applications`` also has, the same figures for its model with the
ratios. Each timing is the median of ``repeats`` runs after ``warmup`` runs
that are not counted; ours and ``keras.applications`` alternate run by run so
that a change in the machine's load affects both alike.

The result holds measurements only: how they compare with this project's speed
goals and with a CPU's multiply-add peak is worked out in ``benchmarks/``
(``goals.py``, ``peak.py``), by ``benchmarks/bench_inference.py``.
"""

import contextlib
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

from keras_inception import hostinfo

# Networks that keras.applications also has: our registry name -> its builder.
KERAS_APPLICATIONS = {
    "inception_v3": "InceptionV3",
    "inception_resnet_v2": "InceptionResNetV2",
}
MODES = ("float32", "bfloat16", "xla")
OURS = "keras_inception"
THEIRS = "keras_applications"


@contextlib.contextmanager
def dtype_policy(name):
    """Builds layers under the Keras dtype policy ``name``; restores the previous one."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _builder(name, library, *, size, depth_multiplier):
    """A function building the network with random weights in ``library``."""
    shape = (size, size, 3)
    if library == OURS:
        import keras_inception

        return lambda: keras_inception.get_model(
            name, input_shape=shape, depth_multiplier=depth_multiplier
        )
    application = getattr(keras.applications, KERAS_APPLICATIONS[name])
    return lambda: application(weights=None, input_shape=shape)


def _seconds(function, inputs):
    start = time.perf_counter()
    np.asarray(function(inputs))
    return time.perf_counter() - start


def _stats(seconds, batch_size):
    # The median is the figure; the best run shows what an idle machine does.
    median = statistics.median(seconds)
    return {
        "batch_size": batch_size,
        "median_seconds": median,
        "images_per_second": batch_size / median,
        "best_images_per_second": batch_size / min(seconds),
        "seconds": seconds,
    }


def _measure(functions, batch_size, *, warmup, repeats, size):
    """Median timing of each ``{library: function}``, the libraries alternating run by run."""
    inputs = tf.random.uniform((batch_size, size, size, 3), -1.0, 1.0, seed=0)
    for function in functions.values():
        for _ in range(warmup):
            _seconds(function, inputs)
    seconds = {library: [] for library in functions}
    for _ in range(repeats):
        for library, function in functions.items():
            seconds[library].append(_seconds(function, inputs))
    return {library: _stats(times, batch_size) for library, times in seconds.items()}


def _train_step(model, batch_size):
    """A function running one training step on a fixed batch (float32, no XLA)."""
    model.compile(
        optimizer=keras.optimizers.SGD(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        jit_compile=False,
    )
    labels = np.arange(batch_size) % model.output_shape[-1]
    return lambda images: model.train_on_batch(images, labels)


def benchmark_model(
    name,
    *,
    size=None,
    batch_sizes=(1, 32),
    repeats=5,
    warmup=2,
    modes=MODES,
    train_batch_size=32,
    compare=True,
    depth_multiplier=1.0,
    verbose=False,
):
    """Parameters, multiply-adds, inference and training speed of a registered network.

    Args:
        name: registry name, e.g. ``"inception_v3"``.
        size: input size in pixels, default None (the network's default size).
        batch_sizes: inference batch sizes, default ``(1, 32)``.
        repeats: timed runs per figure (the median is reported), default 5.
        warmup: runs before timing that are not counted (they trace and, with
            XLA, compile), default 2.
        modes: any of ``"float32"``, ``"bfloat16"`` (``mixed_bfloat16``
            policy) and ``"xla"`` (float32, ``jit_compile=True``), default all.
        train_batch_size: batch size of the training-step figure (float32,
            SGD), default 32; None skips it.
        compare: also measure ``keras.applications``' model when it has this
            network (and ``depth_multiplier`` is 1), default True.
        depth_multiplier: width multiplier of our network, default 1.0.
        verbose: print each figure as it is measured, default False.

    Returns:
        A JSON-serializable dict: ``model``, ``input_size``, ``settings``,
        ``cpu`` (its ``name`` and the ``cores`` used), ``versions``, and
        ``libraries`` mapping
        ``"keras_inception"`` (and ``"keras_applications"``) to ``params``,
        ``macs``, ``inference`` (``{mode: {batch_size: stats}}``) and
        ``training`` (stats); and, with keras.applications' model, ``ratios``
        (ours / keras.applications per mode and batch size, and
        ``"bfloat16_vs_keras_float32"``). Batch sizes are string keys.
    """
    import keras_inception

    spec = keras_inception.get_spec(name)
    size = size or spec.default_size
    unknown = sorted(set(modes) - set(MODES))
    if unknown or not modes:
        raise ValueError(f"`modes` must be a subset of {MODES}. Received: modes={modes!r}")
    if not batch_sizes or any(b < 1 for b in batch_sizes) or repeats < 1 or warmup < 0:
        raise ValueError(
            "Batch sizes and `repeats` must be positive and `warmup` non-negative. "
            f"Received: batch_sizes={batch_sizes!r}, repeats={repeats!r}, warmup={warmup!r}"
        )
    libraries = [OURS]
    if compare and name in KERAS_APPLICATIONS and depth_multiplier == 1.0:
        libraries.append(THEIRS)
    builders = {
        library: _builder(name, library, size=size, depth_multiplier=depth_multiplier)
        for library in libraries
    }

    def say(text):
        if verbose:
            print(text, flush=True)

    results = {library: {"inference": {}} for library in libraries}
    float32_models = {library: build() for library, build in builders.items()}
    for library, model in float32_models.items():
        results[library]["params"] = model.count_params()
        results[library]["macs"] = keras_inception.model_macs(model)
        say(
            f"{library}: {results[library]['params']:,} parameters, "
            f"{results[library]['macs'] / 1e9:.3f} GMACs per image"
        )

    for mode in modes:
        if mode == "bfloat16":
            with dtype_policy("mixed_bfloat16"):
                models = {library: build() for library, build in builders.items()}
        else:
            models = float32_models
        # One trace serves every batch size (XLA still compiles once per shape).
        signature = [tf.TensorSpec((None, size, size, 3), tf.float32)]
        functions = {
            library: tf.function(
                lambda x, model=model: model(x, training=False),
                input_signature=signature,
                jit_compile=mode == "xla",
            )
            for library, model in models.items()
        }
        for batch_size in batch_sizes:
            measured = _measure(functions, batch_size, warmup=warmup, repeats=repeats, size=size)
            for library, stats in measured.items():
                results[library]["inference"].setdefault(mode, {})[str(batch_size)] = stats
                say(
                    f"{library} {mode} batch {batch_size}: "
                    f"{stats['images_per_second']:.2f} images/s"
                )

    if train_batch_size:
        steps = {
            library: _train_step(model, train_batch_size)
            for library, model in float32_models.items()
        }
        measured = _measure(steps, train_batch_size, warmup=warmup, repeats=repeats, size=size)
        for library, stats in measured.items():
            results[library]["training"] = stats
            say(
                f"{library} training batch {train_batch_size}: "
                f"{stats['images_per_second']:.2f} images/s"
            )

    report = {
        "model": name,
        "input_size": size,
        "depth_multiplier": depth_multiplier,
        "settings": {
            "batch_sizes": list(batch_sizes),
            "repeats": repeats,
            "warmup": warmup,
            "modes": list(modes),
            "train_batch_size": train_batch_size,
        },
        "host": hostinfo.host(),
        "libraries": results,
    }
    if THEIRS in results:
        report["ratios"] = _ratios(results[OURS], results[THEIRS])
    return report


def _ips(library, mode, batch_size):
    return library["inference"][mode][batch_size]["images_per_second"]


def _ratios(ours, theirs):
    """Ours / keras.applications, per mode and batch size (and for training)."""
    ratios = {
        mode: {batch: _ips(ours, mode, batch) / _ips(theirs, mode, batch) for batch in per_batch}
        for mode, per_batch in ours["inference"].items()
    }
    if "bfloat16" in ours["inference"] and "float32" in theirs["inference"]:
        ratios["bfloat16_vs_keras_float32"] = {
            batch: _ips(ours, "bfloat16", batch) / _ips(theirs, "float32", batch)
            for batch in ours["inference"]["bfloat16"]
        }
    if "training" in ours:
        ratios["training"] = (
            ours["training"]["images_per_second"] / theirs["training"]["images_per_second"]
        )
    return ratios


def format_report(report):
    """A plain-text table of a ``benchmark_model`` result."""
    libraries = report["libraries"]
    ours = libraries[OURS]
    lines = [
        hostinfo.describe(report["host"]),
        f"{report['model']} at {report['input_size']}px "
        f"(depth multiplier {report['depth_multiplier']:g}); "
        f"median of {report['settings']['repeats']} runs",
        f"{'':<20}"
        + "".join(f"{library:>22}" for library in libraries)
        + ("" if len(libraries) == 1 else f"{'ratio':>9}"),
    ]

    def row(label, values, ratio=None, fmt="{:>22.2f}"):
        text = f"{label:<20}" + "".join(fmt.format(v) for v in values)
        if ratio is not None:
            text += f"{ratio:>8.2f}x"
        return text

    ratios = report.get("ratios", {})
    lines.append(row("parameters", [lib["params"] for lib in libraries.values()], fmt="{:>22,}"))
    lines.append(
        row("GMACs / image", [lib["macs"] / 1e9 for lib in libraries.values()], fmt="{:>22.3f}")
    )
    for mode, per_batch in ours["inference"].items():
        for batch in per_batch:
            lines.append(
                row(
                    f"{mode} b{batch} img/s",
                    [_ips(lib, mode, batch) for lib in libraries.values()],
                    ratios.get(mode, {}).get(batch),
                )
            )
    if "training" in ours:
        lines.append(
            row(
                f"train b{ours['training']['batch_size']} img/s",
                [lib["training"]["images_per_second"] for lib in libraries.values()],
                ratios.get("training"),
            )
        )
    return "\n".join(lines)


def markdown_table(reports, extra_columns=None):
    """A Markdown table of ``benchmark_model`` results: images/second side by side.

    One row per model, mode and batch size (and the training step): ours,
    ``keras.applications`` where measured, and the ratio.

    Args:
        reports: ``benchmark_model`` results.
        extra_columns: ``{heading: function(report, mode, batch) -> text}``
            for more columns (``benchmarks/`` adds the share of the CPU's
            peak), default None.
    """
    extra_columns = extra_columns or {}
    lines = [
        "| Model | Size | Mode | Batch | keras_inception img/s | keras.applications img/s "
        "| Ratio |" + "".join(f" {heading} |" for heading in extra_columns),
        "|---|---:|---|---:|---:|---:|---:|" + "---:|" * len(extra_columns),
    ]
    for report in reports:
        ours = report["libraries"][OURS]
        theirs = report["libraries"].get(THEIRS)
        ratios = report.get("ratios", {})
        rows = [
            (
                mode,
                batch,
                stats["images_per_second"],
                theirs and _ips(theirs, mode, batch),
                ratios.get(mode, {}).get(batch),
            )
            for mode, per_batch in ours["inference"].items()
            for batch, stats in per_batch.items()
        ]
        if "training" in ours:
            rows.append(
                (
                    "training",
                    str(ours["training"]["batch_size"]),
                    ours["training"]["images_per_second"],
                    theirs and theirs["training"]["images_per_second"],
                    ratios.get("training"),
                )
            )
        for mode, batch, mine, other, ratio in rows:
            lines.append(
                f"| {report['model']} | {report['input_size']} | {mode} | {batch} | {mine:.2f} "
                f"| {'-' if other is None else f'{other:.2f}'} "
                f"| {'-' if ratio is None else f'{ratio:.2f}x'} |"
                + "".join(f" {column(report, mode, batch)} |" for column in extra_columns.values())
            )
    return "\n".join(lines)


__all__ = [
    "KERAS_APPLICATIONS",
    "MODES",
    "benchmark_model",
    "dtype_policy",
    "format_report",
    "markdown_table",
]
