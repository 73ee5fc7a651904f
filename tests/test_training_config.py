"""Training config: presets, validation, YAML/JSON files, overrides, the CLI's resolution."""

import json

import pytest

from keras_inception import cli
from keras_inception import training
from keras_inception.training import config as config_lib


def test_every_preset_builds_and_validates():
    for name in sorted(training.PRESETS):
        config = training.get_preset(name)
        assert isinstance(config, training.TrainConfig)
        assert config.validate() is config, name
        assert training.resolve_config(preset=name) == config


def test_defaults_are_the_papers_recipe():
    config = training.TrainConfig()
    assert (config.optimizer, config.rho, config.momentum, config.epsilon) == (
        "rmsprop",
        0.9,
        0.9,
        1.0,
    )
    assert (config.learning_rate, config.reference_batch_size) == (0.045, 32)
    assert (config.lr_decay_rate, config.lr_decay_epochs, config.lr_staircase) == (0.94, 2.0, True)
    assert (config.clipnorm, config.label_smoothing, config.weight_decay) == (2.0, 0.1, 4e-5)
    assert config.dropout_rate == 0.2
    assert training.get_preset("paper") == config


def test_quick_preset_is_the_main_job_default():
    config = training.resolve_config(preset="quick")
    assert config.data == "digits" and config.model == "inception_v3"
    assert config.export


INVALID = [
    ({"learning_rate": -0.1}, "learning_rate=-0.1"),
    ({"model": "inception_v9"}, "model='inception_v9'"),
    ({"image_size": 40}, "image_size=40"),
    ({"precision": "float8"}, "precision='float8'"),
    ({"optimizer": "adagrad"}, "optimizer='adagrad'"),
    ({"label_smoothing": 1.0}, "label_smoothing=1.0"),
    ({"epochs": 0}, "epochs=0"),
    ({"epochs": "5"}, "epochs='5'"),
    ({"save_freq": 0}, "save_freq=0"),
    ({"clipnorm": 0.0}, "clipnorm=0.0"),
    ({"finetune": True, "aux_logits": True}, "aux_logits=True"),
    ({"finetune_epochs": 3}, "finetune_epochs=3"),
    ({"distribution": "horovod"}, "distribution='horovod'"),
]


def test_invalid_values_raise_clear_errors():
    for changes, received in INVALID:
        config = training.TrainConfig().replace(**changes)
        with pytest.raises(ValueError, match=rf"Received: .*{received.replace('.', '[.]')}"):
            config.validate()


def test_batch_must_divide_over_replicas():
    config = training.TrainConfig(batch_size=30)
    config.validate(num_replicas=2)
    with pytest.raises(ValueError, match=r"divisible by the 4 replicas.*batch_size=30"):
        config.validate(num_replicas=4)


def test_overrides_keep_yaml_types():
    overrides = training.parse_overrides(
        ["epochs=5", "use_ema=true", "clipnorm=null", "devices=[/cpu:0, /cpu:1]", "data=tfds:mnist"]
    )
    assert overrides == {
        "epochs": 5,
        "use_ema": True,
        "clipnorm": None,
        "devices": ["/cpu:0", "/cpu:1"],
        "data": "tfds:mnist",
    }
    config = training.resolve_config(overrides=["learning_rate=1", "devices=[/cpu:0, /cpu:1]"])
    assert config.learning_rate == 1.0 and isinstance(config.learning_rate, float)
    assert config.devices == ("/cpu:0", "/cpu:1")
    config.validate()


def test_unknown_and_malformed_overrides():
    with pytest.raises(ValueError, match=r"did you mean 'epochs'.*Received: epoch=3"):
        training.parse_overrides(["epoch=3"])
    with pytest.raises(ValueError, match="key=value"):
        training.parse_overrides(["epochs"])
    with pytest.raises(ValueError, match=r"Unknown preset.*preset='fast'"):
        training.resolve_config(preset="fast")


