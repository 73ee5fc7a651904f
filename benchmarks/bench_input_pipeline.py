"""Input-pipeline throughput against a bare decode loop and Inception-v3's training step.

Prints the host first (CPU, its AVX-512 / AVX512-BF16 / VNNI / AMX flags, cores,
load average, library versions), then, on the same generated JPEGs, the CPU
milliseconds per image, the images per second each core sustains (1000 / CPU
ms) and the wall-clock images per second of

1. a bare parallel decode loop: ``read_file -> decode_jpeg -> resize``,
   ``num_parallel_calls=AUTOTUNE``, batched and prefetched;
2. ``keras_inception.data.build_dataset``'s training pipeline (fused
   crop-decode, flip, colour distortion): the ``"inception"`` recipe with its
   colour distortion on the host (the default) and left to the model's step
   (``color_in_model=True``), the ``"fast"`` recipe (brightness + saturation)
   and ``"none"`` (decode + resize only);
3. its evaluation pipeline (fused central-crop decode);
4. the colour distortion as the model's step runs it (``distort_color_batch``
   on one batch, XLA-compiled), on the GPU when there is one, else on this CPU;
5. ``keras_inception.InceptionV3``'s training step at the same image size, on
   one constant batch (no input cost), after warm-up (``--train-steps 0``
   skips it);

and the ratios the issue sets as goals: training pipeline / bare decode >= 0.7
in CPU time per image, with the colour distortion on the host or, where an
accelerator trains, in its step; training pipeline / training step >= 5.
A 1-minute load average above the core count, before or after, marks every
figure as taken on a loaded host.

``--profile`` adds where the training pipeline's CPU time goes, one stage at
a time; ``--options`` the effect of each ``tf.data`` option ``build_dataset``
sets (``keras_inception.data.pipeline.performance_settings``).

    nice -n 19 python benchmarks/bench_input_pipeline.py --num-images 300 --rounds 3 \\
        --profile --options --out bench.json
"""

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

import keras_inception  # noqa: E402
from keras_inception import atomic  # noqa: E402
from keras_inception import data  # noqa: E402
from keras_inception import hostinfo  # noqa: E402
from keras_inception.data import pipeline as pipeline_lib  # noqa: E402

