"""docs/cli.md (and README's marked block) against the live ``--help`` of every command."""

import difflib
import os
import subprocess
import sys

import pytest

from tool_support import load_tool

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REGENERATE = ".venv/bin/python tools/make_cli_doc.py"

make_cli_doc = load_tool("make_cli_doc")


def _read(name):
    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        return f.read()


def _assert_same(expected, actual, name):
    if expected != actual:
        diff = "".join(
            difflib.unified_diff(
                actual.splitlines(True),
                expected.splitlines(True),
                fromfile=f"{name} (committed)",
                tofile=f"{name} (live --help)",
                n=1,
            )
        )
        pytest.fail(f"{name} is out of date with the CLI; run `{REGENERATE}`.\n{diff[:4000]}")


def test_cli_doc_matches_live_help():
    _assert_same(make_cli_doc.render(), _read(os.path.join("docs", "cli.md")), "docs/cli.md")


def test_readme_block_matches_cli_doc():
    readme = _read("README.md")
    if make_cli_doc.START not in readme:
        pytest.skip("README.md has no CLI reference markers yet")
    assert make_cli_doc.END in readme, "README.md has the start marker but not the end marker"
    _assert_same(
        make_cli_doc.replace_block(readme, make_cli_doc.reference_block()), readme, "README.md"
    )


def test_reference_has_every_command_nested_ones_included():
    from keras_inception.cli import build_parser

    parser = build_parser()
    expected = ["keras-inception"]
    for name, child in make_cli_doc.subcommands(parser).items():
        expected.append(f"keras-inception {name}")
        expected += [f"keras-inception {name} {sub}" for sub in make_cli_doc.subcommands(child)]
    assert [command for command, _ in make_cli_doc.command_helps(parser)] == expected
    assert "keras-inception data convert" in expected  # a nested subcommand
    block = make_cli_doc.reference_block()
    for command in expected:
        assert f"`{command}`\n\n```text\nusage: {command} " in block


def test_rendered_help_is_what_the_command_prints():
    env = dict(os.environ, COLUMNS=str(make_cli_doc.WIDTH), TF_CPP_MIN_LOG_LEVEL="2")
    printed = subprocess.run(
        [sys.executable, "-m", "keras_inception", "data", "--help"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        check=True,
    ).stdout
    assert dict(make_cli_doc.command_helps())["keras-inception data"] == printed


def test_replace_block_swaps_only_the_marked_text():
    block = f"{make_cli_doc.START}\nnew\n{make_cli_doc.END}\n"
    text = f"# Title\n\n{make_cli_doc.START}\nold\n{make_cli_doc.END}\n\n## After\n"
    assert make_cli_doc.replace_block(text, block) == (
        f"# Title\n\n{make_cli_doc.START}\nnew\n{make_cli_doc.END}\n\n## After\n"
    )
    assert make_cli_doc.replace_block("# No markers\n", block) is None
