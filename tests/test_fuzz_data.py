"""Fuzzing the data readers (``tools/fuzz_data.py``): no input escapes as a crash.

The fast test runs ~100 generated inputs in this process (a directory batch
and a few TFRecord cases); the slow one runs the tool's full 4,000 in child
processes and checks the summary line, peak memory included.
"""

import os
import re
import subprocess
import sys

import pytest

from data_fixtures import _fresh_keras_state  # noqa: F401

TOOLS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools")
sys.path.insert(0, TOOLS)

import fuzz_data  # noqa: E402

# Peak resident memory allowed for a fuzz child (TensorFlow itself takes
# ~0.8 GiB): a decompression bomb let through would take several GiB.
MAX_RSS_KIB = 3 * 1024 * 1024


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_generated_files_are_used_or_skipped_never_raised(tmp_path):
    result = fuzz_data.run_batch("files", 11, 90, str(tmp_path))
    assert result["crashes"] == []
    assert result["inputs"] == 90 and 0 < result["skips"] < 90


def test_generated_record_cases_answer_in_one_line(tmp_path):
    result = fuzz_data.run_batch("records", 12, 3, str(tmp_path))
    assert result["crashes"] == []
    assert result["errors"] > 0  # damaged shards were refused, not read


def test_each_generator_makes_what_it_claims(tmp_path):
    import random

    from keras_inception import image_header

    rng = random.Random(0)
    for _ in range(20):
        huge = fuzz_data.huge_header(rng)
        assert (image_header.decoded_pixels(huge) or 0) > 40_000_000 or (
            image_header.image_dimensions(huge) is None
        )
    kinds = {fuzz_data.file_input(rng, str(tmp_path), f"f{i}", __file__) for i in range(200)}
    assert {"random", "mutated", "huge", "valid", "empty"} <= kinds
    assert any(kind.startswith("link:") for kind in kinds)
    plan = fuzz_data.plan(4000, 0)
    assert sum(n for _, _, n in plan) == 4000 and {k for k, _, _ in plan} == {"files", "records"}


@pytest.mark.slow
@pytest.mark.timeout(7200)
def test_full_fuzz_run_has_no_crash_and_bounded_memory(tmp_path):
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    done = subprocess.run(
        [sys.executable, os.path.join(TOOLS, "fuzz_data.py"), "--count", "4000", "--seed", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=7200,
    )
    summary = done.stdout.strip().splitlines()[-1]
    found = re.match(
        r"inputs (\d+) crashes (\d+) skips (\d+) errors (\d+) peak_rss_kib (\d+)", summary
    )
    assert found, done.stdout[-2000:] + done.stderr[-2000:]
    inputs, crashes, _, _, peak = map(int, found.groups())
    assert (inputs, crashes) == (4000, 0), done.stdout[-3000:]
    assert peak < MAX_RSS_KIB
    assert done.returncode == 0
