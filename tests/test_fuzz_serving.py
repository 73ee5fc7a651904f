"""The serving fuzz suite (``tools/fuzz_serving.py``): a fast in-process subset, and the full count.

Every generated request must return probabilities or fail with
``InvalidArgumentError``; through ``predict`` each image must give
probabilities or be rejected with ``ValueError``/``InvalidArgumentError``.
"""

import collections
import os
import subprocess
import sys

import pytest

import export_support as support
from tool_support import load_tool

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(ROOT, "tools", "fuzz_serving.py")


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    """The tool's runner on a few-layer model: the same serving graph at almost no cost."""
    from keras_inception import export

    tool = load_tool("fuzz_serving")
    directory = tmp_path_factory.mktemp("fuzz_serving")
    model = support.small_model("softmax")
    tool.NUM_CLASSES = 3
    keras_path = str(directory / "small.keras")
    model.save(keras_path)
    saved = export.export_saved_model(model, base_dir=directory / "served", model_name="small")
    return tool, tool.Runner(saved, keras_path)


def test_generated_requests_give_probabilities_or_invalid_argument(runner):
    tool, run = runner
    outcomes = collections.Counter()
    kinds = collections.Counter()
    for index in range(240):
        kind, blobs = tool.make_case(7, index)
        kinds[kind] += 1
        for outcome in run.run(blobs):
            assert outcome in ("ok", "rejected"), (index, kind, outcome)
            outcomes[outcome] += 1
    assert set(kinds) == set(tool.CASE_KINDS)
    assert outcomes["ok"] >= 50 and outcomes["rejected"] >= 50


def test_empty_batch_and_real_bomb(runner):
    tool, run = runner
    assert run.serve([]) == "ok"
    assert len(tool.png_bomb()) < 400_000
    assert run.run([tool.png_bomb()]) == ["rejected", "rejected"]


@pytest.mark.slow
def test_full_count_in_worker_processes():
    done = subprocess.run(
        [sys.executable, TOOL, "--count", "5000", "--seed", "0"],
        capture_output=True,
        text=True,
        timeout=6 * 3600,
    )
    summary = done.stdout.strip().splitlines()[-1]
    print(summary)
    fields = dict(item.split("=") for item in summary.split())
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(fields["cases"]) == 5000 and int(fields["inputs"]) >= 5000
    assert fields["failures"] == "0" and fields["crashes"] == "0"
    # docs/serving.md: the workers' peak RSS stays under 2 GiB.
    assert int(fields["peak_rss_kib"]) < 2 * 2**20
