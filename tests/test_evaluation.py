"""evaluate(): accuracy on hand-built cases, crop averaging, ensembles, model sources, reports."""

import json

import keras
import numpy as np
import pytest
from keras import layers

from keras_inception.cli import main
from keras_inception.evaluation import crops
from keras_inception.evaluation import evaluate
from keras_inception.evaluation import markdown_table
from keras_inception.evaluation import score
from keras_inception.evaluation import write_report

# A linear read-out of the mean colour in [-1, 1]: class 0/1/2 score +R/+G/+B,
# class 3/4/5 score -R/-G/-B (times 4).
KERNEL = 4.0 * np.concatenate([np.eye(3), -np.eye(3)], axis=1).astype(np.float32)


def colour_classifier(size=16, *, preprocessing=False, logits=False):
    """GAP -> Dense with ``KERNEL``: its outputs are known for flat colour images."""
    image = keras.Input((size, size, 3))
    x = (
        layers.Rescaling(1 / 127.5, offset=-1.0, name="preprocessing")(image)
        if preprocessing
        else image
    )
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(6, activation=None if logits else "softmax", name="predictions")(x)
    model = keras.Model(image, outputs, name="colour")
    model.get_layer("predictions").set_weights([KERNEL, np.zeros(6, np.float32)])
    return model


def conv_classifier(size, seed, classes=6):
    """A small random convolutional classifier (its output depends on where it looks)."""
    keras.utils.set_random_seed(seed)
    image = keras.Input((size, size, 3))
    x = layers.Conv2D(8, 3, strides=2, activation="relu")(image)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(image, layers.Dense(classes, activation="softmax", name="predictions")(x))


def flat_images(colours, size=(20, 28)):
    """One flat image per 0..255 colour (floats, so 127.5 maps to exactly 0)."""
    return np.stack([np.full((*size, 3), c, np.float32) for c in colours])


# Red (+R) and green (+G) images; labels 0 and 1 are right, 3 is the least likely
# class for red (out of the top 5), 2 ties with three others for green (in the top 5).
RED, GREEN = (255.0, 127.5, 127.5), (127.5, 255.0, 127.5)
IMAGES = flat_images([RED, GREEN, RED, GREEN])
LABELS = np.array([0, 1, 3, 2])


def test_score_hand_built_case_with_ties():
    probabilities = np.array(
        [
            [0.5, 0.2, 0.1, 0.1, 0.05, 0.05, 0.0],  # label 0: top-1
            [0.3, 0.3, 0.1, 0.1, 0.1, 0.1, 0.0],  # label 1 ties the max: arg-max is 0
            [0.3, 0.2, 0.2, 0.1, 0.1, 0.1, 0.0],  # label 5: 3 classes higher -> top-5
            [0.3, 0.2, 0.2, 0.1, 0.1, 0.05, 0.05],  # label 6: 5 classes higher -> not top-5
        ]
    )
    result = score(probabilities, [0, 1, 5, 6])
    assert result.predictions.tolist() == [0, 0, 0, 0]
    assert result.top1 == 0.25 and result.top5 == 0.75
    assert result.top1_error == 0.75 and result.top5_error == pytest.approx(0.25)
    assert result.per_class["1"] == {"images": 1, "top1": 0.0, "top5": 1.0}
    assert result.per_class["2"] == {"images": 0, "top1": None, "top5": None}
    assert result.confusion_matrix[:, 0].tolist() == [1, 1, 0, 0, 0, 1, 1]
    with pytest.raises(ValueError, match="Labels must be in"):
        score(probabilities, [0, 1, 2, 7])


@pytest.mark.parametrize("count", [1, 10])
def test_accuracy_of_a_model_with_known_outputs(count):
    result = evaluate(colour_classifier(), (IMAGES, LABELS), crops=count, verbose=0)
    assert result.num_images == 4 and result.crops == count
    assert result.predictions.tolist() == [0, 1, 0, 1]
    assert result.top1 == 0.5 and result.top5 == 0.75
    per_class = result.per_class
    assert per_class["2"] == {"images": 1, "top1": 0.0, "top5": 1.0}
    assert per_class["3"] == {"images": 1, "top1": 0.0, "top5": 0.0}
    assert per_class["4"]["top1"] is None
    expected = np.zeros((6, 6), int)
    expected[[0, 1, 3, 2], [0, 1, 0, 1]] = 1
    np.testing.assert_array_equal(result.confusion_matrix, expected)


def test_input_range_and_logits_are_handled():
    runs = [
        evaluate(model, (IMAGES, LABELS), keep_probabilities=True, verbose=0).probabilities
        for model in (
            colour_classifier(),
            colour_classifier(preprocessing=True),
            colour_classifier(logits=True),
        )
    ]
    red = np.exp([4.0, 0, 0, -4.0, 0, 0])
    np.testing.assert_allclose(runs[0][0], red / red.sum(), rtol=1e-5)
    for probabilities in runs[1:]:
        np.testing.assert_allclose(probabilities, runs[0], rtol=1e-5, atol=1e-7)


def test_144_crops_average_the_model_over_every_crop():
    images = [
        np.random.RandomState(i).randint(0, 256, shape).astype(np.uint8)
        for i, shape in enumerate([(40, 56, 3), (56, 40, 3)])
    ]
    model = conv_classifier(24, seed=3)
    result = evaluate(
        model, (images, [1, 4]), crops=144, batch_size=50, keep_probabilities=True, verbose=0
    )
    assert result.probabilities.shape == (2, 6)
    np.testing.assert_allclose(result.probabilities.sum(axis=1), 1.0, rtol=1e-5)
    for image, probabilities in zip(images, result.probabilities):
        patches = crops.multi_crop(image, 24, 144).numpy() / 127.5 - 1.0
        expected = model.predict(patches, verbose=0).mean(axis=0)
        np.testing.assert_allclose(probabilities, expected, rtol=1e-4, atol=1e-6)


