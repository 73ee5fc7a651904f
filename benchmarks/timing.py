"""What the batch-1 speed benchmarks share: their timing options and the timed round."""

import os
import time


def add_timing_arguments(parser, *, calibration_images, threads_help):
    """``--rounds``, ``--seconds``, ``--threads``, ``--calibration-images`` and ``--out``."""
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per form (default 5)")
    parser.add_argument(
        "--seconds",
        type=float,
        default=2.0,
        help="length of one timed round in seconds (default 2)",
    )
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help=threads_help)
    parser.add_argument(
        "--calibration-images",
        type=int,
        default=calibration_images,
        help=f"int8 calibration images (default {calibration_images})",
    )
    parser.add_argument("--out", default=None, help="write the results as JSON here")


def images_per_second(run, seconds, batch=1):
    """Images per second of ``run`` (one call = one batch) over one round of about ``seconds``.

    At least three calls count, so a slow form is still timed more than once.
    """
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or calls < 3:
        run()
        calls += 1
    return calls * batch / elapsed
