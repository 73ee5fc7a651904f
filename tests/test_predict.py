"""predict_files and ``keras-inception predict`` on every exported form of the digits model."""

import json
import shutil

import numpy as np
import pytest

import export_support as support
from keras_inception.cli import main as cli_main
from keras_inception.predict import predict_files

BACKENDS = ("keras", "run", "saved_model", "tflite_float32", "tflite_int8")


@pytest.fixture(scope="module")
def model_paths(tmp_path_factory):
    run = support.digits_run(tmp_path_factory)
    return {
        "keras": run / "best.keras",
        "run": run,
        # The model directory: predict picks its newest version.
        "saved_model": support.digits_saved_model(tmp_path_factory).parent,
        "tflite_float32": support.digits_tflite(tmp_path_factory, "float32")[0],
        "tflite_int8": support.digits_tflite(tmp_path_factory, "int8")[0],
    }


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Ten digit PNGs with their labels, a file that is not an image, a missing file."""
    with support.built_once(tmp_path_factory, "predict_images") as (directory, missing):
        if missing:
            directory.mkdir()
            support.digit_png_files(directory)
            (directory / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    digits = sorted(
        ((path, int(path.stem.rsplit("_", 1)[1])) for path in directory.glob("digit_*.png")),
        key=lambda item: item[1],
    )
    return digits, directory / "broken.jpg", directory / "missing.png"


@pytest.fixture(scope="module")
def results(tmp_path_factory, model_paths, files):
    """Every backend's answers for the same files, computed once per session."""
    digits, broken, missing = files
    paths = [path for path, _ in digits] + [broken, missing]
    with support.built_once(tmp_path_factory, "predict_results") as (saved, missing_results):
        if missing_results:
            saved.write_text(json.dumps(
                {name: predict_files(paths, model_paths[name], top_k=3) for name in BACKENDS}
            ))
    return json.loads(saved.read_text())


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_format_predicts_and_reports_bad_files(results, files, backend):
    digits, broken, missing = files
    found = results[backend]
    assert [r["path"] for r in found] == [str(p) for p, _ in digits] + [str(broken), str(missing)]
    assert found[-2]["error"].startswith("not a decodable image")
    assert found[-1]["error"].startswith("cannot read the file")
    correct = 0
    for (_, label), result in zip(digits, found):
        predictions = result["predictions"]
        scores = [p["score"] for p in predictions]
        assert len(predictions) == 3 and scores == sorted(scores, reverse=True)
        assert all(p["label"] == str(p["index"]) for p in predictions)
        assert 0.0 <= scores[-1] and sum(scores) <= 1.0 + 1e-5
        correct += predictions[0]["index"] == label
    assert correct >= 8


def test_formats_agree(results):
    def top(name, field="index"):
        return [r["predictions"][0][field] for r in results[name][:10]]

    for name in ("run", "saved_model", "tflite_float32"):
        assert top(name) == top("keras")
        np.testing.assert_allclose(top(name, "score"), top("keras", "score"), atol=1e-4)
    assert np.mean(np.equal(top("tflite_int8"), top("keras"))) >= 0.9


def test_top_k_is_clipped_to_the_classes(model_paths, files):
    (path, _), *_ = files[0]
    (result,) = predict_files([path], model_paths["tflite_float32"], top_k=50)
    assert sorted(p["index"] for p in result["predictions"]) == list(range(10))


def test_bad_arguments(model_paths, files, tmp_path):
    (path, _), *_ = files[0]
    with pytest.raises(ValueError, match="top_k=0"):
        predict_files([path], model_paths["keras"], top_k=0)
    lone = tmp_path / "lone.tflite"
    shutil.copy(model_paths["tflite_float32"], lone)
    with pytest.raises(ValueError, match="sidecar"):
        predict_files([path], lone)
    with pytest.raises(ValueError, match="nowhere"):
        predict_files([path], tmp_path / "nowhere")


def test_cli_text_json_and_exit_code(model_paths, files, capsys):
    digits, broken, _ = files
    (first, _), (second, _) = digits[0], digits[1]
    model = str(model_paths["tflite_int8"])
    (expected,) = predict_files([first], model, top_k=2)
    assert cli_main(["predict", str(first), str(broken), "--model", model, "--top-k", "2"]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [str(first)] + [
        f"  {p['score']:.4f}  {p['label']}" for p in expected["predictions"]
    ]
    assert f"{broken}: error: not a decodable image" in err

    assert cli_main(["predict", str(first), str(second), "--model", model, "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert [r["path"] for r in answer] == [str(first), str(second)]
    assert len(answer[0]["predictions"]) == 5
