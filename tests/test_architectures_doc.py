"""docs/architectures.md against the builders: regenerated, it must be what is committed."""

import difflib
import os

import pytest

from tool_support import load_tool

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "architectures.md")
REGENERATE = ".venv/bin/python tools/make_architectures_doc.py"

make_architectures_doc = load_tool("make_architectures_doc")


def test_architectures_doc_is_up_to_date():
    with open(DOC, encoding="utf-8") as f:
        committed = f.read()
    rendered = make_architectures_doc.render(DOC)
    if rendered != committed:
        diff = "".join(
            difflib.unified_diff(
                committed.splitlines(True),
                rendered.splitlines(True),
                fromfile="docs/architectures.md (committed)",
                tofile="docs/architectures.md (builders)",
                n=1,
            )
        )
        pytest.fail(f"docs/architectures.md is out of date; run `{REGENERATE}`.\n{diff[:4000]}")


def test_hand_written_tail_is_kept(tmp_path):
    path = tmp_path / "architectures.md"
    path.write_text(f"# old generated text\n\n{make_architectures_doc.HAND_WRITTEN}\n\n## Mine\n")
    assert make_architectures_doc.hand_written(str(path)) == (
        f"{make_architectures_doc.HAND_WRITTEN}\n\n## Mine\n"
    )
    assert make_architectures_doc.hand_written(str(tmp_path / "missing.md")) == ""
    with open(DOC, encoding="utf-8") as f:
        assert make_architectures_doc.HAND_WRITTEN in f.read()
