#!/usr/bin/env bash
# Load script: p50 and p99 of registration and login with 20 concurrent clients against the
# whole Job Manager (spin.toml, a local Tansu broker, the machine's Postgres and Redis).
# Run: bash bench/auth-load.sh [CLIENTS] [PER_CLIENT]   (defaults 20 and 10)
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/jm-target}"
bash scripts/setup.sh >/dev/null
cargo build --release -p jm-host --quiet
(cd components && cargo build --release --target wasm32-wasip2 --target-dir target --quiet)

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])'
}
port="$(free_port)"
admin="$(free_port)"
log="$(mktemp)"
env -u JM_KAFKA_BROKERS RUST_LOG=warn "$CARGO_TARGET_DIR/release/jm" up \
    --listen "127.0.0.1:$port" --admin "127.0.0.1:$admin" >"$log" 2>&1 &
jm=$!
trap 'kill -TERM "$jm" 2>/dev/null; wait "$jm" 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 600); do
    curl -fs "http://127.0.0.1:$admin/readyz" >/dev/null 2>&1 && break
    kill -0 "$jm" 2>/dev/null || { cat "$log"; exit 1; }
    sleep 0.2
done
python3 bench/auth_load.py "http://127.0.0.1:$port" "${1:-20}" "${2:-10}"
