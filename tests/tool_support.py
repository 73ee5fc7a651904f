"""Loads a script of ``tools/`` (or ``benchmarks/``) as a module, for the tests that drive it."""

import importlib.util
import os

ROOT = os.path.join(os.path.dirname(__file__), os.pardir)
TOOLS = os.path.join(ROOT, "tools")


def load_tool(name, folder="tools"):
    """The module ``<folder>/<name>.py`` of the repository, default ``tools/<name>.py``."""
    path = os.path.join(ROOT, folder, f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
