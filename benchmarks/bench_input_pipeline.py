"""Input-pipeline throughput against a bare decode loop and Inception-v3's training step.

One run, on the same generated JPEGs, measures images per second of

1. a bare parallel decode loop: ``read_file -> decode_jpeg -> resize``,
   ``num_parallel_calls=AUTOTUNE``, batched and prefetched;
2. ``keras_inception.data.build_dataset``'s training pipeline (fused
   crop-decode, flip, colour distortion): the default ``"inception"`` recipe
   (full colour distortion), the ``"fast"`` one (brightness + saturation) and
   ``"none"`` (decode + resize only, the like-for-like comparison);
3. its evaluation pipeline (fused central-crop decode);
4. ``keras_inception.InceptionV3``'s training step at the same image size, on
   one constant batch (no input cost), after warm-up.

and prints the ratios the issue sets as goals: training pipeline / bare decode
>= 0.7 (judged on CPU time per image, which a shared machine disturbs least;
the wall-clock ratio is printed too), training pipeline / training step >= 5.

    python benchmarks/bench_input_pipeline.py --num-images 500 --out bench.json
"""

import argparse
import os
import platform
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


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-images", type=int, default=500, help="JPEGs to generate (default 500)")
    parser.add_argument("--width", type=int, default=500, help="JPEG width (default 500)")
    parser.add_argument("--height", type=int, default=375, help="JPEG height (default 375)")
    parser.add_argument("--classes", type=int, default=10, help="class folders (default 10)")
    parser.add_argument("--image-size", type=int, default=299, help="model input size (default 299)")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="timed epochs per pipeline, taken in turns; the median counts (default 5)")
    parser.add_argument("--train-steps", type=int, default=5, help="timed training steps (default 5)")
    parser.add_argument("--warmup-steps", type=int, default=2, help="untimed training steps (default 2)")
    parser.add_argument("--depth-multiplier", type=float, default=1.0,
                        help="InceptionV3 width multiplier (default 1.0, the real network)")
    parser.add_argument("--workdir", default=None, help="where to write the JPEGs (default: a temp dir)")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    return parser.parse_args(argv)


def make_jpegs(root, num_images, width, height, classes, seed=0):
    """Photo-like JPEGs (smooth colour fields plus grain), quality 90."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(num_images):
        coarse = rng.uniform(0, 255, (height // 25 + 1, width // 25 + 1, 3)).astype(np.uint8)
        field = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BICUBIC), np.float32)
        pixels = np.clip(field + rng.normal(0, 12, field.shape), 0, 255).astype(np.uint8)
        folder = os.path.join(root, f"class_{i % classes:02d}")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"{i:05d}.jpg")
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(path)
    return paths


def measure(pipelines, rounds):
    """Wall-clock images/s and process CPU ms per image of each pipeline.

    The pipelines take turns, one epoch each per round, and the medians over
    ``rounds`` count, so a burst of load on a shared machine hits them alike;
    each is first run once untimed (tracing, page cache). CPU time per image
    is the figure other processes disturb least: on dedicated cores the
    throughput of a CPU-bound pipeline is cores / CPU time per image.
    """
    for ds in pipelines.values():
        for _ in ds:
            pass
    wall = {name: [] for name in pipelines}
    cpu = {name: [] for name in pipelines}
    for _ in range(rounds):
        for name, ds in pipelines.items():
            count, start, start_cpu = 0, time.perf_counter(), time.process_time()
            for images, _ in ds:
                count += int(images.shape[0])
            wall[name].append(count / (time.perf_counter() - start))
            cpu[name].append(1000.0 * (time.process_time() - start_cpu) / count)
    return {
        name: {
            "images_per_second": float(np.median(wall[name])),
            "cpu_ms_per_image": float(np.median(cpu[name])),
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


def training_step_rate(size, batch_size, classes, warmup, steps, depth_multiplier):
    model = keras_inception.InceptionV3(
        weights=None, classes=classes, input_shape=(size, size, 3),
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


def main(argv=None):
    args = parse_args(argv)
    workdir = args.workdir or tempfile.mkdtemp(prefix="bench_input_")
    paths = make_jpegs(workdir, args.num_images, args.width, args.height, args.classes)
    size, batch = args.image_size, args.batch_size
    common = dict(image_size=size, batch_size=batch, validation_split=0, cache=False)

    start = time.perf_counter()
    pipelines = {"bare_decode": bare_decode(paths, size, batch)}
    pipelines["train_pipeline"], _ = data.build_dataset(data.DataConfig(
        workdir, split="train", **common
    ))
    build_seconds = time.perf_counter() - start
    pipelines["train_pipeline_fast"], _ = data.build_dataset(data.DataConfig(
        workdir, split="train", augment="fast", **common
    ))
    pipelines["train_pipeline_no_augment"], _ = data.build_dataset(data.DataConfig(
        workdir, split="train", augment="none", **common
    ))
    pipelines["eval_pipeline"], _ = data.build_dataset(data.DataConfig(
        workdir, split="validation", **common
    ))
    stages = measure(pipelines, args.rounds)
    step_rate = training_step_rate(
        size, batch, args.classes, args.warmup_steps, args.train_steps, args.depth_multiplier
    )
    bare = stages["bare_decode"]
    ratios = {}
    for name, stage in stages.items():
        if name != "bare_decode":
            ratios[f"{name}/bare_decode (cpu)"] = bare["cpu_ms_per_image"] / stage["cpu_ms_per_image"]
            ratios[f"{name}/bare_decode (wall)"] = (
                stage["images_per_second"] / bare["images_per_second"]
            )
    for name in ("train_pipeline", "train_pipeline_fast"):
        ratios[f"{name}/training_step"] = stages[name]["images_per_second"] / step_rate
    goals = {"train_pipeline/bare_decode (cpu)": 0.7, "train_pipeline/training_step": 5.0}

    devices = [d.device_type for d in tf.config.list_physical_devices()]
    print(f"{args.num_images} JPEGs {args.width}x{args.height} -> {size}x{size}, batch {batch}, "
          f"{os.cpu_count()} CPUs, devices: {devices}")
    print(f"{'stage (medians)':<40}{'images/s':>10}{'cpu ms/img':>12}")
    for name, stage in stages.items():
        print(f"{name:<40}{stage['images_per_second']:>10.1f}{stage['cpu_ms_per_image']:>12.2f}")
    print(f"{'training_step (InceptionV3)':<40}{step_rate:>10.2f}")
    print(f"{'ratio':<44}{'value':>8}{'goal':>8}")
    for name, value in ratios.items():
        goal = goals.get(name)
        mark = "" if goal is None else (" ok" if value >= goal else " MISSED")
        print(f"{name:<44}{value:>8.2f}{'' if goal is None else f'{goal:>8.1f}'}{mark}")
    print(f"(build_dataset, incl. verifying every file: {build_seconds:.1f} s)")

    results = {
        "config": {**vars(args), "workdir": workdir, "cpus": os.cpu_count(),
                   "platform": platform.platform(), "tensorflow": tf.__version__,
                   "keras": keras.__version__,
                   "devices": [d.name for d in tf.config.list_physical_devices()]},
        "stages": stages, "training_step_images_per_second": step_rate,
        "ratios": ratios, "goals": goals, "build_dataset_seconds": build_seconds,
    }
    if args.out:
        atomic.write_json(args.out, results)
    return results


if __name__ == "__main__":
    main()
