"""Stage tables, multiply-adds and the ``models`` CLI."""

import json

import pytest

import keras_inception
from keras_inception import cli
from keras_inception.architecture import markdown_table
from keras_inception.architecture import stage_table


@pytest.fixture(scope="module")
def thin_v3():
    return keras_inception.InceptionV3(input_shape=(75, 75, 3), depth_multiplier=0.5, classes=10)


def test_stage_table_accounts_for_every_parameter_and_multiply_add(thin_v3):
    stages = stage_table(thin_v3)
    assert sum(s.params for s in stages) == thin_v3.count_params()
    assert sum(s.macs for s in stages) == keras_inception.model_macs(thin_v3)
    names = [s.name for s in stages]
    assert names[0] == "conv2d_1a_3x3" and names[-1] == "predictions"
    assert "mixed_5b" in names and not any("_branch_" in n for n in names)
    assert dict((s.name, s.output_shape) for s in stages)["conv2d_1a_3x3"] == (37, 37, 16)


def test_markdown_table_collapses_identical_repeats():
    from keras_inception.architecture import Stage

    stages = (
        [Stage("stem", (8, 8, 4), 10, 100)]
        + [Stage(f"block35_{i}", (8, 8, 4), 5, 50) for i in range(1, 4)]
        + [Stage("block35_4", (8, 8, 4), 5, 60)]
    )
    text = markdown_table(stages)
    assert "block35_1 … block35_3 (×3) | 8×8×4 | 15 |" in text
    assert "| block35_4 |" in text
    assert "**30**" in text


def test_model_macs_of_inception_v3_matches_published_cost():
    macs = keras_inception.model_macs(keras_inception.InceptionV3())
    assert 5.6e9 < macs < 5.8e9  # 5.73 G (timm, torchvision); paper: "5 billion"


def test_models_cli_lists_registry(capsys):
    assert cli.main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(r["name"] for r in rows) == keras_inception.list_models()
    v3 = next(r for r in rows if r["name"] == "inception_v3")
    assert v3["num_params"] == 23_851_784 and v3["final_grid"] == "8×8×2048"


def test_models_cli_builds_and_counts(capsys):
    assert cli.main(["models", "inception_v3", "--json", "--classes", "10"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["params"] == keras_inception.InceptionV3(classes=10).count_params()
    assert info["outputs"] == {"predictions": [None, 10]}
