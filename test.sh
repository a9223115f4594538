#!/usr/bin/env bash
# Every test of the project: the Rust workspace, the Python package (built from source into a
# fresh virtual environment with maturin from PyPI, tested with pytest), and the web app in a
# real browser (needs node/npm and Chromium; .ci/run installs them).
set -euo pipefail
cd "$(dirname "$0")"
# Format and lints first: they fail in seconds.
cargo fmt --all --check
cargo clippy --release --workspace --all-targets --quiet -- -D warnings
# Also builds target/release/sisr, which the Python tests compare against.
cargo test --release --workspace
venv="$(mktemp -d)/venv"
trap 'rm -rf "$(dirname "$venv")"' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet ./crates/sisr-py numpy pytest
SISR_BIN="$PWD/target/release/sisr" "$venv/bin/python" -m pytest -q crates/sisr-py/tests
# The web app in headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core.
npm ci --prefix crates/sisr-serve/browser --no-audit --no-fund --silent
node crates/sisr-serve/browser/test.mjs "$PWD/target/release/sisr" "$PWD/target/serve-screenshot.png"
