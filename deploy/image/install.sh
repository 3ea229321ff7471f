#!/bin/sh
# Image stage 2: a clean virtualenv holding the wheel and its dependencies, nothing else.
# Usage: install.sh VENV_DIR WHEEL_DIR
# The Dockerfile runs it; tests/deploy/test_image.py runs it too, without Docker, then starts
# `serve` from the virtualenv.
set -eu
venv="${1:?usage: install.sh VENV_DIR WHEEL_DIR}"
wheel_dir="${2:?usage: install.sh VENV_DIR WHEEL_DIR}"
python -m venv "$venv"
"$venv/bin/python" -m pip install "$wheel_dir"/workerplane-*.whl
# Fail the build, not the first pod, if the entry point cannot start.
"$venv/bin/workerplane" --help >/dev/null
