#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what is missing, then lints, then
# runs unit tests, the integration tests against real servers, and the alert rule
# tests. Any missing tool is a failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

echo "== format and lint"
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings

echo "== tests"
cargo nextest run --locked --profile ci "$@"
