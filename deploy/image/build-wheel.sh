#!/bin/sh
# Image stage 1: build workerplane's wheel with the project's own build backend (pyproject.toml's
# [build-system], fetched into an isolated build environment by pip).
# Usage: build-wheel.sh SOURCE_DIR WHEEL_DIR
# The Dockerfile runs it; tests/deploy/test_image.py runs it too, without Docker.
set -eu
source_dir="${1:?usage: build-wheel.sh SOURCE_DIR WHEEL_DIR}"
wheel_dir="${2:?usage: build-wheel.sh SOURCE_DIR WHEEL_DIR}"
python -m pip wheel --no-deps --wheel-dir "$wheel_dir" "$source_dir"
