"""Inference and training speed of our networks beside keras.applications, in one run.

    python benchmarks/bench_inference.py                       # both shared networks
    python benchmarks/bench_inference.py --models inception_v3 --batch-sizes 1 8 --repeats 3

For every network that keras.applications also has (Inception-v3,
Inception-ResNet-v2) it runs ``keras_inception.benchmark_model`` (float32,
mixed bfloat16 and XLA inference, the training step, both libraries
alternating run by run), prints each report with its share of the CPU's
multiply-add peak (``peak.py``) and the project's speed goals (``goals.py``),
then a Markdown table for ``docs/performance.md``, and writes all reports, with
``peak_fraction`` and ``goals`` added, to ``--out`` as JSON.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import goals as goals_lib
    import peak as peak_lib

    from keras_inception import atomic
    from keras_inception import benchmark

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--models",
        nargs="+",
        default=sorted(benchmark.KERAS_APPLICATIONS),
        choices=sorted(benchmark.KERAS_APPLICATIONS),
        help="networks to measure (default both)",
    )
    parser.add_argument(
        "--size", type=int, default=None, help="input size (default each network's)"
    )
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument(
        "--modes", nargs="+", default=list(benchmark.MODES), choices=benchmark.MODES
    )
    parser.add_argument(
        "--train-batch-size", type=int, default=32, help="0 skips the training step"
    )
    parser.add_argument("--out", default="benchmarks/results.json", help="JSON output file")
    args = parser.parse_args(argv)

    cpu = peak_lib.cpu_peak()
    reports = []
    for name in args.models:
        report = benchmark.benchmark_model(
            name,
            size=args.size,
            batch_sizes=tuple(args.batch_sizes),
            repeats=args.repeats,
            warmup=args.warmup,
            modes=tuple(args.modes),
            train_batch_size=args.train_batch_size or None,
            verbose=True,
        )
        report["cpu_peak"] = cpu
        report["peak_fraction"] = peak_lib.peak_fraction(report, cpu)
        report["goals"] = goals_lib.inference_goals(report.get("ratios", {}))
        lines = [benchmark.format_report(report)]
        lines += peak_lib.format_peak(cpu, report["peak_fraction"])
        lines += goals_lib.format_goals(report["goals"])
        print("\n".join(lines), end="\n\n", flush=True)
        reports.append(report)

    def share(report, mode, batch):
        fraction = report["peak_fraction"].get(mode, {}).get(batch)
        return "-" if fraction is None else f"{100 * fraction:.1f}%"

    print(benchmark.markdown_table(reports, {"Share of CPU peak": share}))
    atomic.write_json(args.out, reports)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