GOALS = {
    "train_pipeline/bare_decode (cpu)": 0.7,
    "train_pipeline_color_in_model/bare_decode (cpu)": 0.7,
    "train_pipeline/training_step": 5.0,
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--num-images", type=int, default=500, help="JPEGs to generate (default 500)")
    add("--width", type=int, default=500, help="JPEG width (default 500)")
    add("--height", type=int, default=375, help="JPEG height (default 375)")
    add("--classes", type=int, default=10, help="class folders (default 10)")
    add("--image-size", type=int, default=299, help="model input size (default 299)")
    add("--batch-size", type=int, default=32, help="batch size (default 32)")
    add(
        "--rounds",
        type=int,
        default=5,
        help="timed epochs per pipeline, taken in turns; the median counts (default 5)",
    )
    add(
        "--passes",
        type=int,
        default=3,
        help="passes over the JPEGs in one timed epoch, so that an iterator's start (tracing, "
        "thread pools, autotuning) weighs about as in a long epoch (default 3)",
    )
    add(
        "--train-steps",
        type=int,
        default=5,
        help="timed training steps, 0 to skip the training step (default 5)",
    )
    add("--warmup-steps", type=int, default=2, help="untimed training steps (default 2)")
    add(
        "--depth-multiplier",
        type=float,
        default=1.0,
        help="InceptionV3 width multiplier (default 1.0, the real network)",
    )
    add(
        "--profile",
        action="store_true",
        help="also measure the training pipeline one stage at a time",
    )
    add(
        "--options", action="store_true", help="also measure each tf.data option build_dataset sets"
    )
    add("--workdir", default=None, help="where to write the JPEGs (default: a temp dir)")
    add("--out", default=None, help="write the results as JSON here")
    return parser.parse_args(argv)


def make_jpegs(root, num_images, width, height, classes, seed=0):
    """Photo-like JPEGs (smooth colour fields plus grain), quality 90."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(num_images):
        coarse = rng.uniform(0, 255, (height // 25 + 1, width // 25 + 1, 3)).astype(np.uint8)
        field = Image.fromarray(coarse).resize((width, height), Image.BICUBIC)
        field = np.asarray(field, np.float32)
        pixels = np.clip(field + rng.normal(0, 12, field.shape), 0, 255).astype(np.uint8)
        folder = os.path.join(root, f"class_{i % classes:02d}")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"{i:05d}.jpg")
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(path)
    return paths


def measure(pipelines, rounds, passes):
    """Wall-clock images/s and process CPU ms per image of each pipeline.

    An epoch is ``passes`` passes through one iterator. The pipelines take
    turns, one epoch each per round, and the medians over
    ``rounds`` count, so a burst of load on a shared machine hits them alike;
    each is first run once untimed (tracing, page cache). CPU time per image
    is the figure other processes disturb least: on dedicated cores the
    throughput of a CPU-bound pipeline is cores / CPU time per image. A
    pipeline may yield anything whose first element has a batch dimension.
    """
    for ds in pipelines.values():
        for _ in ds:
            pass
    wall = {name: [] for name in pipelines}
    cpu = {name: [] for name in pipelines}
    for _ in range(rounds):
        for name, ds in pipelines.items():
            count, start, start_cpu = 0, time.perf_counter(), time.process_time()
            for element in ds.repeat(passes):
                count += int(tf.nest.flatten(element)[0].shape[0])
            wall[name].append(count / (time.perf_counter() - start))
            cpu[name].append(1000.0 * (time.process_time() - start_cpu) / count)
    return {
        name: {
            "images_per_second": float(np.median(wall[name])),
            "cpu_ms_per_image": float(np.median(cpu[name])),
            "images_per_second_per_core": 1000.0 / float(np.median(cpu[name])),
            "rounds_images_per_second": wall[name],
            "rounds_cpu_ms_per_image": cpu[name],
        }
        for name in pipelines
    }


def bare_decode(paths, size, batch_size):
    def load(path):
        image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
        return tf.image.resize(image, (size, size)), 0

    return (
        tf.data.Dataset.from_tensor_slices(paths)
        .map(load, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )


def profile_stages(paths, size, batch_size):
    """Pipelines that each add one stage of the training path, with the public ops.

    Returns ``[(name, dataset, name of the stage it adds to or None)]``. The
    colour ops run alone on the resized crop, each at a fixed strength (their
    cost does not depend on it), to price them one by one; the last stage is
    the whole training path as ``build_dataset`` maps it.
    """

    def window(encoded, seed):
        return data.sample_crop_window(tf.io.extract_jpeg_shape(encoded), seed=seed)

    def crop(encoded, seed):
        return data.decode_and_crop(
            encoded, lambda shape: data.sample_crop_window(shape, seed=seed), size=(size, size)
        )

    def resized(encoded, seed):
        return tf.image.resize(crop(encoded, seed), (size, size))

    def flipped(encoded, seed):
        return data.random_flip(resized(encoded, seed), seed)

    colour_ops = {
        "brightness": lambda x: x + 16.0,
        "saturation": lambda x: tf.image.adjust_saturation(x, 1.2),
        "hue": lambda x: tf.image.adjust_hue(x, 0.1),
        "contrast": lambda x: tf.image.adjust_contrast(x, 1.2),
        "clip and scale to [-1, 1]": lambda x: tf.clip_by_value(x, 0.0, 255.0) * (2 / 255) - 1,
    }
    stages = [
        ("read the file", lambda encoded, seed: tf.strings.length(encoded), None),
        ("+ JPEG header, crop window", lambda e, s: window(e, s), "read the file"),
        (
            "+ fused crop decode (DCT-scaled)",
            lambda e, s: tf.shape(crop(e, s)),
            "+ JPEG header, crop window",
        ),
        ("+ bilinear resize", resized, "+ fused crop decode (DCT-scaled)"),
        ("+ flip", flipped, "+ bilinear resize"),
    ]
    stages += [
        (f"+ flip + {name}", lambda e, s, op=op: op(flipped(e, s)), "+ flip")
        for name, op in colour_ops.items()
    ]
    stages += [
        (
            "whole path, fast colour",
            lambda e, s: data.load_for_train(e, size, size, seed=s, color="fast"),
            "+ flip",
        ),
        (
            "whole path, full colour",
            lambda e, s: data.load_for_train(e, size, size, seed=s),
            "+ flip",
        ),
        (
            "bare: read + decode",
            lambda e, s: tf.shape(tf.io.decode_jpeg(e, channels=3)),
            "read the file",
        ),
        (
            "bare: + resize",
            lambda e, s: tf.image.resize(tf.io.decode_jpeg(e, channels=3), (size, size)),
            "bare: read + decode",
        ),
    ]
    seeds = tf.data.Dataset.random(seed=1).batch(2)
    encoded = tf.data.Dataset.from_tensor_slices(paths).map(tf.io.read_file)
    return [
        (
            name,
            tf.data.Dataset.zip((encoded, seeds))
            .map(fn, num_parallel_calls=tf.data.AUTOTUNE)
            .batch(batch_size)
            .prefetch(tf.data.AUTOTUNE),
            base,
        )
        for name, fn, base in stages
    ]


def options_study(paths, size, batch_size, rounds, passes):
    """``build_dataset``'s training path under TensorFlow's default options, under
    all the settings of ``performance_settings``, and under all but one of them.

    The pipeline is built here from the library's ops (shuffled paths, read,
    ``load_for_train``, batch, prefetch) rather than by ``build_dataset``,
    which always applies the settings: a later ``with_options`` cannot unset
    a private thread pool.
    """
    settings = pipeline_lib.performance_settings(batch_size * size * size * 3 * 4, True)

    def train_like(chosen):
        ds = (
            tf.data.Dataset.from_tensor_slices(paths)
            .shuffle(len(paths), seed=0)
            .map(tf.io.read_file, num_parallel_calls=tf.data.AUTOTUNE)
            .map(
                lambda encoded: data.load_for_train(encoded, size, size),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
            .batch(batch_size, drop_remainder=True)
            .prefetch(tf.data.AUTOTUNE)
        )
        options = tf.data.Options()
        options.deterministic = False
        return ds.with_options(pipeline_lib.apply_settings(options, chosen))

    variants = {"TensorFlow defaults": {}, "all (build_dataset)": settings}
    for name in settings:
        variants[f"all but {name}"] = {k: v for k, v in settings.items() if k != name}
    return {
        "settings": {k: repr(v) for k, v in settings.items()},
        "variants": measure(
            {name: train_like(chosen) for name, chosen in variants.items()}, rounds, passes
        ),
    }


def colour_step_rate(size, batch_size, rounds=5):
    """CPU ms and wall ms per image of ``distort_color_batch`` on one batch, XLA-compiled.

    On the first GPU when there is one (as ``ColorDistortion`` runs in the
    model's step there), else on the CPU. Returns ``(device, figures)``.
    """
    gpus = tf.config.list_logical_devices("GPU")
    device = gpus[0].name if gpus else "/CPU:0"
    with tf.device(device):
        images = tf.random.uniform((batch_size, size, size, 3))
        step = tf.function(lambda x, seed: data.distort_color_batch(x, seed), jit_compile=True)
        step(images, tf.constant([0, 0], tf.int64)).numpy()
        wall, cpu = [], []
        for i in range(rounds):
            start, start_cpu = time.perf_counter(), time.process_time()
            step(images, tf.constant([i, 1], tf.int64)).numpy()
            wall.append(1000.0 * (time.perf_counter() - start) / batch_size)
            cpu.append(1000.0 * (time.process_time() - start_cpu) / batch_size)
    return device, {
        "wall_ms_per_image": float(np.median(wall)),
        "cpu_ms_per_image": float(np.median(cpu)),
    }


def training_step_rate(size, batch_size, classes, warmup, steps, depth_multiplier):
    model = keras_inception.InceptionV3(
        weights=None,
        classes=classes,
        input_shape=(size, size, 3),
        depth_multiplier=depth_multiplier,
    )
    model.compile(
        optimizer=keras.optimizers.RMSprop(0.045, rho=0.9, epsilon=1.0),
        loss="sparse_categorical_crossentropy",
    )
    batch = (
        tf.random.uniform((batch_size, size, size, 3), -1, 1),
        tf.random.uniform((batch_size,), 0, classes, tf.int32),
    )
    ds = tf.data.Dataset.from_tensors(batch).repeat()
    model.fit(ds, epochs=1, steps_per_epoch=warmup, verbose=0)
    start = time.perf_counter()
    model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0)
    return batch_size * steps / (time.perf_counter() - start)


def print_stages(stages, loaded, title="stage (medians)"):
    mark = " *" if loaded else ""
    print(f"{title:<48}{'images/s':>10}{'cpu ms/img':>12}{'img/s/core':>12}")
    for name, stage in stages.items():
        print(
            f"{name:<48}{stage['images_per_second']:>10.1f}{stage['cpu_ms_per_image']:>12.2f}"
            f"{stage['images_per_second_per_core']:>12.0f}{mark}"
        )


def main(argv=None):
    args = parse_args(argv)
    facts = hostinfo.host()
    print(hostinfo.describe(facts))
    cores = facts["cores"]
    loads = [os.getloadavg()[0]]
    workdir = args.workdir or tempfile.mkdtemp(prefix="bench_input_")
    paths = make_jpegs(workdir, args.num_images, args.width, args.height, args.classes)
    size, batch = args.image_size, args.batch_size
    common = dict(image_size=size, batch_size=batch, validation_split=0, cache=False)

    start = time.perf_counter()
    pipelines = {"bare_decode": bare_decode(paths, size, batch)}
    pipelines["train_pipeline"], _ = data.build_dataset(
        data.DataConfig(workdir, split="train", **common)
    )
    build_seconds = time.perf_counter() - start
    pipelines["train_pipeline_color_in_model"], _ = data.build_dataset(
        data.DataConfig(workdir, split="train", color_in_model=True, **common)
    )
    pipelines["train_pipeline_fast"], _ = data.build_dataset(
        data.DataConfig(workdir, split="train", augment="fast", **common)
    )
    pipelines["train_pipeline_no_augment"], _ = data.build_dataset(
        data.DataConfig(workdir, split="train", augment="none", **common)
    )
    pipelines["eval_pipeline"], _ = data.build_dataset(
        data.DataConfig(workdir, split="validation", **common)
    )
    stages = measure(pipelines, args.rounds, args.passes)
    colour_device, colour_step = colour_step_rate(size, batch)
    step_rate = None
    if args.train_steps > 0:
        step_rate = training_step_rate(
            size, batch, args.classes, args.warmup_steps, args.train_steps, args.depth_multiplier
        )
    profile = None
    if args.profile:
        profile = measure(
            {name: ds for name, ds, _ in profile_stages(paths, size, batch)},
            args.rounds,
            args.passes,
        )
        for name, _, base in profile_stages(paths, size, batch):
            profile[name]["adds_cpu_ms"] = (
                profile[name]["cpu_ms_per_image"] - profile[base]["cpu_ms_per_image"]
                if base
                else profile[name]["cpu_ms_per_image"]
            )
    options = None
    if args.options:
        options = options_study(paths, size, batch, args.rounds, args.passes)
    loads.append(os.getloadavg()[0])
    loaded = max(loads) > cores

    bare = stages["bare_decode"]
    ratios = {}
    for name, stage in stages.items():
        if name != "bare_decode":
            ratios[f"{name}/bare_decode (cpu)"] = (
                bare["cpu_ms_per_image"] / stage["cpu_ms_per_image"]
            )
            ratios[f"{name}/bare_decode (wall)"] = (
                stage["images_per_second"] / bare["images_per_second"]
            )
    if step_rate:
        for name in ("train_pipeline", "train_pipeline_color_in_model", "train_pipeline_fast"):
            ratios[f"{name}/training_step"] = stages[name]["images_per_second"] / step_rate

    devices = [d.device_type for d in tf.config.list_physical_devices()]
    print(
        f"{args.num_images} JPEGs {args.width}x{args.height} -> {size}x{size}, batch {batch}, "
        f"devices: {devices}"
    )
    if loaded:
        print(
            f"* LOADED HOST: 1-minute load average {max(loads):.1f} on {cores} cores during "
            "the run; every figure below is marked and is not to be quoted as this host's."
        )
    print_stages(stages, loaded)
    print(
        f"colour in the model's step (distort_color_batch, XLA) on {colour_device}: "
        f"{colour_step['wall_ms_per_image']:.3f} wall ms/img, "
        f"{colour_step['cpu_ms_per_image']:.3f} host cpu ms/img"
    )
    if not tf.config.list_physical_devices("GPU"):
        print("  (no GPU or TPU here: the colour's cost on an accelerator is not measured)")
    if step_rate:
        print(f"{'training_step (InceptionV3)':<48}{step_rate:>10.2f}")
    print(f"{'ratio':<52}{'value':>8}{'goal':>8}")
    for name, value in ratios.items():
        goal = GOALS.get(name)
        mark = "" if goal is None else (" ok" if value >= goal else " MISSED")
        print(f"{name:<52}{value:>8.2f}{'' if goal is None else f'{goal:>8.1f}'}{mark}")
    print(f"(build_dataset, incl. verifying every file: {build_seconds:.1f} s)")
    if profile:
        print("\nwhere the training path's CPU time goes (each stage adds to the one named)")
        print(f"{'stage':<40}{'cpu ms/img':>12}{'adds':>8}")
        for name, stage in profile.items():
            print(f"{name:<40}{stage['cpu_ms_per_image']:>12.2f}{stage['adds_cpu_ms']:>8.2f}")
    if options:
        print("\ntf.data options, training path (load_for_train), with and without each setting")
        print_stages(options["variants"], loaded, title="options")

    results = {
        "host": facts,
        "loaded": loaded,
        "load_averages": loads,
        "config": {
            **vars(args),
            "workdir": workdir,
            "devices": [d.name for d in tf.config.list_physical_devices()],
        },
        "stages": stages,
        "training_step_images_per_second": step_rate,
        "colour_in_model_step": {"device": colour_device, **colour_step},
        "ratios": ratios,
        "goals": GOALS,
        "build_dataset_seconds": build_seconds,
        "profile": profile,
        "options": options,
    }
    if args.out:
        atomic.write_json(args.out, results)
    return results


if __name__ == "__main__":
    main()
