"""The light install: lazy ``import keras_inception``, one version, extras that match the code.

A missing optional dependency fails with one line naming the ``pip install``
that provides it (``keras_inception._extras``).
"""

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

import keras_inception
from keras_inception import _extras
from keras_inception.cli import main

tomllib = pytest.importorskip("tomllib")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# What a user of the builders must not pay for at import time (scikit-learn and
# matplotlib are left out: `import keras` itself loads them when they are installed).
HEAVY = (
    "keras_inception.training",
    "keras_inception.export",
    "keras_inception.evaluation",
    "keras_inception.data",
    "tensorflow_datasets",
    "yaml",
    "ai_edge_litert",
)


def pyproject():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def requirement_name(requirement):
    return re.match(r"[A-Za-z0-9_.\-]+", requirement).group(0).lower().replace("_", "-")


def lower_bounds(requirements):
    bounds = {}
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?>=([0-9][^,;\s]*)", requirement)
        if match:
            bounds[requirement_name(match.group(1))] = match.group(3)
    return bounds


def python(script, **env):
    """Runs ``script`` in a fresh interpreter; returns its stdout (it must succeed)."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": "tensorflow", **env},
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_import_loads_nothing_heavy_until_used():
    stages = json.loads(
        python(f"""
        import json, sys
        heavy = {HEAVY!r} + ("keras", "tensorflow")
        loaded = lambda: [m for m in heavy if m in sys.modules]
        stages = {{}}
        import keras_inception
        stages["import"] = loaded()
        keras_inception.InceptionV3
        stages["builder"] = loaded()
        stages["registry"] = len(keras_inception.list_models())
        keras_inception.train, keras_inception.evaluate, keras_inception.evaluation
        stages["used"] = loaded()
        print(json.dumps(stages))
    """)
    )
    assert stages["import"] == []
    assert set(stages["builder"]) == {"keras", "tensorflow"}
    assert stages["registry"] == 6
    assert {"keras_inception.training", "keras_inception.evaluation"} <= set(stages["used"])


def test_registry_fills_itself_in_a_fresh_interpreter():
    # Library code reads the registry module directly, before any builder is imported.
    out = python("""
        from keras_inception.registry import get_spec, list_models
        print(len(list_models()), get_spec("inception_v3").default_size)
    """)
    assert out.split() == ["6", "299"]


def test_every_public_name_resolves_and_unknown_names_raise():
    for name in keras_inception.__all__:
        assert getattr(keras_inception, name) is not None
        assert name in dir(keras_inception)
    assert keras_inception.InceptionV3 is keras_inception.models.InceptionV3
    assert keras_inception.training.TrainConfig is keras_inception.TrainConfig
    with pytest.raises(AttributeError, match="no attribute 'InceptionV9'"):
        keras_inception.InceptionV9  # noqa: B018  (the lookup is what raises)


def test_version_is_read_from_the_package():
    project = pyproject()
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "keras_inception.__version__"
    }
    assert importlib.metadata.version("keras_inception") == keras_inception.__version__


def test_core_dependencies_are_what_the_builders_need():
    project = pyproject()["project"]
    assert {requirement_name(r) for r in project["dependencies"]} == {
        "keras",
        "numpy",
        "pillow",
        "tensorflow",
    }
    extras = project["optional-dependencies"]
    assert extras["all"] == ["keras_inception[data,export,train]"]
    assert {"jax", "ruff", "pytest"} <= {requirement_name(r) for r in extras["test"]}
    assert project["scripts"] == {"keras-inception": "keras_inception.cli:main"}


def test_each_optional_module_is_in_the_extra_its_error_names():
    extras = pyproject()["project"]["optional-dependencies"]
    for module, (distribution, extra) in _extras.OPTIONAL_MODULES.items():
        assert distribution in {requirement_name(r) for r in extras[extra]}, module


def test_min_constraints_pin_the_lower_bounds():
    project = pyproject()["project"]
    bounds = lower_bounds(project["dependencies"])
    for extra in ("data", "export", "train"):
        bounds.update(lower_bounds(project["optional-dependencies"][extra]))
    with open(os.path.join(ROOT, "constraints-min.txt")) as f:
        pins = dict(
            line.strip().split("==") for line in f if line.strip() and not line.startswith("#")
        )
    assert {requirement_name(name): version for name, version in pins.items()} == bounds


def test_require_names_the_pip_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "yaml", None)
    with pytest.raises(_extras.MissingExtraError) as error:
        _extras.require("yaml")
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("pyyaml is not installed")
    assert message.endswith('pip install "keras_inception[train]"')
    assert isinstance(error.value, ImportError)


def test_require_keeps_the_error_of_a_broken_install(monkeypatch, tmp_path):
    # An installed module that fails on a dependency of its own is not a missing extra.
    (tmp_path / "yaml.py").write_text("import not_a_dependency_of_anything\n")
    monkeypatch.delitem(sys.modules, "yaml", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as error:
        _extras.require("yaml")
    assert not isinstance(error.value, _extras.MissingExtraError)
    assert error.value.name == "not_a_dependency_of_anything"


@pytest.mark.parametrize(
    "argv, blocked, extra",
    [
        (["data", "info", "digits"], ("sklearn", "sklearn.datasets"), "train"),
        (["data", "info", "tfds:mnist"], ("tensorflow_datasets",), "data"),
    ],
    ids=["digits", "tfds"],
)
def test_cli_missing_extra_is_one_line(argv, blocked, extra, monkeypatch, capsys):
    for module in blocked:
        monkeypatch.setitem(sys.modules, module, None)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("keras-inception data: error: ")
    assert err.rstrip().endswith(f'pip install "keras_inception[{extra}]"')


def test_train_without_yaml_is_one_line():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.modules['yaml'] = None; from keras_inception.cli import main; "
            "sys.exit(main(['train', '--dry-run']))",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 1
    assert result.stderr == (
        "keras-inception train: error: pyyaml is not installed (module yaml); "
        'install it with: pip install "keras_inception[train]"\n'
    )


def test_litert_and_plots_name_their_extras(monkeypatch, tmp_path):
    from keras_inception.export.tflite import LiteRTClassifier
    from keras_inception.training.plots import plot_history

    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    with pytest.raises(_extras.MissingExtraError, match=r'keras_inception\[export\]"$'):
        LiteRTClassifier(model_content=b"")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    with pytest.raises(_extras.MissingExtraError, match=r'keras_inception\[train\]"$'):
        plot_history({"loss": [1.0]}, str(tmp_path / "curves.png"))
