"""Training throughput: keras_inception's InceptionV3 vs keras.applications.InceptionV3.

Measures training images per second at one batch size and input size for
float32, mixed_bfloat16 and mixed_bfloat16 + XLA, for both implementations
compiled the same way (RMSProp, categorical cross-entropy, synthetic data), and
prints the ratios against keras.applications in float32. Each measurement runs
in its own process, so dtype policies and memory do not leak between them.

    python benchmarks/bench_training.py --size 149 --batch 16 --steps 10
"""

import argparse
import json
import os
import subprocess
import sys
import time

IMPLEMENTATIONS = ("keras_inception", "keras.applications")
VARIANTS = {
    "fp32": ("float32", False),
    "bf16": ("mixed_bfloat16", False),
    "bf16+xla": ("mixed_bfloat16", True),
}


def measure(implementation, variant, size, batch, steps, warmup, classes):
    """Images/second of ``steps`` training steps after ``warmup`` (tracing) steps."""
    import keras
    import numpy as np
    import tensorflow as tf

    policy, jit = VARIANTS[variant]
    keras.config.set_dtype_policy(policy)
    keras.utils.set_random_seed(0)
    if implementation == "keras_inception":
        import keras_inception

        model = keras_inception.InceptionV3(
            weights=None, input_shape=(size, size, 3), classes=classes
        )
    else:
        model = keras.applications.InceptionV3(
            weights=None, input_shape=(size, size, 3), classes=classes
        )
    model.compile(
        keras.optimizers.RMSprop(0.01, rho=0.9, momentum=0.9, epsilon=1.0),
        "categorical_crossentropy", jit_compile=jit,
    )
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (batch, size, size, 3)).astype("float32")
    labels = keras.utils.to_categorical(rng.integers(0, classes, batch), classes)
    dataset = tf.data.Dataset.from_tensors((images, labels)).repeat()
    ends = []
    clock = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: ends.append(time.perf_counter())
    )
    # One fit, timed from the end of the last warm-up step (tracing included
    # there) to the end of the last step, so fit's own start-up is not counted.
    model.fit(dataset, steps_per_epoch=warmup + steps, epochs=1, verbose=0,
              callbacks=[clock], shuffle=False)
    return steps * batch / (ends[-1] - ends[warmup - 1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=149, help="input size (default 149)")
    parser.add_argument("--batch", type=int, default=16, help="batch size (default 16)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps (default 10)")
    parser.add_argument("--warmup", type=int, default=2,
                        help="untimed steps first, at least 1 (default 2)")
    parser.add_argument("--classes", type=int, default=1000, help="classes (default 1000)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--one", nargs=2, metavar=("IMPLEMENTATION", "VARIANT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.warmup < 1 or args.steps < 1:
        parser.error("--warmup and --steps must be at least 1")
    shape = (args.size, args.batch, args.steps, args.warmup, args.classes)
    if args.one:
        print(json.dumps(measure(*args.one, *shape)))
        return 0

    results = {}
    # Interleaved, so a change in the machine's load hits both implementations alike.
    for variant in args.variants:
        for implementation in IMPLEMENTATIONS:
            command = [
                sys.executable, __file__, "--one", implementation, variant,
                "--size", str(args.size), "--batch", str(args.batch),
                "--steps", str(args.steps), "--warmup", str(args.warmup),
                "--classes", str(args.classes),
            ]
            env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
            done = subprocess.run(command, capture_output=True, text=True, env=env)
            if done.returncode:
                print(done.stderr[-2000:], file=sys.stderr)
                results[(implementation, variant)] = None
            else:
                results[(implementation, variant)] = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"  {implementation:<20}{variant:<10}{results[(implementation, variant)]}",
                  file=sys.stderr)

    baseline = results.get(("keras.applications", "fp32"))
    print(f"InceptionV3 training, {args.size}x{args.size}, batch {args.batch}, "
          f"{args.steps} timed steps after {args.warmup}")
    print(f"{'variant':<10}" + "".join(f"{name + ' img/s':>26}{'ratio':>8}" for name in IMPLEMENTATIONS))
    for variant in args.variants:
        row = f"{variant:<10}"
        for implementation in IMPLEMENTATIONS:
            value = results[(implementation, variant)]
            ratio = value / baseline if value and baseline else float("nan")
            row += f"{value or float('nan'):>26.1f}{ratio:>7.2f}x"
        print(row)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(
                {"size": args.size, "batch": args.batch, "steps": args.steps,
                 "images_per_second": {f"{i}/{v}": r for (i, v), r in results.items()}},
                f, indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
