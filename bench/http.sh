#!/usr/bin/env bash
# HTTP throughput of `jm up` against two anchors, each loaded in turn with the same wrk settings:
#   hello:    tests/components/hello under `jm up` vs under `wasmtime serve` (wasmtime-cli 48.0.8),
#             like for like: a fresh instance per request (jm's default; wasmtime serve
#             --max-instance-reuse-count 1), and instances reused for up to 128 requests, 16 at
#             once (jm's `instance_reuse = 128`; wasmtime serve's default for WASI 0.3);
#             goal: jm/wasmtime >= 1.0 in both.
#   pg_query: tests/components/pg-query (one Postgres query per request) under `jm up` vs the native
#             axum + sqlx server in bench/pg-native running the same query; goal: jm/native >= 0.7.
# It also prints jm's resident memory (VmRSS) idle, after start-up, and its peak under load.
# It reports and never gates: it exits 0 when a goal is missed.
#
# Run:  bash bench/http.sh
# Knobs (env): DURATION=10s CONNECTIONS=32 THREADS=2 WARMUP=2s BASE_PORT=38080 SKIP_BUILD=1
#              PG_URL=postgres://postgres@127.0.0.1:5432/jm_bench WASMTIME=/path/to/wasmtime
#              JM=/path/to/jm (with SKIP_BUILD=1: measure a jm built elsewhere)
# Needs Postgres on 127.0.0.1:5432 (user postgres, trust) and installs wrk with apt if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
THREADS="${THREADS:-2}"
WARMUP="${WARMUP:-2s}"
BASE_PORT="${BASE_PORT:-38080}"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432/jm_bench}"
PG_SERVER_URL="${PG_URL%/*}/postgres"
WASMTIME_VERSION=48.0.8
HELLO_GOAL=1.0
PG_GOAL=0.7

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/jm-target}"
JM="${JM:-$CARGO_TARGET_DIR/release/jm}"
COMPONENTS="$CARGO_TARGET_DIR/components/wasm32-wasip2/release"
PG_NATIVE="$CARGO_TARGET_DIR/bench/release/pg-native"

WORK="$(mktemp -d /tmp/jm-bench.XXXXXX)"
SERVER_PIDS=()

# Stops every server this script started (TERM, then KILL after 5 s) and any RSS sampler.
cleanup() {
    local pid
    for pid in "${SERVER_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${SERVER_PIDS[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [[ -n "${SAMPLER_PID:-}" ]]; then kill "$SAMPLER_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "==> $*" >&2; }

# ---------------------------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------------------------
if ! command -v wrk >/dev/null; then
    log "Installing wrk"
    if ! apt-get install -y wrk >/dev/null 2>&1; then
        apt-get update >/dev/null
        apt-get install -y wrk >/dev/null
    fi
fi

WASMTIME="${WASMTIME:-$(command -v wasmtime || echo "$HOME/.cargo/bin/wasmtime")}"
WASMTIME_PROBLEM=""
if [[ ! -x "$WASMTIME" ]]; then
    WASMTIME_PROBLEM="wasmtime not found; install it with:"
    WASMTIME_PROBLEM+=" cargo install wasmtime-cli --version $WASMTIME_VERSION --locked"
elif ! "$WASMTIME" --version | grep -q "wasmtime $WASMTIME_VERSION"; then
    WASMTIME_PROBLEM="$WASMTIME is $("$WASMTIME" --version), not $WASMTIME_VERSION;"
    WASMTIME_PROBLEM+=" install it with:"
    WASMTIME_PROBLEM+=" cargo install wasmtime-cli --version $WASMTIME_VERSION --locked --force"
fi
if [[ -n "$WASMTIME_PROBLEM" ]]; then log "$WASMTIME_PROBLEM"; fi

# ---------------------------------------------------------------------------------------------
# Builds: one at a time (the machine has two cores).
# ---------------------------------------------------------------------------------------------
if [[ -z "${SKIP_BUILD:-}" ]]; then
    log "Building the release host"
    cargo build --release --quiet -p jm-host
    bash scripts/setup.sh
    log "Building the test components"
    (cd tests/components && CARGO_TARGET_DIR="$CARGO_TARGET_DIR/components" \
        cargo build --release --target wasm32-wasip2 --quiet)
    log "Building bench/pg-native"
    (cd bench/pg-native && CARGO_TARGET_DIR="$CARGO_TARGET_DIR/bench" cargo build --release --quiet)
fi
for file in "$JM" "$COMPONENTS/hello.wasm" "$COMPONENTS/pg_query.wasm" "$PG_NATIVE"; do
    [[ -f "$file" ]] || { echo "missing $file (run without SKIP_BUILD)" >&2; exit 1; }
done

# ---------------------------------------------------------------------------------------------
# Database: jm_bench with bench_item(id, name) holding ids 1..=1000 (idempotent).
# ---------------------------------------------------------------------------------------------
DB_NAME="${PG_URL##*/}"
log "Preparing database $DB_NAME"
if ! psql "$PG_SERVER_URL" -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'" \
    | grep -qx 1; then
    psql "$PG_SERVER_URL" -q -c "CREATE DATABASE \"$DB_NAME\""
