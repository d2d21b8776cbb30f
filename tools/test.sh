#!/usr/bin/env bash
# The whole test suite (the README's test command; CI runs it through .ci/run):
#  1. the Rust workspace (`cargo test --workspace`), which also builds target/debug/wbound;
#  2. the Python package: a fresh virtual environment (python3 -m venv) with maturin, pytest,
#     numpy, pandas and mypy from the package registry, `pip install ./python` (maturin builds the
#     extension), then pytest on python/tests against that CLI binary. Tests that need torch or
#     TensorFlow skip with a reason when they are absent (they are not installed here).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo not found: install the Rust toolchain (rustup)"; exit 1; }
command -v python3 >/dev/null || { echo "python3 not found: install Python >= 3.9 with venv"; exit 1; }

cargo test --workspace

venv="${WBOUND_TEST_VENV:-target/python-test-venv}"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check maturin pytest numpy pandas mypy
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check ./python
# From outside python/, so that the installed package is the one tested.
cd python/tests
WBOUND_CLI="$(pwd)/../../target/debug/wbound" "../../$venv/bin/python" -m pytest -q -p no:cacheprovider .
