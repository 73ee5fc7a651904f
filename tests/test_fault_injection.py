"""SIGKILL at the fault-injection points of every writing command, then rerun (slow).

Each command (``train``, ``export``, ``data convert``, ``convert``) runs on tiny
inputs and is killed at 20 points chosen from the points it passes
(``keras_inception.faults``), plus kills after random delays; after each kill no
file a reader could pick up may be partial, and the runs that follow must end
with the result of an uninterrupted run. The machinery is in
``tools/fault_inject.py``, which runs longer campaigns (``--points N``).
"""

import json
import re

import pytest

from tool_support import load_tool

pytestmark = pytest.mark.slow

fault_inject = load_tool("fault_inject")


@pytest.mark.parametrize("command", fault_inject.COMMANDS)
def test_killed_at_twenty_points_every_rerun_recovers(command, tmp_path):
    report = fault_inject.Campaign(
        fault_inject.SCENARIOS[command],
        str(tmp_path),
        points=20,
        timed=1,
        seed=0,
    ).execute()
    assert len(report.kills) >= 20, report.to_dict()
    assert report.problems == []
    assert report.recovered == len(report.kills)
    assert report.epochs_lost_max <= 1


def _scenario(tmp_path):
    scenario = fault_inject.TrainScenario(str(tmp_path))
    scenario.setup()
    out = tmp_path / "out"
    out.mkdir()
    return scenario, out


def _run(scenario, out, fault=None):
    return fault_inject.run_command(scenario.argv(str(out)), workdir=scenario.root, fault=fault)


@pytest.mark.parametrize("fault", ["export.model_saved", "export.published"])
def test_train_killed_inside_its_export_redoes_only_the_export(fault, tmp_path):
    """Issue 12 #5, with a real SIGKILL: what the killed export left goes too.

    Before the publish, the export's staging folder is left; after it, its
    scratch folder, and the published version is kept, not exported again.
    """
    scenario, out = _scenario(tmp_path)
    killed = _run(scenario, out, fault=fault)
    assert killed.killed, killed.output[-3000:]
    model_dir = out / "exports" / "inception_v1_images"
    assert [p.name for p in model_dir.iterdir() if p.name.startswith(".staging-")]
    assert json.loads((out / "run" / "summary.json").read_text())["state"] == "trained"

    rerun = _run(scenario, out)
    assert rerun.returncode == 0, rerun.output[-3000:]
    # No epoch trained again, no point of training reached.
    assert not re.search(r"^Epoch \d+/", rerun.output, re.MULTILINE)
    assert "train.batch_end" not in rerun.trace and "train.export_start" in rerun.trace
    assert sorted(p.name for p in model_dir.iterdir()) == ["1"]
    summary = json.loads((out / "run" / "summary.json").read_text())
    assert summary["state"] == "complete" and summary["epochs"] == scenario.epochs


def test_train_killed_after_an_epochs_backup_repeats_only_that_epoch(tmp_path):
    """Issue 12 #6, with a real SIGKILL: no gap in history.csv, every checkpoint whole."""
    scenario, out = _scenario(tmp_path)
    # Epoch 1's backup is on disk, its checkpoints and history row are not.
    killed = _run(scenario, out, fault="train.backup_written@2")
    assert killed.killed, killed.output[-3000:]
    checker = fault_inject.Checker()
    assert scenario.check_after_kill(checker, str(out)) == []
    assert fault_inject.check_history(str(out / "run" / "history.csv")) is None

    rerun = _run(scenario, out)
    assert rerun.returncode == 0, rerun.output[-3000:]
    assert re.findall(r"^Epoch (\d+)/", rerun.output, re.MULTILINE)[0] == "2"
    problems, fingerprint = scenario.result(checker, str(out))
    assert problems == []
    assert fingerprint["history_epochs"] == list(range(scenario.epochs))
