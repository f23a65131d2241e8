#!/usr/bin/env bash
# Installs what `jm` and its tests need on a fresh machine, once: the wasm32-wasip2 target and
# the test components. Safe to run again; it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/jm-target}"

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    echo "==> Adding the wasm32-wasip2 target"
    rustup target add wasm32-wasip2
fi

echo "==> Building test components"
(cd tests/components && CARGO_TARGET_DIR="$CARGO_TARGET_DIR/components" \
    cargo build --release --target wasm32-wasip2 --quiet)
