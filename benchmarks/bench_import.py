"""Import time of ``keras_inception`` against ``import keras``, measured in the same run.

Each round starts one fresh interpreter per statement, in an order that
rotates from round to round (so a slow moment of a shared machine falls on
each statement alike), and times the statement inside the child with
``time.perf_counter``; interpreter start-up is not counted. The medians and
their ratios to ``import keras`` are printed, and written as JSON with
``--json PATH``.

    python benchmarks/bench_import.py --rounds 7
"""

import argparse
import os
import statistics
import subprocess
import sys

from keras_inception import atomic
from keras_inception import hostinfo

STATEMENTS = {
    "import keras": "import keras",
    "import keras_inception": "import keras_inception",
    # What a user pays before building: the builders, Keras and the backend.
    "keras_inception.InceptionV3": "import keras_inception; keras_inception.InceptionV3",
}

CHILD = """
import time
start = time.perf_counter()
exec({statement!r})
print(time.perf_counter() - start)
"""


def time_statement(statement, env):
    result = subprocess.run(
        [sys.executable, "-c", CHILD.format(statement=statement)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return float(result.stdout.split()[-1])


def measure(rounds, backend):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    names = list(STATEMENTS)
    times = {name: [] for name in names}
    for index in range(rounds):
        order = names[index % len(names) :] + names[: index % len(names)]
        for name in order:
            times[name].append(time_statement(STATEMENTS[name], env))
    medians = {name: statistics.median(values) for name, values in times.items()}
    baseline = medians["import keras"]
    return {
        "backend": backend,
        "rounds": rounds,
        "seconds": times,
        "median_s": medians,
        "ratio_to_import_keras": {name: medians[name] / baseline for name in names},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="rounds (default 7)")
    parser.add_argument(
        "--backend", default="tensorflow", help="KERAS_BACKEND (default tensorflow)"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    # hostinfo imports neither Keras nor TensorFlow, so it cannot warm the children's imports.
    print(hostinfo.describe(), flush=True)
    report = measure(args.rounds, args.backend)
    report["host"] = hostinfo.host()
    print(f"backend {report['backend']}, {report['rounds']} interleaved rounds, medians:")
    for name, median in report["median_s"].items():
        ratio = report["ratio_to_import_keras"][name]
        print(f"  {name:<30} {median * 1000:9.1f} ms   {ratio:6.3f} x import keras")
    if args.json:
        atomic.write_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
