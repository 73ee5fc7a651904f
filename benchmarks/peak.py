"""The CPU's multiply-add peak, and the share of it a benchmark reached.

A heuristic about machines, so it lives with the benchmarks, not in the
library: ``keras_inception.benchmark_model`` reports what it measured, and
``bench_inference.py`` sets those figures against the peak computed here.
"""

from keras_inception import hostinfo


def cpu_peak(*, cpuinfo=None, cores=None, ghz=None, fma_units=None, simd_lanes=None):
    """The CPU's float32 multiply-add peak: cores x GHz x FMA units x SIMD lanes.

    Cores are those this process may run on, the clock is the one
    ``/proc/cpuinfo`` reports (the nominal clock in a VM; turbo is not
    modelled), lanes follow the widest vector extension (16 float32 lanes with
    AVX-512, 8 with AVX2, else 4). The FMA units per core cannot be read from
    the CPU: assumed 1 full-width unit for AMD Zen 4 (family 25) with AVX-512,
    which it executes on two 256-bit pipes, otherwise 2. The bfloat16 peak is
    twice the float32 one with ``avx512_bf16`` (``VDPBF16PS`` does two
    multiply-adds per float32 lane); AMX is not modelled.

    Args:
        cpuinfo: the ``/proc/cpuinfo`` fields of one processor, default None
            (``hostinfo.read_cpuinfo()``).
        cores: cores, default None (those this process may run on).
        ghz: clock in GHz, default None (the ``cpu MHz`` field).
        fma_units: full-width FMA units per core, default None (assumed as above).
        simd_lanes: float32 lanes per FMA, default None (from the CPU flags).

    Returns:
        A dict with the CPU's name, the figures used, which of them were
        assumed, and ``peak_gmacs_float32`` / ``peak_gmacs_bfloat16``.
    """
    info = hostinfo.read_cpuinfo() if cpuinfo is None else cpuinfo
    flags = set(info.get("flags", "").split())
    assumed = []
    if cores is None:
        cores = hostinfo.cores()
    if ghz is None:
        ghz = float(info.get("cpu MHz", 0.0)) / 1000.0
        assumed.append(f"clock {ghz:.3f} GHz as /proc/cpuinfo reports it, no turbo")
    if simd_lanes is None:
        simd_lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
        assumed.append(f"{simd_lanes} float32 lanes from the CPU flags")
    if fma_units is None:
        zen4 = info.get("vendor_id") == "AuthenticAMD" and info.get("cpu family") == "25"
        fma_units = 1 if zen4 and simd_lanes == 16 else 2
        assumed.append(
            f"{fma_units} full-width FMA unit(s) per core"
            + (" (Zen 4 runs AVX-512 on two 256-bit pipes)" if zen4 else "")
        )
    peak = cores * ghz * fma_units * simd_lanes
    return {
        "name": info.get("model name", ""),
        "cores": cores,
        "ghz": ghz,
        "fma_units": fma_units,
        "simd_lanes": simd_lanes,
        "avx512_bf16": "avx512_bf16" in flags,
        "amx": any(flag.startswith("amx") for flag in flags),
        "assumed": assumed,
        "peak_gmacs_float32": peak,
        "peak_gmacs_bfloat16": peak * (2 if "avx512_bf16" in flags else 1),
    }


def peak_fraction(report, cpu):
    """Multiply-adds per second of each of our inference figures against ``cpu``'s peak.

    Args:
        report: a ``keras_inception.benchmark_model`` result.
        cpu: a ``cpu_peak()`` result.

    Returns:
        ``{mode: {batch_size: fraction}}`` (bfloat16 against the bfloat16
        peak); empty when the peak is unknown (no clock).
    """
    ours = report["libraries"]["keras_inception"]
    fractions = {}
    for mode, per_batch in ours["inference"].items():
        peak = cpu["peak_gmacs_bfloat16" if mode == "bfloat16" else "peak_gmacs_float32"]
        if peak:
            fractions[mode] = {
                batch: ours["macs"] * stats["images_per_second"] / (peak * 1e9)
                for batch, stats in per_batch.items()
            }
    return fractions


def format_peak(cpu, fractions):
    """The peak and the shares of it as text lines."""
    lines = [
        f"CPU peak {cpu['peak_gmacs_float32']:.1f} GMAC/s float32 = {cpu['cores']} cores x "
        f"{cpu['ghz']:.2f} GHz x {cpu['fma_units']} FMA x {cpu['simd_lanes']} lanes "
        f"(assumed: {'; '.join(cpu['assumed']) or 'nothing'})"
    ]
    for mode, per_batch in fractions.items():
        lines.append(
            f"{mode} share of peak: "
            + ", ".join(
                f"batch {batch} {100 * fraction:.1f}%" for batch, fraction in per_batch.items()
            )
        )
    return lines
