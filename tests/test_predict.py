"""predict_files and ``keras-inception predict`` on every exported form of the digits model."""

import json
import shutil

import numpy as np
import pytest
import tensorflow as tf

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
            # float32: "auto" computes Keras models in bfloat16 on a host with AMX,
            # and the formats are compared here, not the precisions.
            saved.write_text(
                json.dumps(
                    {
                        name: predict_files(paths, model_paths[name], top_k=3, precision="float32")
                        for name in BACKENDS
                    }
                )
            )
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

    # The exports serve with the run's evaluation crop (config.json: 1.0); a bare
    # .keras file knows none and crops the default 0.875, so it agrees on the class.
    for name in ("saved_model", "tflite_float32"):
        assert top(name) == top("run")
        np.testing.assert_allclose(top(name, "score"), top("run", "score"), atol=1e-4)
    assert top("keras") == top("run")
    assert np.mean(np.equal(top("tflite_int8"), top("run"))) >= 0.9


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


def _png(width, height):
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 90)).save(buffer, "PNG")
    return buffer.getvalue()


def _png_bomb(width, height):
    """A PNG whose header claims ``width`` x ``height`` (no pixel data follows)."""
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + crc


@pytest.fixture()
def oversized(tmp_path):
    """A header bomb, a 20x20 PNG, a 41x25 PNG and a 1.1 MB file."""
    paths = {name: tmp_path / f"{name}.png" for name in ("bomb", "small", "wide", "padded")}
    paths["bomb"].write_bytes(_png_bomb(20000, 20000))
    paths["small"].write_bytes(_png(20, 20))
    paths["wide"].write_bytes(_png(41, 25))
    paths["padded"].write_bytes(_png(2, 2) + bytes(1_100_000))
    return paths


def test_images_over_max_pixels_are_refused_before_decoding(model_paths, oversized, capsys):
    from keras_inception.predict import load_predictor

    model = str(model_paths["tflite_float32"])
    found = predict_files(list(oversized.values()), model, max_pixels=1000)
    assert found[0]["error"] == (
        "not a decodable image: image is 20000x20000 = 400000000 pixels, over max_pixels=1000"
    )
    assert "predictions" in found[1]
    assert found[2]["error"].endswith("image is 41x25 = 1025 pixels, over max_pixels=1000")
    # A file larger than any image of max_pixels pixels could be is not read whole.
    assert found[3]["error"] == (
        "not a decodable image: the file is over 1056576 bytes, more than an image "
        "of max_pixels=1000 pixels can hold"
    )
    assert (
        cli_main(["predict", str(oversized["bomb"]), "--model", model, "--max-pixels", "1000"]) == 1
    )
    assert "over max_pixels=1000" in capsys.readouterr().err
    # The graph that prepares the pixels checks too.
    with pytest.raises(tf.errors.InvalidArgumentError, match="over max_pixels=1000"):
        load_predictor(model, max_pixels=1000)(oversized["wide"].read_bytes())


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["keras", "saved_model"])
def test_every_model_kind_checks_max_pixels_in_its_graph(model_paths, oversized, backend):
    from keras_inception.predict import load_predictor

    predictor = load_predictor(model_paths[backend], max_pixels=1000)
    # A SavedModel applies the limit it was exported with.
    image, limit = (
        (oversized["wide"], 1000) if backend == "keras" else (oversized["bomb"], 40000000)
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"over max_pixels={limit}"):
        predictor(image.read_bytes())
    assert predict_files([oversized["bomb"]], model_paths[backend])[0]["error"].endswith(
        "over max_pixels=40000000"
    )


def test_tflite_with_another_models_sidecar_is_refused(model_paths, files, tmp_path):
    (path, _), *_ = files[0]
    model = tmp_path / "m.tflite"
    shutil.copy(model_paths["tflite_float32"], model)
    sidecar = json.loads(open(f"{model_paths['tflite_float32']}.json").read())
    sidecar["model_sha256"] = "0" * 64
    (tmp_path / "m.tflite.json").write_text(json.dumps(sidecar))
    with pytest.raises(ValueError, match="describes another model"):
        predict_files([path], model)
    del sidecar["labels"]
    sidecar.pop("model_sha256")
    (tmp_path / "m.tflite.json").write_text(json.dumps(sidecar))
    with pytest.raises(ValueError, match="not one written by keras_inception.export"):
        predict_files([path], model)


def test_a_keras_model_predicts_in_mixed_bfloat16_too(model_paths, files, results):
    digits = [path for path, _ in files[0]]
    mixed = predict_files(digits, model_paths["keras"], top_k=1, precision="mixed_bfloat16")
    reference = results["keras"][: len(digits)]
    assert [r["predictions"][0]["index"] for r in mixed] == [
        r["predictions"][0]["index"] for r in reference
    ]
    with pytest.raises(ValueError, match="precision='fp8'"):
        predict_files(digits, model_paths["keras"], precision="fp8")
