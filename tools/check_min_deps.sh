#!/usr/bin/env bash
# Installs keras_inception[all] at the lower bounds of its dependencies
# (constraints-min.txt) in a fresh virtual environment, on the oldest Python
# the package supports, and runs tests there.
#
#   tools/check_min_deps.sh                      # the default test selection
#   tools/check_min_deps.sh tests/test_models.py # any pytest arguments
#
# PYTHON (default python3.10) picks the interpreter, VENV (default a new
# temporary folder) the environment. About 1.3 GB of downloads.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3.10}"
venv="${VENV:-$(mktemp -d)/venv}"
"$python" -m venv "$venv"
"$venv/bin/pip" install -q -c constraints-min.txt -e ".[all]" pytest pytest-timeout hypothesis
"$venv/bin/pip" list --format=freeze | grep -i -E '^(keras|numpy|pillow|tensorflow|tensorflow-datasets|ai-edge-litert|matplotlib|pyyaml|scikit-learn|tensorboard)=='
if [ $# -eq 0 ]; then
    set -- tests/test_install.py tests/test_models.py tests/test_inception_v1.py \
        tests/test_preprocessing.py tests/test_cli_quiet.py
fi
"$venv/bin/pytest" -q -p no:cacheprovider -m "not slow" "$@"
