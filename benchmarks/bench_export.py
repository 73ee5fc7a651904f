"""Batch-1 inference speed of Inception-v3 in every exported form, against Keras fp32.

One run builds ``keras_inception.InceptionV3`` (random weights: speed does not
depend on them), exports it with ``keras_inception.export`` and measures images
per second at batch 1 of

1. Keras fp32 (``model.predict_on_batch``, the compiled predict function);
2. the SavedModel's ``serving_pixels`` signature (pixels in, as the others);
3. the SavedModel's ``serving_default`` signature fed a JPEG (decode, crop,
   resize in the graph), for reference;
4. LiteRT (``ai_edge_litert``) float32, float16, dynamic and int8 (uint8 I/O,
   calibrated on the embedded ``digits`` images at the model's size).

Each form is timed in ``--rounds`` rounds taken in turns and the median round
counts, which a shared machine disturbs least. Ratios are against Keras fp32.
The LiteRT figures beside each model are its agreement with Keras on the
calibration source's held-out images (informative only: a random-weight model
has near-tied logits, so its top-1 agreement means little).

    python benchmarks/bench_export.py                 # 299 px, the real network
    python benchmarks/bench_export.py --size 150 --out bench_export.json
"""

import argparse
import io
import os
import platform
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

import keras_inception  # noqa: E402
from keras_inception import atomic  # noqa: E402
from keras_inception import export  # noqa: E402

TFLITE_MODES = ("float32", "float16", "dynamic", "int8")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=299, help="input size in pixels (default 299)")
    parser.add_argument("--depth-multiplier", type=float, default=1.0,
                        help="InceptionV3 width multiplier (default 1.0, the real network)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per form (default 5)")
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="length of one timed round in seconds (default 2)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="LiteRT interpreter threads (default: all cores, as TensorFlow uses)")
    parser.add_argument("--calibration-images", type=int, default=100,
                        help="int8 calibration images (default 100)")
    parser.add_argument("--workdir", default=None,
                        help="where to write the exports (default: a temp dir)")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    return parser.parse_args(argv)


def images_per_second(run, seconds):
    """Batch-1 calls of ``run`` per second over one round of about ``seconds``."""
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or calls < 3:
        run()
        calls += 1
    return calls / elapsed


def build_forms(args, workdir):
    """``{name: (callable, facts)}`` for every form, all fed the same image."""
    model = keras_inception.InceptionV3(
        input_shape=(args.size, args.size, 3), depth_multiplier=args.depth_multiplier
    )
    pixels = np.random.default_rng(0).integers(0, 256, (1, args.size, args.size, 3), dtype=np.uint8)
    scaled = keras_inception.preprocess_input(pixels)
    jpeg = io.BytesIO()
    Image.fromarray(pixels[0]).save(jpeg, "JPEG", quality=90)
    forms = {"keras_fp32": (lambda: model.predict_on_batch(scaled), {})}

    version_dir = export.export_saved_model(model, base_dir=os.path.join(workdir, "saved_models"))
    loaded = tf.saved_model.load(version_dir)
    pixel_signature = loaded.signatures[export.SIGNATURE_PIXELS]
    bytes_signature = loaded.signatures[export.SIGNATURE_BYTES]
    pixel_input = tf.constant(pixels, tf.float32)
    bytes_input = tf.constant([jpeg.getvalue()])
    forms["saved_model"] = (lambda: pixel_signature(pixels=pixel_input), {})
    forms["saved_model_jpeg"] = (lambda: bytes_signature(image_bytes=bytes_input), {})

    held_out = _held_out(args)
    for mode in TFLITE_MODES:
        path = os.path.join(workdir, f"inception_v3_{mode}.tflite")
        report = export.export_tflite(
            model, path, mode=mode, calibration_data="digits", check_parity=False,
            num_calibration_images=args.calibration_images, num_parity_images=0,
        )
        classifier = export.LiteRTClassifier(path, num_threads=args.threads)
        parity = export.parity_check(model, classifier, mode, held_out, output_kind="probabilities")
        forms[f"litert_{mode}"] = (
            lambda classifier=classifier: classifier(scaled),
            {"size_mb": report["size_bytes"] / 2**20,
             "max_abs_prob_diff": parity["max_abs_prob_diff"],
             "top1_agreement": parity["top1_agreement"]},
        )
    return forms


def _held_out(args):
    """The 50 images after the calibration ones, from the same evaluation stream."""
    from keras_inception import data

    stream = data.calibration_images(
        "digits", args.size, num_images=args.calibration_images + 50, batch_size=50
    )
    return np.concatenate(list(stream))[args.calibration_images:]


def main(argv=None):
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        workdir = args.workdir or scratch
        forms = build_forms(args, workdir)
        for run, _ in forms.values():  # warm-up: tracing, allocation, caches
            run()
            run()
        rounds = {name: [] for name in forms}
        for _ in range(args.rounds):
            for name, (run, _) in forms.items():
                rounds[name].append(images_per_second(run, args.seconds))

    speeds = {name: statistics.median(values) for name, values in rounds.items()}
    base = speeds["keras_fp32"]
    rows = [
        {"form": name, "images_per_second": speeds[name],
         "ratio_vs_keras_fp32": speeds[name] / base, "rounds": rounds[name], **forms[name][1]}
        for name in forms
    ]
    print(f"Inception-v3 at {args.size} px, depth_multiplier {args.depth_multiplier}, batch 1, "
          f"median of {args.rounds} rounds of {args.seconds:g} s; LiteRT threads {args.threads}")
    print(f"{'form':<18}{'images/s':>10}{'vs keras':>10}{'size MB':>10}{'top-1 agr':>11}")
    for row in rows:
        size = f"{row['size_mb']:.1f}" if "size_mb" in row else ""
        agreement = f"{row['top1_agreement']:.0%}" if "top1_agreement" in row else ""
        print(f"{row['form']:<18}{row['images_per_second']:>10.2f}"
              f"{row['ratio_vs_keras_fp32']:>9.2f}x{size:>10}{agreement:>11}")
    print("top-1 agr: LiteRT vs Keras on held-out digits; with random weights the outputs are "
          "near-tied, so it says little (int8 rounds them all to the same value).")
    results = {
        "benchmark": "bench_export",
        "size": args.size,
        "depth_multiplier": args.depth_multiplier,
        "batch_size": 1,
        "rounds": args.rounds,
        "seconds_per_round": args.seconds,
        "litert_threads": args.threads,
        "tensorflow": tf.__version__,
        "machine": {
            "processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
        },
        "results": rows,
    }
    if args.out:
        atomic.write_json(args.out, results)
    return results


if __name__ == "__main__":
    main()
