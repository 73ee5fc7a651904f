"""load_classifier: every saved form through one loader, as predict and evaluate use it."""

import io
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from keras_inception import export
from keras_inception.evaluation import evaluate
from keras_inception.loading import load_classifier
from keras_inception.loading import saved_model_path
from keras_inception.predict import predict_files
from test_evaluation import IMAGES
from test_evaluation import LABELS
from test_evaluation import colour_classifier

# One flat image per class of ``colour_classifier``: +R, +G, +B, -R, -G, -B.
COLOURS = [
    (255, 128, 128),
    (128, 255, 128),
    (128, 128, 255),
    (0, 128, 128),
    (128, 0, 128),
    (128, 128, 0),
]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The colour classifier as .keras, SavedModel (model directory) and .tflite."""
    directory = tmp_path_factory.mktemp("loading")
    model = colour_classifier(preprocessing=True, logits=True)
    model.save(directory / "colour.keras")
    export.export_saved_model(
        model, base_dir=str(directory / "served"), model_name="colour", class_names=list("RGBrgb")
    )
    export.export_tflite(model, directory / "colour.tflite", class_names=list("RGBrgb"))
    return model, {
        "keras": directory / "colour.keras",
        "saved_model": directory / "served" / "colour",
        "tflite": directory / "colour.tflite",
    }


@pytest.mark.parametrize("kind", ["keras", "saved_model", "tflite"])
def test_every_form_gives_the_models_probabilities(saved, kind):
    model, paths = saved
    # float32: on a host with AMX, "auto" would compute a Keras model in bfloat16.
    classifier = load_classifier(paths[kind], precision="float32")
    assert classifier.kind == kind and classifier.image_size == (16, 16)
    assert classifier.num_classes == 6
    assert classifier.labels() == (list("RGBrgb") if kind != "keras" else list("012345"))
    pixels = np.stack([np.full((16, 16, 3), c, np.float32) for c in COLOURS])
    expected = np.asarray(keras_softmax(model(pixels)))
    np.testing.assert_allclose(np.asarray(classifier.predict(pixels)), expected, atol=1e-5)
    assert np.argmax(expected, axis=1).tolist() == list(range(6))


def keras_softmax(logits):
    logits = np.asarray(logits, np.float64)
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def test_evaluate_reads_a_tflite_file_with_its_sidecar(saved):
    model, paths = saved
    reference = evaluate(model, (IMAGES, LABELS), keep_probabilities=True, verbose=0)
    result = evaluate(
        str(paths["tflite"]), (IMAGES, LABELS), keep_probabilities=True, verbose=0, crops=10
    )
    # Flat images look the same in every crop, so 10 crops average to one.
    np.testing.assert_allclose(result.probabilities, reference.probabilities, atol=1e-5)
    assert result.models == [str(paths["tflite"])] and result.top1 == reference.top1 == 0.5
    assert result.class_names == list("RGBrgb")
    # An ensemble may mix the forms.
    mixed = evaluate(
        [str(paths["tflite"]), str(paths["saved_model"])],
        (IMAGES, LABELS),
        keep_probabilities=True,
        verbose=0,
    )
    np.testing.assert_allclose(mixed.probabilities, reference.probabilities, atol=1e-5)


def test_predict_and_evaluate_share_the_tflite_checks(saved, tmp_path):
    _, paths = saved
    lone = tmp_path / "lone.tflite"
    shutil.copy(paths["tflite"], lone)
    for call in (
        lambda: evaluate(str(lone), (IMAGES, LABELS), verbose=0),
        lambda: predict_files([], lone),
    ):
        with pytest.raises(ValueError, match=r"needs its sidecar lone.tflite.json.*Received"):
            call()
    with open(export.sidecar_path(paths["tflite"]), encoding="utf-8") as f:
        sidecar = json.load(f)
    sidecar["labels"] = sidecar["labels"][:5]
    (tmp_path / "lone.tflite.json").write_text(json.dumps(sidecar))
    with pytest.raises(ValueError, match="lists 5 labels for a model of 6 classes"):
        evaluate(str(lone), (IMAGES, LABELS), verbose=0)


def test_predict_reads_each_form_the_same(saved, tmp_path):
    _, paths = saved
    files = []
    for index, colour in enumerate(COLOURS):
        buffer = io.BytesIO()
        Image.new("RGB", (20, 24), colour).save(buffer, format="PNG")
        files.append(tmp_path / f"{index}.png")
        files[-1].write_bytes(buffer.getvalue())
    answers = {kind: predict_files(files, path, top_k=1) for kind, path in paths.items()}
    for kind, results in answers.items():
        assert [r["predictions"][0]["index"] for r in results] == list(range(6)), kind
    assert [r["predictions"][0]["label"] for r in answers["tflite"]] == list("RGBrgb")


def test_a_model_directory_serves_its_newest_complete_version(saved, tmp_path):
    _, paths = saved
    model_dir = tmp_path / "colour"
    shutil.copytree(paths["saved_model"] / "1", model_dir / "3")
    shutil.copytree(paths["saved_model"] / "1", model_dir / "12")
    assert saved_model_path(model_dir) == str(model_dir / "12")
    assert saved_model_path(model_dir / "3") == str(model_dir / "3")
    # A newest version that is not a SavedModel is an error, not a silent
    # fallback to an older model (TF Serving would not serve it either).
    (model_dir / "20").mkdir()
    with pytest.raises(ValueError, match=r"newest version .* 20, holds no saved_model.pb"):
        load_classifier(model_dir)
    # A directory that holds a saved_model.pb is that SavedModel, whatever is in it.
    shutil.copytree(paths["saved_model"] / "1", model_dir / "20", dirs_exist_ok=True)
    (model_dir / "20" / "7").mkdir()
    assert saved_model_path(model_dir / "20") == str(model_dir / "20")
    # Neither a run directory nor any other folder is taken for a SavedModel.
    assert saved_model_path(tmp_path / "missing") is None
    assert saved_model_path(tmp_path) is None


def test_a_saved_model_without_the_export_signatures_is_refused(tmp_path):
    import tensorflow as tf

    module = tf.Module()
    module.f = tf.function(
        lambda x: {"probabilities": x}, input_signature=[tf.TensorSpec((None, 3), tf.float32)]
    )
    tf.saved_model.save(module, str(tmp_path / "plain"), signatures={"serving_default": module.f})
    with pytest.raises(ValueError, match="serving_pixels.*export_saved_model.*Received: path="):
        load_classifier(tmp_path / "plain")
