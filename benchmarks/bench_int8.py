"""Why full-integer int8 was slower than dynamic range in LiteRT, and what each candidate changes.

One run converts ``keras_inception.InceptionV3`` (random weights: speed does not
depend on them; calibrated on the embedded ``digits`` images at the model's
size) into these TFLite forms and times each at batch 1 in the LiteRT
interpreter, in turns, against the dynamic-range model:

- ``dynamic``: dynamic-range quantization (int8 weights, float activations);
- ``int8 all-int8 uint8-io``: full integer quantization of every op, uint8
  input and output (this package's int8 export until the change);
- ``... int8-io`` / ``float-io``: the same with int8, or float32, input and
  output (the quantize/dequantize at the edges);
- ``... per-tensor``: per-tensor instead of per-channel weight scales;
- ``int8 float-avgpool ...``: average pooling kept in float32 between a
  dequantize and a quantize (``export.FLOAT_OPS``, the default now);

and, for the main forms, with 1 interpreter thread and without the XNNPACK
delegate (LiteRT's own kernels). For each form it prints the number of XNNPACK
partitions (``DELEGATE`` nodes): a graph cut into many partitions runs the ops
between them in LiteRT's kernels and pays a hand-over at every cut.

    python benchmarks/bench_int8.py                      # 299 px, the real network
    python benchmarks/bench_int8.py --size 150 --rounds 3 --out int8.json
"""

import argparse
import collections
import os
import statistics
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from ai_edge_litert.interpreter import Interpreter  # noqa: E402
from ai_edge_litert.interpreter import OpResolverType  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import timing  # noqa: E402

import keras_inception  # noqa: E402
from keras_inception import atomic  # noqa: E402
from keras_inception import data  # noqa: E402
from keras_inception import export  # noqa: E402
from keras_inception import hostinfo  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=299, help="input size in pixels (default 299)")
    timing.add_timing_arguments(
        parser,
        calibration_images=50,
        threads_help="interpreter threads of the main rows (default: all cores)",
    )
    return parser.parse_args(argv)


def convert(
    model, calibration, path, *, mode="int8", float_ops=(), io_type="uint8", per_tensor=False
):
    """Writes one form to ``path``; the library's export except for the per-tensor row."""
    if not per_tensor and io_type != "float32":
        export.export_tflite(
            model,
            path,
            mode=mode,
            calibration_data=[calibration],
            check_parity=False,
            num_calibration_images=len(calibration),
            num_parity_images=0,
            float_ops=float_ops,
            io_type=io_type,
        )
        return
    # The forms the library does not offer: float32 input/output, per-tensor scales.
    function = tf.function(
        lambda images: model(images, training=False),
        input_signature=[tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)],
    )
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([image[None]] for image in calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if io_type != "float32":
        converter.inference_input_type = converter.inference_output_type = tf.as_dtype(io_type)
    # Not a public switch; a benchmark may use it to answer the question.
    converter._experimental_disable_per_channel = per_tensor
    with open(path, "wb") as f:
        f.write(converter.convert())


def interpreter_run(path, threads, xnnpack=True):
    """``(run, partitions)``: one batch-1 invoke, and the number of XNNPACK partitions."""
    resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interpreter = Interpreter(
        model_path=path, num_threads=threads, experimental_op_resolver_type=resolver
    )
    interpreter.allocate_tensors()
    given = interpreter.get_input_details()[0]
    image = np.zeros(given["shape"], given["dtype"])
    ops = collections.Counter(op["op_name"] for op in interpreter._get_ops_details())

    def run():
        interpreter.set_tensor(given["index"], image)
        interpreter.invoke()

    return run, ops["DELEGATE"]


def main(argv=None):
    args = parse_args(argv)
    print(hostinfo.describe())
    facts = hostinfo.host()
    model = keras_inception.InceptionV3(input_shape=(args.size, args.size, 3))
    calibration = np.concatenate(
        list(
            data.calibration_images(
                "digits",
                args.size,
                num_images=args.calibration_images,
                batch_size=args.calibration_images,
            )
        )
    )
    conversions = {
        "dynamic": dict(mode="dynamic"),
        "int8 all-int8 uint8-io": dict(io_type="uint8"),
        "int8 all-int8 int8-io": dict(io_type="int8"),
        "int8 all-int8 float-io": dict(io_type="float32"),
        "int8 all-int8 per-tensor": dict(io_type="int8", per_tensor=True),
        "int8 float-avgpool uint8-io": dict(io_type="uint8", float_ops=export.FLOAT_OPS),
        "int8 float-avgpool int8-io": dict(io_type="int8", float_ops=export.FLOAT_OPS),
    }
    # (form, threads, xnnpack) rows beyond the main ones.
    extra = [
        ("dynamic", 1, True),
        ("int8 all-int8 uint8-io", 1, True),
        ("int8 float-avgpool uint8-io", 1, True),
        ("dynamic", args.threads, False),
        ("int8 all-int8 uint8-io", args.threads, False),
        ("int8 float-avgpool uint8-io", args.threads, False),
    ]
    rows = {}
    with tempfile.TemporaryDirectory() as workdir:
        paths = {}
        for i, (name, options) in enumerate(conversions.items()):
            print(f"converting {name} ...", flush=True)
            paths[name] = os.path.join(workdir, f"form{i}.tflite")
            convert(model, calibration, paths[name], **options)
        for name in conversions:
            rows[(name, args.threads, True)] = interpreter_run(paths[name], args.threads)
        for name, threads, xnnpack in extra:
            rows[(name, threads, xnnpack)] = interpreter_run(paths[name], threads, xnnpack)
        for run, _ in rows.values():
            run()
            run()
        rounds = {key: [] for key in rows}
        for _ in range(args.rounds):
            for key, (run, _) in rows.items():
                rounds[key].append(timing.images_per_second(run, args.seconds))

    base = statistics.median(rounds[("dynamic", args.threads, True)])
    results = []
    print(
        f"\nInception-v3 at {args.size} px, batch 1, median of {args.rounds} rounds of "
        f"{args.seconds:g} s"
    )
    print(
        f"{'form':<30}{'threads':>8}{'XNNPACK':>9}{'partitions':>11}{'images/s':>10}"
        f"{'vs dynamic':>12}"
    )
    for (name, threads, xnnpack), (_, partitions) in rows.items():
        speed = statistics.median(rounds[(name, threads, xnnpack)])
        results.append(
            {
                "form": name,
                "threads": threads,
                "xnnpack": xnnpack,
                "xnnpack_partitions": partitions,
                "images_per_second": speed,
                "ratio_vs_dynamic": speed / base,
                "rounds": rounds[(name, threads, xnnpack)],
            }
        )
        print(
            f"{name:<30}{threads:>8}{'yes' if xnnpack else 'no':>9}{partitions:>11}"
            f"{speed:>10.2f}{speed / base:>11.2f}x"
        )
    if args.out:
        atomic.write_json(
            args.out,
            {
                "benchmark": "bench_int8",
                "host": facts,
                "size": args.size,
                "rounds": args.rounds,
                "results": results,
            },
        )
    return results


if __name__ == "__main__":
    main()
