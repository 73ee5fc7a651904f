"""benchmark_model() at tiny settings (no timing checks); the goals and CPU peaks of benchmarks/."""

import json

import keras
import pytest

import keras_inception
from keras_inception import benchmark
from keras_inception import hostinfo
from keras_inception.cli import main
from tool_support import load_tool

peak = load_tool("peak", "benchmarks")
goals = load_tool("goals", "benchmarks")

# The host of docs/performance.md's figures: 2 vCPUs of an AMD EPYC Zen 4 at 2.596 GHz,
# AVX-512 with avx512_bf16; its float32 peak there is 2 x 2.596 x 1 x 16 = 83.1 GMAC/s.
ZEN4 = {
    "vendor_id": "AuthenticAMD",
    "cpu family": "25",
    "model": "17",
    "cpu MHz": "2596.0",
    "model name": "AMD EPYC 9R14",
    "flags": "fpu sse avx2 avx512f avx512_bf16",
}
SKYLAKE = {
    "vendor_id": "GenuineIntel",
    "cpu family": "6",
    "model": "85",
    "cpu MHz": "2000.0",
    "flags": "fpu sse avx2 avx512f",
}
HASWELL = {
    "vendor_id": "GenuineIntel",
    "cpu family": "6",
    "model": "63",
    "cpu MHz": "2500.0",
    "flags": "fpu sse avx2",
}


def test_cpu_peak_of_known_hosts():
    zen4 = peak.cpu_peak(cpuinfo=ZEN4, cores=2)
    assert zen4["peak_gmacs_float32"] == pytest.approx(83.07, abs=0.01)
    assert zen4["peak_gmacs_bfloat16"] == pytest.approx(166.14, abs=0.01)
    assert (zen4["fma_units"], zen4["simd_lanes"], zen4["name"]) == (1, 16, "AMD EPYC 9R14")
    assert len(zen4["assumed"]) == 3 and "Zen 4" in zen4["assumed"][2]
    # Two AVX-512 FMA units on Intel, no bf16 dot products: bfloat16 peaks like float32.
    skylake = peak.cpu_peak(cpuinfo=SKYLAKE, cores=4)
    assert skylake["peak_gmacs_float32"] == skylake["peak_gmacs_bfloat16"] == pytest.approx(256.0)
    haswell = peak.cpu_peak(cpuinfo=HASWELL, cores=1)
    assert (haswell["simd_lanes"], haswell["peak_gmacs_float32"]) == (8, pytest.approx(40.0))
    # A figure given is used as given and not reported as assumed.
    given = peak.cpu_peak(cpuinfo=ZEN4, cores=2, ghz=3.0, fma_units=2, simd_lanes=16)
    assert given["assumed"] == [] and given["peak_gmacs_float32"] == pytest.approx(192.0)
    # Without a clock (no /proc/cpuinfo) the peak is 0 and no share is reported.
    assert peak.cpu_peak(cpuinfo={}, cores=2)["peak_gmacs_float32"] == 0.0


def test_peak_fraction_of_the_documented_run():
    # docs/performance.md: Inception-v3 float32 batch 1, 7.17 img/s x 5.734 GMACs = 49.5%.
    report = {
        "libraries": {
            "keras_inception": {
                "macs": 5.734e9,
                "inference": {
                    "float32": {"1": {"images_per_second": 7.17}},
                    "bfloat16": {"1": {"images_per_second": 7.48}},
                },
            }
        }
    }
    fractions = peak.peak_fraction(report, peak.cpu_peak(cpuinfo=ZEN4, cores=2))
    assert fractions["float32"]["1"] == pytest.approx(0.495, abs=0.001)
    # bfloat16 against the doubled avx512_bf16 peak: 7.48 x 5.734 / 166.1 = 25.8%.
    assert fractions["bfloat16"]["1"] == pytest.approx(0.258, abs=0.001)
    assert peak.peak_fraction(report, peak.cpu_peak(cpuinfo={}, cores=2)) == {}


def test_goals_are_met_at_or_above_their_ratio():
    ratios = {
        "float32": {"1": 1.03, "32": 0.99},
        "bfloat16": {"1": 5.0},  # against keras.applications bfloat16: not a goal
        "bfloat16_vs_keras_float32": {"1": 2.0, "32": 1.42},
    }
    found = {(g["mode"], g["batch_size"]): g["met"] for g in goals.inference_goals(ratios)}
    assert found == {
        ("float32", 1): True,
        ("float32", 32): False,
        ("bfloat16", 1): True,
        ("bfloat16", 32): False,
    }
    assert goals.inference_goals({}) == []
    lines = goals.format_goals(goals.inference_goals(ratios))
    assert lines[1] == (
        "goal our float32 >= 1x keras.applications float32 at batch 32: 0.99x NOT met"
    )


def check_figures(figures, batch_sizes, repeats):
    assert sorted(figures) == sorted(str(b) for b in batch_sizes)
    for batch, stats in figures.items():
        assert stats["batch_size"] == int(batch) and len(stats["seconds"]) == repeats
        assert stats["images_per_second"] == pytest.approx(int(batch) / stats["median_seconds"])


