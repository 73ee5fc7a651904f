"""The host a figure was measured on: CPU model and features, cores, load, library versions.

A speed figure means little without its machine: bfloat16 and int8 speed-ups
depend on AMX, AVX512-BF16 and VNNI, and a shared host's load moves every
rate. ``keras-inception benchmark`` and every script of ``benchmarks/`` print
``describe()`` first and store ``host()`` with their results;
``keras_inception.precision`` reads the same CPU flags.
"""

import importlib.metadata
import os
import platform

# The CPU flags (``/proc/cpuinfo`` names) that decide float32, bfloat16 and int8 speed.
FEATURES = (
    "avx2",
    "avx512f",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
)
PACKAGES = ("tensorflow", "keras", "numpy", "ai-edge-litert", "keras_inception")


def read_cpuinfo(cpuinfo="/proc/cpuinfo"):
    """The first processor's fields of ``cpuinfo`` as a dict (empty where there is none)."""
    fields = {}
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def cpu(cpuinfo="/proc/cpuinfo"):
    """``(model name, set of flags)`` of this machine's CPU (no flags where ``cpuinfo`` is missing).

    Args:
        cpuinfo: the file to read, default ``"/proc/cpuinfo"`` (x86 ``flags``
            and Arm ``Features`` lines are both understood).
    """
    fields = read_cpuinfo(cpuinfo)
    name = fields.get("model name") or platform.processor() or platform.machine()
    return name, set((fields.get("flags") or fields.get("Features") or "").split())


def cpu_flags(cpuinfo="/proc/cpuinfo"):
    """The CPU feature flags of this machine (empty where ``cpuinfo`` is missing)."""
    return cpu(cpuinfo)[1]


def cores():
    """The CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count()


def host():
    """The host's facts as a JSON-ready dict: ``cpu``, ``cores``, ``features``, ``amx``,
    ``load_average``, ``python`` and ``versions`` (``None`` for a package not installed)."""
    name, flags = cpu()
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu": name,
        "cores": cores(),
        "features": {feature: feature in flags for feature in FEATURES},
        "amx": "amx_bf16" in flags,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "versions": versions,
    }


def describe(facts=None):
    """``host()`` (or ``facts``) as a few lines of text, with a warning on a busy host."""
    facts = facts or host()
    present = [feature for feature, found in facts["features"].items() if found]
    absent = [feature for feature, found in facts["features"].items() if not found]
    load = facts["load_average"]
    lines = [
        f"host: {facts['cpu']}, {facts['cores']} cores"
        + (f", load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}" if load else ""),
        f"cpu features: {' '.join(present) or 'none of ' + ' '.join(FEATURES)}"
        + (f" (absent: {' '.join(absent)})" if absent else ""),
        "versions: " + ", ".join(f"{k} {v}" for k, v in facts["versions"].items() if v),
    ]
    if load and load[0] > facts["cores"]:
        lines.append(
            f"WARNING: load average {load[0]:.1f} on {facts['cores']} cores: other work "
            "shares this host; treat the figures below as noisy"
        )
    return "\n".join(lines)
