"""The model zoo table: ``keras-inception models`` prints the README's, from the specs."""

import json
import os

import pytest

import keras_inception
from keras_inception import cli
from keras_inception import registry
from keras_inception import zoo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def readme_zoo_section():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    start = text.index("## Model zoo")
    return text[start : text.index("\n## ", start + 1)]


def test_readme_shows_the_table_the_cli_prints(capsys):
    assert cli.main(["models"]) == 0
    printed = capsys.readouterr().out
    assert printed == zoo.zoo_markdown() + "\n"
    assert zoo.zoo_markdown() in readme_zoo_section(), (
        "README.md's model zoo table is not `keras-inception models`' output; paste it in"
    )


def test_table_rows_come_from_the_specs_and_the_weights_registry():
    rows = {row.name: row for row in zoo.zoo_rows()}
    assert list(rows) == [
        "inception_v1",
        "inception_v2",
        "inception_v3",
        "inception_v4",
        "inception_resnet_v1",
        "inception_resnet_v2",
    ]
    v3 = rows["inception_v3"]
    assert (v3.num_params, v3.default_size, v3.min_size, v3.final_grid) == (
        23_851_784,
        299,
        75,
        "8×8×2048",
    )
    # The default record first: keras.applications' weights, then TF-slim's.
    assert v3.accuracy == "77.9 / 93.7 (Keras); 78.0 / 93.9 (TF-slim)"
    assert rows["inception_resnet_v1"].accuracy.startswith("78.7 / 94.5 (paper")


def test_paper_table_lists_every_paper_variant(capsys):
    assert cli.main(["models", "--variant", "paper", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == [r.name for r in zoo.zoo_rows()]
    paper_v3 = next(r for r in rows if r["name"] == "inception_v3")
    assert paper_v3["variant"] == "paper"
    assert paper_v3["num_params"] == keras_inception.get_spec("inception_v3", "paper").num_params
    assert paper_v3["accuracy"] == "—"


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,variant",
    [(s.name, s.variant) for s in registry.list_specs()],
    ids=[f"{s.name}-{s.variant}" for s in registry.list_specs()],
)
def test_spec_multiply_adds_are_measured(name, variant):
    spec = keras_inception.get_spec(name, variant)
    model = keras_inception.get_model(name, variant=variant)
    assert round(keras_inception.model_macs(model) / 1e9, 2) == spec.macs


def test_googlenet_multiply_adds_are_measured():
    spec = keras_inception.get_spec("inception_v1")
    assert round(keras_inception.model_macs(keras_inception.InceptionV1()) / 1e9, 2) == spec.macs
