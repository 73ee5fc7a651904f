"""What every benchmark prints first: the host's CPU features, cores, load and library versions.

A figure means little without the machine it came from: bf16 and int8 speed-ups
depend on AMX / AVX512-BF16 / VNNI, and a shared host's load moves every rate.
"""

import importlib.metadata
import os
import platform

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


def cpu():
    """``(model name, set of flags)`` from ``/proc/cpuinfo`` (empty where there is none)."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    name = value.strip()
                elif key.strip() in ("flags", "Features"):
                    flags = set(value.split())
                    break
    except OSError:
        pass
    return name, flags


def host():
    """The host facts as a dict (JSON-ready)."""
    name, flags = cpu()
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu": name,
        "cores": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "features": {feature: feature in flags for feature in FEATURES},
        "amx": "amx_bf16" in flags,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "versions": versions,
    }


def describe(facts=None):
    """The facts as a few lines of text."""
    facts = facts or host()
    have = [f for f, present in facts["features"].items() if present]
    lacking = [f for f, present in facts["features"].items() if not present]
    load = facts["load_average"]
    lines = [
        f"host: {facts['cpu']}, {facts['cores']} cores"
        + (f", load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}" if load else ""),
        f"cpu features: {' '.join(have) or 'none of ' + ' '.join(FEATURES)}"
        + (f" (absent: {' '.join(lacking)})" if lacking else ""),
        "versions: " + ", ".join(f"{k} {v}" for k, v in facts["versions"].items() if v),
    ]
    if load and load[0] > 1.5 * facts["cores"]:
        lines.append(
            f"WARNING: load average {load[0]:.1f} on {facts['cores']} cores: the host "
            "is busy with other work; treat the figures below as noisy"
        )
    return "\n".join(lines)
