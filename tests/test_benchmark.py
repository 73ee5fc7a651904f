"""benchmark_model(): the structure and consistency of its result at tiny settings (no timing checks)."""

import json

import keras
import pytest

import keras_inception
from keras_inception import benchmark
from keras_inception.cli import main


def test_cpu_peak_is_the_product_of_its_figures():
    peak = benchmark.cpu_peak(ghz=2.0, fma_units=2, simd_lanes=16)
    assert peak["assumed"] == []
    assert peak["peak_gmacs_float32"] == pytest.approx(peak["cores"] * 2.0 * 2 * 16)
    assert peak["peak_gmacs_bfloat16"] in (peak["peak_gmacs_float32"],
                                           2 * peak["peak_gmacs_float32"])
    measured = benchmark.cpu_peak()
    assert measured["cores"] >= 1 and len(measured["assumed"]) == 3


def check_figures(figures, batch_sizes, repeats):
    assert sorted(figures) == sorted(str(b) for b in batch_sizes)
    for batch, stats in figures.items():
        assert stats["batch_size"] == int(batch) and len(stats["seconds"]) == repeats
        assert stats["images_per_second"] == pytest.approx(int(batch) / stats["median_seconds"])


def test_side_by_side_with_keras_applications():
    report = benchmark.benchmark_model(
        "inception_v3", size=75, batch_sizes=(1, 2), repeats=2, warmup=1,
        modes=("float32", "bfloat16"), train_batch_size=None,
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
        ratio = ours["inference"]["float32"][batch]["images_per_second"] / (
            theirs["inference"]["float32"][batch]["images_per_second"])
        assert report["ratios"]["float32"][batch] == pytest.approx(ratio)
        bf16 = ours["inference"]["bfloat16"][batch]["images_per_second"] / (
            theirs["inference"]["float32"][batch]["images_per_second"])
        assert report["ratios"]["bfloat16_vs_keras_float32"][batch] == pytest.approx(bf16)
    goals = {(g["goal"].split()[1], g["batch_size"]): g for g in report["goals"]}
    assert sorted(goals) == [("bfloat16", 1), ("bfloat16", 2), ("float32", 1), ("float32", 2)]
    assert goals["bfloat16", 2]["met"] == (goals["bfloat16", 2]["ratio"] >= 2.0)
    peak = report["cpu"]["peak_gmacs_float32"] * 1e9
    assert report["peak_fraction"]["float32"]["1"] == pytest.approx(
        ours["macs"] * ours["inference"]["float32"]["1"]["images_per_second"] / peak)
    text = benchmark.format_report(report)
    assert "keras_applications" in text and "float32 b2 img/s" in text and "goal" in text
    table = benchmark.markdown_table([report])
    assert f"| inception_v3 | 75 | bfloat16 | 2 | {ours['inference']['bfloat16']['2']['images_per_second']:.2f} |" in table
    json.dumps(report)


def test_cli_thin_model_with_xla_and_training(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = main([
        "benchmark", "--model", "inception_v3", "--size", "75", "--depth-multiplier", "0.25",
        "--batch-sizes", "2", "--repeats", "1", "--warmup", "1", "--modes", "xla",
        "--train-batch-size", "2", "--out", str(out), "--quiet",
    ])
    assert code == 0
    report = json.loads(out.read_text())
    assert list(report["libraries"]) == ["keras_inception"]
    assert "ratios" not in report and "goals" not in report
    ours = report["libraries"]["keras_inception"]
    assert ours["params"] == keras_inception.get_model(
        "inception_v3", input_shape=(75, 75, 3), depth_multiplier=0.25).count_params()
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