def test_side_by_side_with_keras_applications():
    report = benchmark.benchmark_model(
        "inception_v3",
        size=75,
        batch_sizes=(1, 2),
        repeats=2,
        warmup=1,
        modes=("float32", "bfloat16"),
        train_batch_size=None,
    )
    assert keras.mixed_precision.global_policy().name == "float32"
    ours, theirs = report["libraries"]["keras_inception"], report["libraries"]["keras_applications"]
    # The same network: the same parameters and multiply-adds from the graph.
    assert ours["params"] == theirs["params"] == keras_inception.get_spec("inception_v3").num_params
    assert ours["macs"] == theirs["macs"] > 0
    for library in (ours, theirs):
        assert sorted(library["inference"]) == ["bfloat16", "float32"]
        for figures in library["inference"].values():
            check_figures(figures, (1, 2), repeats=2)
    for batch in ("1", "2"):
        ratio = (
            ours["inference"]["float32"][batch]["images_per_second"]
            / (theirs["inference"]["float32"][batch]["images_per_second"])
        )
        assert report["ratios"]["float32"][batch] == pytest.approx(ratio)
        bf16 = (
            ours["inference"]["bfloat16"][batch]["images_per_second"]
            / (theirs["inference"]["float32"][batch]["images_per_second"])
        )
        assert report["ratios"]["bfloat16_vs_keras_float32"][batch] == pytest.approx(bf16)
    # The library reports measurements; goals and peaks are the benchmarks' business.
    assert not {"goals", "peak_fraction"} & set(report)
    assert report["host"]["cores"] >= 1 and set(report["host"]["features"]) == set(
        hostinfo.FEATURES
    )
    text = benchmark.format_report(report)
    assert "keras_applications" in text and "float32 b2 img/s" in text and "goal" not in text
    # The figures come with the host they were measured on.
    assert text.startswith("host: ") and "cpu features: " in text
    table = benchmark.markdown_table([report])
    rate = ours["inference"]["bfloat16"]["2"]["images_per_second"]
    assert f"| inception_v3 | 75 | bfloat16 | 2 | {rate:.2f} |" in table
    assert table.splitlines()[0].endswith("| Ratio |")
    shares = benchmark.markdown_table([report], {"Share": lambda report, mode, batch: mode})
    assert shares.splitlines()[0].endswith("| Ratio | Share |")
    assert shares.splitlines()[2].endswith("x | float32 |")
    json.dumps(report)


def test_cli_thin_model_with_xla_and_training(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = main(
        [
            "benchmark",
            "--model",
            "inception_v3",
            "--size",
            "75",
            "--depth-multiplier",
            "0.25",
            "--batch-sizes",
            "2",
            "--repeats",
            "1",
            "--warmup",
            "1",
            "--modes",
            "xla",
            "--train-batch-size",
            "2",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    report = json.loads(out.read_text())
    assert list(report["libraries"]) == ["keras_inception"]
    assert "ratios" not in report and "goals" not in report
    ours = report["libraries"]["keras_inception"]
    assert (
        ours["params"]
        == keras_inception.get_model(
            "inception_v3", input_shape=(75, 75, 3), depth_multiplier=0.25
        ).count_params()
    )
    check_figures(ours["inference"]["xla"], (2,), repeats=1)
    assert ours["training"]["batch_size"] == 2 and ours["training"]["images_per_second"] > 0
    assert "train b2 img/s" in capsys.readouterr().out


def test_bad_arguments():
    with pytest.raises(ValueError, match="Received: modes="):
        benchmark.benchmark_model("inception_v3", modes=("float16",))
    with pytest.raises(ValueError, match="Received: batch_sizes="):
        benchmark.benchmark_model("inception_v3", batch_sizes=(0,))
    with pytest.raises(ValueError, match="Unknown model"):
        benchmark.benchmark_model("resnet50")


def test_host_facts_read_the_cpu_flags(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: Test CPU 9000\n"
        "flags\t\t: fpu avx2 avx512f avx512_bf16 amx_tile amx_bf16 amx_int8\n"
    )
    assert hostinfo.cpu(cpuinfo) == (
        "Test CPU 9000",
        {"fpu", "avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"},
    )
    assert hostinfo.cpu_flags(tmp_path / "missing") == set()
    facts = {
        "cpu": "Test CPU 9000",
        "cores": 2,
        "amx": True,
        "load_average": [5.0, 4.0, 3.0],
        "features": {f: f in ("avx2", "amx_bf16") for f in hostinfo.FEATURES},
        "versions": {"tensorflow": "2.21.0", "ai-edge-litert": None},
    }
    text = hostinfo.describe(facts)
    assert "host: Test CPU 9000, 2 cores, load average 5.00 4.00 3.00" in text
    assert "cpu features: avx2 amx_bf16 (absent: " in text and "avx512_vnni" in text
    assert "versions: tensorflow 2.21.0" in text and "ai-edge-litert" not in text
    assert "WARNING: load average 5.0 on 2 cores" in text
    assert "WARNING" not in hostinfo.describe({**facts, "load_average": [1.5, 1.0, 1.0]})