def test_config_file_then_overrides_then_flags(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"epochs": 7, "batch_size": 64, "use_ema": True}))
    (tmp_path / "run.yaml").write_text("epochs: 7\nbatch_size: 64\nuse_ema: true\n")
    for name in ("run.json", "run.yaml"):
        assert training.load_config_file(str(tmp_path / name)) == {
            "epochs": 7,
            "batch_size": 64,
            "use_ema": True,
        }
        config = training.resolve_config(
            preset="quick", file=str(tmp_path / name), overrides=["batch_size=16"], epochs=2
        )
        assert (config.epochs, config.batch_size, config.use_ema) == (2, 16, True)
        # The preset still supplies what the file leaves out.
        assert config.image_size == training.PRESETS["quick"]["image_size"]


def test_bad_config_files(tmp_path):
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("learning_rte: 0.1\n")
    with pytest.raises(ValueError, match="did you mean 'learning_rate'"):
        training.load_config_file(str(unknown))
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="mapping"):
        training.load_config_file(str(listing))


def test_saved_config_json_reloads_to_the_same_config(tmp_path):
    config = training.resolve_config(preset="finetune", overrides=["devices=[/gpu:0]"])
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config.to_dict()))
    assert training.resolve_config(preset="paper", file=str(path)) == config


def test_run_dir_defaults_to_model_and_data_tag():
    assert config_lib.data_tag("tfds:mnist") == "mnist"
    assert config_lib.data_tag("/data/My Photos/") == "My_Photos"
    assert config_lib.data_tag("/data/train-*.tfrecord") == "train-_"
    config = training.TrainConfig(model="inception_v1", data="tfds:cifar10")
    assert config.resolved_run_dir().replace("\\", "/") == "runs/inception_v1_cifar10"
    assert config.replace(run_dir="x").resolved_run_dir() == "x"


def test_cli_dry_run_prints_the_resolved_config(capsys):
    code = cli.main(
        [
            "train",
            "--dry-run",
            "--data",
            "tfds:beans",
            "--model",
            "inception_v1",
            "--epochs",
            "3",
            "--set",
            "batch_size=16",
            "--no-export",
        ]
    )
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["data"] == "tfds:beans" and printed["model"] == "inception_v1"
    assert (printed["epochs"], printed["batch_size"], printed["export"]) == (3, 16, False)


def test_cli_reports_invalid_config(capsys):
    assert cli.main(["train", "--dry-run", "--set", "learning_rate=-1"]) == 1
    assert "learning_rate=-1" in capsys.readouterr().err


# Issue 12, defect 12: every bad value is a one-line error naming the field or the file.
@pytest.mark.parametrize(
    "pair, field",
    [
        ("epochs=null", "epochs"),
        ("epochs=", "epochs"),
        ("epochs=~", "epochs"),
        ("learning_rate=.inf", "learning_rate"),
        ("learning_rate=-.inf", "learning_rate"),
        ("learning_rate=.nan", "learning_rate"),
        ("dropout_rate=" + "9" * 400, "dropout_rate"),
        ("model=[[[[[[[[[[1]]]]]]]]]]", "model"),
        ("batch_size=" + "[" * 3000, "batch_size"),
        ("devices=[[1], {a: 1}]", "devices"),
    ],
)
def test_bad_override_values_are_one_line_errors(pair, field):
    with pytest.raises(ValueError) as error:
        training.resolve_config(preset="quick", overrides=[pair]).validate()
    message = str(error.value)
    assert f"`{field}`" in message and "\n" not in message and len(message) < 400


@pytest.mark.parametrize(
    "pair, field, value",
    [
        ("learning_rate=1e-3", "learning_rate", 1e-3),
        ("learning_rate=2E-4", "learning_rate", 2e-4),
        ("weight_decay=4e-5", "weight_decay", 4e-5),
        ("learning_rate=.5", "learning_rate", 0.5),
        ("epochs=1_000", "epochs", 1000),
        ("image_size=null", "image_size", None),
    ],
)
def test_numbers_are_read_as_written(pair, field, value):
    config = training.resolve_config(preset="quick", overrides=[pair]).validate()
    assert getattr(config, field) == value


