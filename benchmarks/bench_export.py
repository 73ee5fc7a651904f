"""Inference speed of Inception-v3 in every exported form, against Keras fp32, with the goals.

One run builds ``keras_inception.InceptionV3`` (random weights: speed does not
depend on them), exports it with ``keras_inception.export`` and measures images
per second of

1. Keras fp32 (``model.predict_on_batch``, the compiled predict function), the
   anchor, and Keras under the ``mixed_bfloat16`` policy (what a Keras user
   would try first for bfloat16);
2. the SavedModel's ``serving_pixels`` signature (pixels in, as the others),
   exported in float32 and in bfloat16 (``precision="bfloat16"``);
3. the float32 SavedModel's ``serving_default`` signature fed a JPEG (decode,
   crop, resize in the graph), for reference;
4. LiteRT (``ai_edge_litert``) float32, float16, dynamic and int8 (uint8 I/O,
   calibrated on the embedded ``digits`` images at the model's size), at batch
   1 only (phones run one image at a time).

at each of ``--batch-sizes`` (default 1 and 8). Each form is timed in
``--rounds`` rounds taken in turns and the median round counts, which a
shared machine disturbs least. Ratios are against Keras fp32 at the same batch
size. The host's CPU features, cores, load and library versions are printed
first; the goals of ``goals.EXPORT_GOALS`` last (a goal for AMX hosts is not
judged on a host without AMX).

    python benchmarks/bench_export.py                 # 299 px, the real network
    python benchmarks/bench_export.py --size 150 --rounds 3 --out bench_export.json
"""

import argparse
import io
import os
import statistics
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import goals  # noqa: E402
import timing  # noqa: E402

import keras_inception  # noqa: E402
from keras_inception import atomic  # noqa: E402
from keras_inception import export  # noqa: E402
from keras_inception import hostinfo  # noqa: E402
from keras_inception import precision  # noqa: E402

TFLITE_MODES = ("float32", "float16", "dynamic", "int8")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=299, help="input size in pixels (default 299)")
    parser.add_argument(
        "--depth-multiplier",
        type=float,
        default=1.0,
        help="InceptionV3 width multiplier (default 1.0, the real network)",
    )
    parser.add_argument(
        "--batch-sizes",
        type=int,
        nargs="+",
        default=[1, 8],
        help="batch sizes of the Keras and SavedModel forms (default 1 8); LiteRT runs at batch 1",
    )
    timing.add_timing_arguments(
        parser,
        calibration_images=100,
        threads_help="LiteRT interpreter threads (default: all cores, as TensorFlow uses)",
    )
    parser.add_argument(
        "--workdir", default=None, help="where to write the exports (default: a temp dir)"
    )
    return parser.parse_args(argv)


def build_forms(args, workdir):
    """``{(name, batch): (callable, facts)}`` for every form, all fed the same images."""
    model = keras_inception.InceptionV3(
        input_shape=(args.size, args.size, 3), depth_multiplier=args.depth_multiplier
    )
    keras_bf16 = precision.with_policy(model, "mixed_bfloat16")
    rng = np.random.default_rng(0)
    saved = {}
    for export_precision in export.PRECISIONS:
        version_dir = export.export_saved_model(
            model,
            base_dir=os.path.join(workdir, "saved_models"),
            model_name=f"inception_v3_{export_precision}",
            precision=export_precision,
        )
        saved[export_precision] = tf.saved_model.load(version_dir)
    forms = {}
    for batch in args.batch_sizes:
        pixels = rng.integers(0, 256, (batch, args.size, args.size, 3), dtype=np.uint8)
        scaled = keras_inception.preprocess_input(pixels.astype(np.float32))
        pixel_input = tf.constant(pixels, tf.float32)
        forms[("keras_fp32", batch)] = (lambda x=scaled: model.predict_on_batch(x), {})
        forms[("keras_mixed_bf16", batch)] = (lambda x=scaled: keras_bf16.predict_on_batch(x), {})
        for export_precision, loaded in saved.items():
            signature = loaded.signatures[export.SIGNATURE_PIXELS]
            name = "saved_model" if export_precision == "float32" else "saved_model_bf16"
            forms[(name, batch)] = (lambda f=signature, x=pixel_input: f(pixels=x), {})
    jpeg = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (args.size, args.size, 3), dtype=np.uint8)).save(
        jpeg, "JPEG", quality=90
    )
    bytes_signature = saved["float32"].signatures[export.SIGNATURE_BYTES]
    bytes_input = tf.constant([jpeg.getvalue()])
    forms[("saved_model_jpeg", 1)] = (lambda: bytes_signature(image_bytes=bytes_input), {})

    one = keras_inception.preprocess_input(
        rng.integers(0, 256, (1, args.size, args.size, 3)).astype(np.float32)
    )
    held_out = _held_out(args)
    for mode in TFLITE_MODES:
        path = os.path.join(workdir, f"inception_v3_{mode}.tflite")
        report = export.export_tflite(
            model,
            path,
            mode=mode,
            calibration_data="digits",
            check_parity=False,
            num_calibration_images=args.calibration_images,
            num_parity_images=0,
        )
        classifier = export.LiteRTClassifier(path, num_threads=args.threads)
        parity = export.parity_check(model, classifier, mode, held_out, output_kind="probabilities")
        forms[(f"litert_{mode}", 1)] = (
            lambda classifier=classifier: classifier(one),
            {
                "size_mb": report["size_bytes"] / 2**20,
                "max_abs_prob_diff": parity["max_abs_prob_diff"],
                "top1_agreement": parity["top1_agreement"],
            },
        )
    return forms


