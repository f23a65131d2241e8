#!/usr/bin/env bash
# The whole test suite against the machine's Postgres and Redis: sets up what is missing, then
# runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/jm-target}"
bash scripts/setup.sh
export JM_TEST_COMPONENTS="$CARGO_TARGET_DIR/components/wasm32-wasip2/release"
# Compiled components are cached across runs; a fresh cache only makes the first start slower.
export JM_CACHE_DIR="${JM_CACHE_DIR:-$CARGO_TARGET_DIR/jm-cache}"

cargo test --workspace