def test_ensemble_of_a_model_with_itself_equals_the_model():
    model = conv_classifier(32, seed=4, classes=10)
    single = evaluate(model, "digits", max_images=6, keep_probabilities=True, verbose=0)
    double = evaluate([model, model], "digits", max_images=6, keep_probabilities=True, verbose=0)
    assert single.num_images == double.num_images == 6
    assert single.class_names == [str(i) for i in range(10)]
    np.testing.assert_allclose(double.probabilities, single.probabilities, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(double.predictions, single.predictions)


def test_ensemble_of_different_input_sizes_averages_probabilities():
    small, large = conv_classifier(24, seed=1), conv_classifier(32, seed=2)
    data = (flat_images([RED, GREEN, (10.0, 200.0, 90.0)], (48, 40)), [0, 1, 2])

    def run(models):
        return evaluate(models, data, crops=10, keep_probabilities=True, verbose=0).probabilities

    ensemble = run([small, large])
    np.testing.assert_allclose(ensemble, (run(small) + run(large)) / 2, rtol=1e-5, atol=1e-7)
    assert not np.allclose(run(small), run(large))


def test_keras_file_and_saved_model_match_the_model(tmp_path):
    from keras_inception import export

    model = colour_classifier(preprocessing=True)
    path = str(tmp_path / "colour.keras")
    model.save(path)
    version_dir = export.export_saved_model(
        model, base_dir=str(tmp_path / "served"), model_name="colour"
    )
    reference = evaluate(model, (IMAGES, LABELS), keep_probabilities=True, verbose=0)
    for source in (path, version_dir, str(tmp_path / "served" / "colour")):
        result = evaluate(source, (IMAGES, LABELS), keep_probabilities=True, verbose=0)
        np.testing.assert_allclose(result.probabilities, reference.probabilities, rtol=1e-5)


def test_reports(tmp_path):
    result = evaluate(colour_classifier(), (IMAGES, LABELS), verbose=0)
    paths = write_report(result, str(tmp_path))
    summary = json.loads(open(paths["json"]).read())
    assert summary["num_images"] == 4 and summary["crops"] == 1
    assert summary["top1"] == 0.5 and summary["top5_error"] == 0.25
    assert summary["per_class"]["3"] == {"images": 1, "top1": 0.0, "top5": 0.0}
    assert summary["confusion_matrix"][3][0] == 1
    assert "| `colour` | 1 | 4 | 50.00 | 75.00 | 50.00 | 25.00 |" in markdown_table(result)
    assert "## Per class" in open(paths["markdown"]).read()
    assert open(paths["confusion_matrix"], "rb").read(8) == b"\x89PNG\r\n\x1a\n"

    many = score(np.eye(60), np.arange(60))
    paths = write_report(many, str(tmp_path / "many"))
    assert "confusion_matrix" not in paths
    assert "confusion_matrix" not in json.loads(open(paths["json"]).read())
    assert not (tmp_path / "many" / "confusion_matrix.png").exists()


def test_bad_arguments():
    model = colour_classifier()
    with pytest.raises(ValueError, match="Received: crops=5"):
        evaluate(model, (IMAGES, LABELS), crops=5)
    with pytest.raises(ValueError, match="Received: batch_size=0"):
        evaluate(model, (IMAGES, LABELS), batch_size=0)
    with pytest.raises(ValueError, match="same classes"):
        evaluate([model, conv_classifier(16, 0, classes=3)], (IMAGES, LABELS))
    with pytest.raises(ValueError, match="The data has 10 classes, the model 6"):
        evaluate(model, "digits")


def test_cli_writes_the_reports(tmp_path, capsys):
    path = str(tmp_path / "digits.keras")
    conv_classifier(32, seed=5, classes=10).save(path)
    out = tmp_path / "report"
    code = main(
        [
            "evaluate",
            path,
            "--data",
            "digits",
            "--crops",
            "12",
            "--max-images",
            "3",
            "--out",
            str(out),
            "--quiet",
            "--json",
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out.split("\nwrote")[0])
    assert summary["num_images"] == 3 and summary["crops"] == 12
    assert {p.name for p in out.iterdir()} == {
        "evaluation.json",
        "evaluation.md",
        "confusion_matrix.png",
    }


def test_images_over_max_pixels_are_never_decoded(tmp_path):
    from PIL import Image

    # One flat image per class of ``colour_classifier``: +R, +G, +B, -R, -G, -B.
    colours = [
        (255, 128, 128),
        (128, 255, 128),
        (128, 128, 255),
        (0, 128, 128),
        (128, 0, 128),
        (128, 128, 0),
    ]
    for index, colour in enumerate(colours):
        (tmp_path / f"c{index}").mkdir()
        Image.new("RGB", (20, 24), colour).save(tmp_path / f"c{index}" / "small.png")
    Image.new("RGB", (41, 25), colours[1]).save(tmp_path / "c1" / "wide.png")
    with pytest.warns(UserWarning, match="1 too large"):
        result = evaluate(
            colour_classifier(),
            str(tmp_path),
            split="train",
            validation_split=0.0,
            max_pixels=1000,
            verbose=0,
        )
    assert result.num_images == 6 and result.top1 == 1.0
    with pytest.raises(ValueError, match="max_pixels=0"):
        evaluate(colour_classifier(), str(tmp_path), max_pixels=0)