@pytest.mark.parametrize(
    "name, text, expected",
    [
        ("null.yaml", "epochs: null\n", "`epochs` cannot be null"),
        ("syntax.yaml", "epochs: 3\n  batch_size: [\n", r"syntax\.yaml', line 2"),
        ("tag.yaml", "epochs: !!python/object/apply:os.system ['true']\n", r"tag\.yaml', line 1"),
        ("nan.json", '{"learning_rate": NaN}', "non-finite"),
        ("syntax.json", '{"epochs": 3,,}', r"syntax\.json', line 1"),
        ("deep.json", "[" * 100000, "nested too deeply"),
        ("binary.yaml", b"\xff\xfe\x00epochs", "not UTF-8"),
    ],
)
def test_bad_config_files_are_one_line_errors(tmp_path, name, text, expected):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ValueError, match=expected) as error:
        training.resolve_config(preset="quick", file=str(path)).validate()
    assert "\n" not in str(error.value)


def test_yaml_file_numbers_are_read_as_written(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("learning_rate: 1e-3\nweight_decay: 4e-5\n")
    config = training.resolve_config(preset="quick", file=str(path)).validate()
    assert (config.learning_rate, config.weight_decay) == (1e-3, 4e-5)


def test_alias_bomb_in_a_config_file_is_refused_quickly(tmp_path):
    levels = ["a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for i in range(1, 9):
        levels.append(f"l{i}: &l{i} [{', '.join(['*' + ('a' if i == 1 else f'l{i - 1}')] * 9)}]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(levels).replace("l8: &l8", "devices:") + "\n")
    with pytest.raises(ValueError):
        training.resolve_config(preset="quick", file=str(path)).validate()


@pytest.mark.parametrize(
    "argv",
    [
        ["--set", "epochs=null"],
        ["--set", "epochs="],
        ["--set", "learning_rate=.inf"],
    ],
)
def test_cli_config_errors_have_no_traceback(capsys, argv):
    assert cli.main(["train", "--dry-run", *argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("keras-inception train: error: ") and "Traceback" not in err
    assert err.count("\n") == 1


def test_cli_config_file_syntax_error_has_no_traceback(capsys, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("epochs: 3\n  x: [\n")
    assert cli.main(["train", "--dry-run", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "bad.yaml', line 2" in err and err.count("\n") == 1


def test_null_is_accepted_where_it_means_something():
    config = training.resolve_config(
        preset="quick", overrides=["clipnorm=null", "steps_per_epoch=null", "bn_momentum=null"]
    ).validate()
    assert (config.clipnorm, config.steps_per_epoch, config.bn_momentum) == (None, None, None)


def test_a_runs_data_configs_derive_from_its_fields():
    config = training.TrainConfig(
        data="digits",
        image_size=80,
        batch_size=16,
        validation_split=0.2,
        seed=7,
        augment="mild",
        central_fraction=1.0,
        include_preprocessing=True,
    )
    train = config.data_config("train", min_size=75)
    assert (train.source, train.image_size, train.batch_size, train.split) == (
        "digits",
        80,
        16,
        "train",
    )
    assert (train.validation_split, train.seed, train.augment, train.scale) == (
        0.2,
        7,
        "mild",
        False,
    )
    assert train.central_fraction is None and train.min_size == 75
    val = config.data_config("validation", class_names=["a", "b"])
    assert (val.split, val.augment, val.central_fraction, val.class_names) == (
        "validation",
        None,
        1.0,
        ["a", "b"],
    )
    # "auto" leaves the choice to the pipeline's default (a run resolves it first).
    auto = training.TrainConfig(image_size=80).data_config("train")
    assert (auto.augment, auto.validation_split) == (None, None)
    with pytest.raises(ValueError, match="Received: shuffle_buffer=0"):
        config.data_config("train", shuffle_buffer=0)


def test_data_fields_follow_the_pipelines_rules():
    with pytest.raises(
        ValueError,
        match=r"`augment` must be one of .* or 'auto'\. "
        r"Received: augment='heavy'",
    ):
        training.resolve_config(overrides=["augment=heavy"]).validate()
    with pytest.raises(ValueError, match="Received: central_fraction=0.0"):
        training.resolve_config(overrides=["central_fraction=0.0"]).validate()
    # A run needs a held-out set, which the pipeline alone does not.
    with pytest.raises(ValueError, match="Received: validation_split=0.0"):
        training.resolve_config(overrides=["validation_split=0.0"]).validate()
    assert training.resolve_config(overrides=["augment=mild"]).validate().augment == "mild"