def _held_out(args):
    """The 50 images after the calibration ones, from the same evaluation stream."""
    from keras_inception import data

    stream = data.calibration_images(
        "digits", args.size, num_images=args.calibration_images + 50, batch_size=50
    )
    return np.concatenate(list(stream))[args.calibration_images :]


def main(argv=None):
    args = parse_args(argv)
    print(hostinfo.describe(), flush=True)
    facts = hostinfo.host()
    with tempfile.TemporaryDirectory() as scratch:
        workdir = args.workdir or scratch
        forms = build_forms(args, workdir)
        for run, _ in forms.values():  # warm-up: tracing, allocation, caches
            run()
            run()
        rounds = {key: [] for key in forms}
        for _ in range(args.rounds):
            for (name, batch), (run, _) in forms.items():
                rounds[(name, batch)].append(timing.images_per_second(run, args.seconds, batch))

    speeds = {key: statistics.median(values) for key, values in rounds.items()}
    rows = [
        {
            "form": name,
            "batch_size": batch,
            "images_per_second": speeds[(name, batch)],
            "ratio_vs_keras_fp32": speeds[(name, batch)] / speeds[("keras_fp32", batch)],
            "rounds": rounds[(name, batch)],
            **forms[(name, batch)][1],
        }
        for name, batch in forms
    ]
    print(
        f"\nInception-v3 at {args.size} px, depth_multiplier {args.depth_multiplier}, "
        f"median of {args.rounds} rounds of {args.seconds:g} s; LiteRT threads {args.threads}"
    )
    print(
        f"{'form':<18}{'batch':>6}{'images/s':>10}{'vs keras':>10}{'size MB':>10}{'top-1 agr':>11}"
    )
    for row in rows:
        size = f"{row['size_mb']:.1f}" if "size_mb" in row else ""
        agreement = f"{row['top1_agreement']:.0%}" if "top1_agreement" in row else ""
        print(
            f"{row['form']:<18}{row['batch_size']:>6}{row['images_per_second']:>10.2f}"
            f"{row['ratio_vs_keras_fp32']:>9.2f}x{size:>10}{agreement:>11}"
        )
    print(
        "top-1 agr: LiteRT vs Keras on held-out digits; with random weights the outputs are "
        "near-tied, so it says little (the tests check agreement on a trained model)."
    )
    judged = goals.export_goals(rows, amx=facts["amx"])
    for line in goals.format_export_goals(judged):
        print(line)
    results = {
        "benchmark": "bench_export",
        "host": facts,
        "size": args.size,
        "depth_multiplier": args.depth_multiplier,
        "batch_sizes": args.batch_sizes,
        "rounds": args.rounds,
        "seconds_per_round": args.seconds,
        "litert_threads": args.threads,
        "results": rows,
        "goals": judged,
    }
    if args.out:
        atomic.write_json(args.out, results)
    return results


if __name__ == "__main__":
    main()
