"""Optional dependencies: one import helper, one error naming the ``pip install`` that fixes it.

The core install (``pip install keras_inception``) is what the builders need:
keras, tensorflow, numpy and pillow. Everything else belongs to an extra
declared in ``pyproject.toml``; every import of an optional module in the
package goes through ``require``, so a missing one fails with the same
one-line message:

    from keras_inception._extras import require
    yaml = require("yaml")
"""

import importlib

# Top-level module -> (distribution on PyPI, extra of keras_inception holding it).
# tests/test_install.py checks each pair against pyproject.toml.
OPTIONAL_MODULES = {
    "ai_edge_litert": ("ai-edge-litert", "export"),
    "matplotlib": ("matplotlib", "train"),
    "sklearn": ("scikit-learn", "train"),
    "tensorflow_datasets": ("tensorflow-datasets", "data"),
    "yaml": ("pyyaml", "train"),
}


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


def install_hint(module):
    """The ``pip install`` command that provides the optional ``module``."""
    _, extra = OPTIONAL_MODULES[module.partition(".")[0]]
    return f'pip install "keras_inception[{extra}]"'


def require(module):
    """Imports the optional ``module`` (dotted names allowed) and returns it.

    Args:
        module: e.g. ``"yaml"`` or ``"sklearn.datasets"``; its top-level
            package must be one of ``OPTIONAL_MODULES``.

    Raises:
        MissingExtraError: the module's distribution is not installed. A
            module that is installed but fails to import (a broken
            dependency of its own) raises its original error.
    """
    root = module.partition(".")[0]
    distribution, _ = OPTIONAL_MODULES[root]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name is None or error.name.partition(".")[0] != root:
            raise
        raise MissingExtraError(
            f"{distribution} is not installed (module {module}); "
            f"install it with: {install_hint(module)}"
        ) from None
