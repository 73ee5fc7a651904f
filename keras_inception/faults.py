"""Named crash points for the fault-injection suite (``tests/test_fault_injection.py``).

Code that writes files for a user marks the moments where a crash would
matter (``faults.point("export.publish")``). With the environment variable
``KERAS_INCEPTION_FAULT=NAME`` (or ``NAME@N``: the N-th time that point is
reached, counting from 1) the process kills itself with SIGKILL right there,
as a power cut or the OOM killer would. With ``KERAS_INCEPTION_FAULT_TRACE=FILE``
every point reached is appended to FILE, one name a line, so the suite can list
the points a command passes through and how often. Unset, a point costs two
environment lookups.
"""

import os
import signal

ENV = "KERAS_INCEPTION_FAULT"
TRACE_ENV = "KERAS_INCEPTION_FAULT_TRACE"

_counts = {}


def point(name):
    """Kills this process with SIGKILL if ``$KERAS_INCEPTION_FAULT`` names this point.

    Args:
        name: the point, ``"<command>.<phase>"`` (e.g. ``"train.epoch_end"``).
    """
    trace = os.environ.get(TRACE_ENV)
    if trace:
        with open(trace, "a", encoding="utf-8") as f:
            f.write(name + "\n")
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    target, _, nth = wanted.partition("@")
    if target != name:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