fi
psql "$PG_URL" -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE IF NOT EXISTS bench_item (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO bench_item (id, name)
    SELECT g, 'item ' || g FROM generate_series(1, 1000) AS g
    ON CONFLICT (id) DO NOTHING;
SQL

# ---------------------------------------------------------------------------------------------
# Manifests
# ---------------------------------------------------------------------------------------------
mkdir -p "$WORK/hello" "$WORK/reuse" "$WORK/pg"
cat >"$WORK/hello/spin.toml" <<EOF
spin_manifest_version = 2
[application]
name = "bench-hello"
[[trigger.http]]
route = "/..."
component = "hello"
[component.hello]
source = "$COMPONENTS/hello.wasm"
EOF
sed 's/^source = .*/&\ninstance_reuse = 128/' "$WORK/hello/spin.toml" >"$WORK/reuse/spin.toml"
cat >"$WORK/pg/spin.toml" <<EOF
spin_manifest_version = 2
[application]
name = "bench-pg"
[variables]
pg_url = { default = "$PG_URL" }
[[trigger.http]]
route = "/..."
component = "pg"
[component.pg]
source = "$COMPONENTS/pg_query.wasm"
allowed_outbound_hosts = ["postgres://127.0.0.1"]
variables = { pg_url = "{{ pg_url }}" }
EOF

# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------
NEXT_PORT=$BASE_PORT
# Sets PORT to a fresh loopback port.
take_port() { PORT=$NEXT_PORT; NEXT_PORT=$((NEXT_PORT + 1)); }

# start NAME URL CMD...: starts CMD in the background with its output in $WORK/NAME.log and sets
# PID; waits until URL answers with a 2xx, up to 120 s. Returns 1 if it dies or never answers.
start() {
    local name=$1 url=$2
    shift 2
    "$@" >"$WORK/$name.log" 2>&1 &
    PID=$!
    SERVER_PIDS+=("$PID")
    for _ in $(seq 1200); do
        if ! kill -0 "$PID" 2>/dev/null; then
            echo "$name exited during start-up; its log:" >&2
            tail -20 "$WORK/$name.log" >&2
            return 1
        fi
        if curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "$name did not answer $url within 120 s; its log:" >&2
    tail -20 "$WORK/$name.log" >&2
    return 1
}

# stop PID: TERM, then KILL after 5 s.
stop() {
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null || true
}

# rss_kib PID: the process's resident memory in KiB.
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# load NAME URL PID: a warm-up run, then the measured run with PID's RSS sampled every 100 ms.
# Sets RPS, ERRORS (non-2xx/3xx responses plus socket errors) and PEAK_KIB.
load() {
    local name=$1 url=$2 pid=$3 out="$WORK/$1.wrk"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" "$url" >/dev/null
    (
        while kill -0 "$pid" 2>/dev/null; do
            rss_kib "$pid" 2>/dev/null || true
            sleep 0.1
        done
    ) >"$WORK/$name.rss" &
    SAMPLER_PID=$!
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url" >"$out"
    kill "$SAMPLER_PID" 2>/dev/null || true
    wait "$SAMPLER_PID" 2>/dev/null || true
    SAMPLER_PID=""
    RPS=$(awk '/^Requests\/sec:/ {print $2}' "$out")
    ERRORS=$(awk '/Non-2xx or 3xx responses:/ {n += $NF}
        /Socket errors:/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$out")
    PEAK_KIB=$(sort -n "$WORK/$name.rss" | tail -1)
    PEAK_KIB=${PEAK_KIB:-0}
    log "$name: $RPS req/s, $ERRORS errors, p99 $(awk '/^ +99%/ {print $2}' "$out")"
}

# check_body URL TEXT: the first response's body must contain TEXT.
check_body() {
    local body
    body=$(curl -fsS --max-time 5 "$1") || return 1
    if [[ "$body" != *"$2"* ]]; then
        echo "unexpected body from $1: $body" >&2
        return 1
    fi
}

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# One result line per measured side: "CASE SIDE RPS ERRORS IDLE_KIB PEAK_KIB".
RESULTS=()
# Notes printed under the table.
NOTES=()

# run_jm CASE MANIFEST_DIR CHECK_TEXT
run_jm() {
    local case=$1 dir=$2 text=$3 listen admin idle
    take_port
    listen=$PORT
    take_port
    admin=$PORT
    local url="http://127.0.0.1:$listen/"
    log "$case: starting jm up on $url"
    if ! start "jm-$case" "$url" "$JM" up -f "$dir/spin.toml" --listen "127.0.0.1:$listen" \
        --admin "127.0.0.1:$admin"; then
        NOTES+=("$case: jm up failed to serve (log: $WORK/jm-$case.log)")
        RESULTS+=("$case jm - - - -")
        return 0
    fi
    local pid=$PID
    check_body "$url" "$text" || NOTES+=("$case: jm answered an unexpected body")
    sleep 1
    idle=$(rss_kib "$pid")
    load "jm-$case" "$url" "$pid"
    RESULTS+=("$case jm $RPS $ERRORS $idle $PEAK_KIB")
    stop "$pid"
}

# run_anchor CASE SIDE CHECK_TEXT URL CMD...
run_anchor() {
    local case=$1 side=$2 text=$3 url=$4 idle
    shift 4
    log "$case: starting $side on $url"
    if ! start "$side-$case" "$url" "$@"; then
        NOTES+=("$case: $side failed to serve (log: $WORK/$side-$case.log)")
        RESULTS+=("$case $side - - - -")
        return 0
    fi
    local pid=$PID
    check_body "$url" "$text" || NOTES+=("$case: $side answered an unexpected body")
    sleep 1
    idle=$(rss_kib "$pid")
    load "$side-$case" "$url" "$pid"
    RESULTS+=("$case $side $RPS $ERRORS $idle $PEAK_KIB")
    stop "$pid"
}

# ---------------------------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------------------------
log "wrk -t$THREADS -c$CONNECTIONS -d$DURATION (after a $WARMUP warm-up), one server at a time"

# Case `hello`: a fresh instance per request on both sides (wasmtime serve
# --max-instance-reuse-count 1). Case `reuse`: wasmtime serve's default for a WASI 0.3
# component, an instance for up to 128 requests, 16 at once, against jm's `instance_reuse = 128`.
run_jm hello "$WORK/hello" "Hello, world!"
run_jm reuse "$WORK/reuse" "Hello, world!"
if [[ -z "$WASMTIME_PROBLEM" ]]; then
    take_port
    run_anchor hello wasmtime "Hello, world!" "http://127.0.0.1:$PORT/" \
        "$WASMTIME" serve -Scli -Wcomponent-model-async=y -Sp3=y --addr "127.0.0.1:$PORT" \
        --max-instance-reuse-count 1 "$COMPONENTS/hello.wasm"
    take_port
    run_anchor reuse wasmtime "Hello, world!" "http://127.0.0.1:$PORT/" \
        "$WASMTIME" serve -Scli -Wcomponent-model-async=y -Sp3=y --addr "127.0.0.1:$PORT" \
        "$COMPONENTS/hello.wasm"
else
    NOTES+=("hello: wasmtime serve not run: $WASMTIME_PROBLEM")
    RESULTS+=("hello wasmtime - - - -" "reuse wasmtime - - - -")
fi

run_jm pg "$WORK/pg" '"name"'
take_port
run_anchor pg native '"name"' "http://127.0.0.1:$PORT/" \
    env PG_URL="$PG_URL" "$PG_NATIVE" "127.0.0.1:$PORT"

# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
field() { # field CASE SIDE INDEX
    local line
    for line in "${RESULTS[@]}"; do
        read -r -a f <<<"$line"
        if [[ "${f[0]}" == "$1" && "${f[1]}" == "$2" ]]; then echo "${f[$3]}"; return; fi
    done
    echo -
}

echo
echo "jm HTTP benchmark: wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $(nproc) cores, $(date -u +%F)"
printf '%-9s %-9s %12s %12s %7s %6s %s\n' case anchor "jm req/s" "anchor req/s" ratio goal met
for pair in "hello wasmtime $HELLO_GOAL" "reuse wasmtime $HELLO_GOAL" "pg native $PG_GOAL"; do
    read -r case side goal <<<"$pair"
    ours=$(field "$case" jm 2)
    theirs=$(field "$case" "$side" 2)
    ratio=- met=-
    if [[ "$ours" != - && "$theirs" != - ]]; then
        ratio=$(awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "%.2f", a / b }')
        met=$(awk -v r="$ratio" -v g="$goal" 'BEGIN { print (r >= g ? "yes" : "NO") }')
    fi
    if [[ "$goal" == info ]]; then met="(no goal)"; else goal=">= $goal"; fi
    printf '%-9s %-9s %12s %12s %7s %6s %s\n' "$case" "$side" "$ours" "$theirs" "$ratio" \
        "$goal" "$met"
done

echo
printf '%-9s %-9s %14s %14s %8s\n' case server "idle RSS MiB" "peak RSS MiB" errors
for case_side in "hello jm" "hello wasmtime" "reuse jm" "reuse wasmtime" "pg jm" "pg native"; do
    read -r case side <<<"$case_side"
    idle=$(field "$case" "$side" 4)
    peak=$(field "$case" "$side" 5)
    [[ "$idle" == - ]] || idle=$(mib "$idle")
    [[ "$peak" == - ]] || peak=$(mib "$peak")
    printf '%-9s %-9s %14s %14s %8s\n' "$case" "$side" "$idle" "$peak" "$(field "$case" "$side" 3)"
done

if ((${#NOTES[@]})); then
    echo
    printf 'note: %s\n' "${NOTES[@]}"
fi
echo
echo "hello: a fresh instance per request; reuse: up to 128 requests an instance, 16 at once"
echo "logs and wrk output: $WORK"
exit 0
