"""Config parser fuzz (issue 12): a fast subset of ``tools/fuzz_config.py`` in the default suite."""

import importlib.util
import os

import pytest

_TOOL = os.path.join(os.path.dirname(__file__), os.pardir, "tools", "fuzz_config.py")


def _fuzz():
    spec = importlib.util.spec_from_file_location("fuzz_config", _TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _assert_clean(count, seed):
    failures, handled, _ = _fuzz().run(count, seed)
    assert not failures, failures[:5]
    assert handled == count


def test_config_fuzz_fast_subset():
    _assert_clean(300, seed=12)


@pytest.mark.slow
def test_config_fuzz_full():
    _assert_clean(10000, seed=0)
