#!/usr/bin/env bash
# Every test of the project: the Rust workspace, then the Python package (built from source
# into a fresh virtual environment with maturin from PyPI, tested with pytest).
set -euo pipefail
cd "$(dirname "$0")"
# Also builds target/release/sisr, which the Python tests compare against.
cargo test --release --workspace
venv="$(mktemp -d)/venv"
trap 'rm -rf "$(dirname "$venv")"' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet ./crates/sisr-py numpy pytest
SISR_BIN="$PWD/target/release/sisr" "$venv/bin/python" -m pytest -q crates/sisr-py/tests
