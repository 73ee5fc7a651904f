"""Inception-v3's low-resolution stems (paper Sec. 9, Table 2) trained on the embedded digits.

Trains ``InceptionV3`` with ``input_resolution`` 299, 151 and 79, each at its
own input size, with one budget: the ``quick`` preset's recipe with the same
width, epochs, batch and seed for all three (``keras_inception.training.train``,
no export). Each network trains in its own process, one after the other, so no
state leaks between them. Prints the host, then one Markdown table: validation
top-1, training wall time, and multiply-adds per image (measured with
``keras_inception.model_macs``, at the trained width and at full width), next to
the paper's ImageNet top-1 for the same receptive field (Szegedy et al. 2016,
Table 2; not measured here).

The digits are 8x8 scans: every network sees them upscaled to its own input
size, so the three see the same information at different costs of the early
layers only; the comparison is of the stems, at one budget, on one small task.

    nice -n 10 .venv/bin/python benchmarks/bench_lowres.py --epochs 3 --depth-multiplier 0.25
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from keras_inception import atomic
from keras_inception import hostinfo

RESOLUTIONS = (299, 151, 79)
# Szegedy et al. 2016, Table 2: single-frame ImageNet top-1 of each receptive field.
PAPER_TOP1 = {299: 76.6, 151: 76.4, 79: 75.2}


def train_one(resolution, *, epochs, depth_multiplier, batch_size, seed, run_dir):
    """Trains one stem; returns its figures as a dict (runs in a child process)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    import keras_inception
    from keras_inception import training

    config = training.resolve_config(
        preset="quick",
        input_resolution=resolution,
        image_size=resolution,
        depth_multiplier=depth_multiplier,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        precision="float32",
        export=False,
        resume=False,
        run_dir=run_dir,
        verbose=2,
    )
    start, start_cpu = time.perf_counter(), time.process_time()
    result = training.train(config)
    wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    macs = keras_inception.model_macs(result.model)
    keras.backend.clear_session()
    full = keras_inception.model_macs(keras_inception.InceptionV3(input_resolution=resolution))
    return {
        "input_resolution": resolution,
        "val_top1": result.metrics["accuracy"],
        "best": result.best,
        "wall_s": wall,
        "cpu_s": cpu,
        "macs": macs,
        "macs_full_width": full,
        "params": result.model.count_params(),
        "chosen": {
            name: choice.get("value")
            for name, choice in (result.summary.get("chosen") or {}).items()
        },
        "precision": result.summary.get("precision", config.precision),
    }


def table(rows, *, epochs, depth_multiplier):
    """The Markdown table of the three runs, the paper's figures beside them."""
    reference = next(r for r in rows if r["input_resolution"] == 299)
    lines = [
        f"| receptive field = input | stem | digits val. top-1 (here, {epochs} epochs, "
        f"width ×{depth_multiplier}) | best epoch's top-1 | training wall time | training CPU "
        "time | "
        f"multiply-adds / image (width ×{depth_multiplier}) | multiply-adds / image (full "
        "width) | vs 299 | ImageNet top-1 (**paper**, Table 2) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    stems = {299: "stride 2, max-pool", 151: "stride 1, max-pool", 79: "stride 1, no pool"}
    for r in rows:
        res = r["input_resolution"]
        lines.append(
            f"| {res}×{res} | {stems[res]} | {100 * r['val_top1']:.1f} % | "
            f"{100 * r['best']['accuracy']:.1f} % (epoch {r['best']['epoch']}) | "
            f"{r['wall_s'] / 60:.1f} min | {r['cpu_s'] / 60:.1f} min | {r['macs'] / 1e9:.3f} G | "
            f"{r['macs_full_width'] / 1e9:.3f} G | "
            f"{100 * (r['macs_full_width'] / reference['macs_full_width'] - 1):+.1f} % | "
            f"{PAPER_TOP1[res]} % |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs for each network (default 3)")
    parser.add_argument(
        "--depth-multiplier",
        type=float,
        default=0.25,
        help="width of the three networks (default 0.25)",
    )
    parser.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
    parser.add_argument(
        "--seed", type=int, default=1337, help="seed of all three runs (default 1337)"
    )
    parser.add_argument(
        "--resolutions",
        type=int,
        nargs="+",
        default=list(RESOLUTIONS),
        choices=RESOLUTIONS,
        help="stems to train (default all three)",
    )
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    parser.add_argument("--run-dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    options = dict(
        epochs=args.epochs,
        depth_multiplier=args.depth_multiplier,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    if args.child is not None:
        row = train_one(args.child, run_dir=args.run_dir, **options)
        atomic.write_json(args.child_out, row)
        return 0

    facts = hostinfo.host()
    print(hostinfo.describe(facts), flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_lowres_") as work:
        for resolution in args.resolutions:
            out = os.path.join(work, f"{resolution}.json")
            command = [
                sys.executable,
                os.path.abspath(__file__),
                "--child",
                str(resolution),
                "--child-out",
                out,
                "--run-dir",
                os.path.join(work, f"run_{resolution}"),
                "--epochs",
                str(args.epochs),
                "--depth-multiplier",
                str(args.depth_multiplier),
                "--batch-size",
                str(args.batch_size),
                "--seed",
                str(args.seed),
            ]
            print(f"\n== input_resolution={resolution} ==", flush=True)
            subprocess.run(command, check=True)
            with open(out, encoding="utf-8") as f:
                rows.append(json.load(f))
    choices = {json.dumps(r["chosen"], sort_keys=True) for r in rows}
    print()
    print(hostinfo.describe())
    print(
        f"recipe: preset quick, {args.epochs} epochs, width ×{args.depth_multiplier}, batch "
        f"{args.batch_size}, seed {args.seed}, float32, each network at its own input size"
        + f"; data choices {rows[0]['chosen']}"
        + ("" if len(choices) == 1 else " (WARNING: the runs' choices differ)")
    )
    print(table(rows, epochs=args.epochs, depth_multiplier=args.depth_multiplier))
    if args.json:
        atomic.write_json(args.json, {"host": facts, "options": options, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
