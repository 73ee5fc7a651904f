"""Config parser fuzz (issue 12): a fast subset of ``tools/fuzz_config.py`` in the default suite."""

import pytest

from tool_support import load_tool


def _assert_clean(count, seed):
    failures, handled, _ = load_tool("fuzz_config").run(count, seed)
    assert not failures, failures[:5]
    assert handled == count


def test_config_fuzz_fast_subset():
    _assert_clean(300, seed=12)


@pytest.mark.slow
def test_config_fuzz_full():
    _assert_clean(10000, seed=0)
