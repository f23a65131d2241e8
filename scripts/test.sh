#!/usr/bin/env bash
# The whole test suite against the machine's Postgres and Redis: sets up what is missing, then
# runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/jm-target}"
bash scripts/setup.sh
echo "==> Building test components"
(cd tests/components && CARGO_TARGET_DIR="$CARGO_TARGET_DIR/components" \
    cargo build --release --target wasm32-wasip2 --quiet)
export JM_TEST_COMPONENTS="$CARGO_TARGET_DIR/components/wasm32-wasip2/release"
# Compiled components are cached across runs; a fresh cache only makes the first start slower.
export JM_CACHE_DIR="${JM_CACHE_DIR:-$CARGO_TARGET_DIR/jm-cache}"

# One Kafka broker for the whole run, on a free port, stopped when the run ends.
if [ -z "${JM_KAFKA_BROKERS:-}" ]; then
    port="$(python3 -c \
        'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    "${JM_TANSU:-$HOME/.cache/jm/tools/tansu}" broker --listener-url "tcp://127.0.0.1:$port" \
        --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine memory://tansu/ \
        > "$CARGO_TARGET_DIR/tansu-test.log" 2>&1 &
    tansu_pid=$!
    trap 'kill "$tansu_pid" 2>/dev/null || true' EXIT
    export JM_KAFKA_BROKERS="127.0.0.1:$port"
    for _ in $(seq 100); do
        (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
fi

# The services of spin.toml, built once here rather than by each test's `jm up`.
(cd components && cargo build --release --target wasm32-wasip2 --target-dir target --quiet)
cargo build --workspace --tests --quiet
cargo test --workspace --no-fail-fast
