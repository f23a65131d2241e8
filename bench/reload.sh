#!/usr/bin/env bash
# Hot reload under load: `jm up` serves tests/components/hello while wrk drives it; the component
# is reloaded RELOADS times, alternating between two builds (hello.wasm and p2_echo.wasm, sent as
# the request body). For each reload it prints the time from sending the command to the first
# request served by the new version, seen by a probe polling on its own keep-alive connection;
# then wrk's totals: requests served and failures (non-2xx and socket errors). Both builds are
# loaded once before the measured reloads, so every measured reload swaps in a compiled component
# (goal: under 100 ms). It reports and never gates.
#
# Run:  bash bench/reload.sh
# Knobs (env): RELOADS=10 CONNECTIONS=32 THREADS=2 SKIP_BUILD=1
set -euo pipefail
cd "$(dirname "$0")/.."

RELOADS="${RELOADS:-10}"
CONNECTIONS="${CONNECTIONS:-32}"
THREADS="${THREADS:-2}"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/jm-target}"
JM="${JM:-$CARGO_TARGET_DIR/release/jm}"
COMPONENTS="$CARGO_TARGET_DIR/components/wasm32-wasip2/release"
WORK="$(mktemp -d /tmp/jm-reload-bench.XXXXXX)"
log() { echo "==> $*" >&2; }
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])'
}

if [[ -z "${SKIP_BUILD:-}" ]]; then
    bash scripts/setup.sh
    log "Building the release host"
    cargo build --release --quiet -p jm-host
    log "Building the test components"
    (cd tests/components && CARGO_TARGET_DIR="$CARGO_TARGET_DIR/components" \
        cargo build --release --target wasm32-wasip2 --quiet)
fi
command -v wrk >/dev/null || apt-get install -y wrk >/dev/null

cat >"$WORK/spin.toml" <<EOF
spin_manifest_version = 2
[application]
name = "bench-reload"
[[trigger.http]]
route = "/..."
component = "greeter"
[component.greeter]
source = "$COMPONENTS/hello.wasm"
EOF
listen="$(free_port)"
admin="$(free_port)"
RUST_LOG=warn "$JM" up -f "$WORK/spin.toml" --listen "127.0.0.1:$listen" \
    --admin "127.0.0.1:$admin" >"$WORK/jm.log" 2>&1 &
jm=$!
trap 'kill -TERM "$jm" 2>/dev/null; wait "$jm" 2>/dev/null || true' EXIT
for _ in $(seq 600); do
    curl -fs "http://127.0.0.1:$admin/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done

# The load runs for as long as the reloads take, and a little longer.
duration=$((RELOADS + 6))
log "wrk -t$THREADS -c$CONNECTIONS -d${duration}s on hello while reloading it $RELOADS times"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${duration}s" "http://127.0.0.1:$listen/" >"$WORK/wrk.out" &
wrk_pid=$!

python3 - "$listen" "$admin" "$RELOADS" "$COMPONENTS" <<'PY'
import http.client, statistics, sys, time
listen, admin, reloads, components = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
builds = [("p2_echo.wasm", b"p2 GET"), ("hello.wasm", b"Hello, world!")]
wasm = {name: open(f"{components}/{name}", "rb").read() for name, _ in builds}
probe = http.client.HTTPConnection("127.0.0.1", int(listen))
control = http.client.HTTPConnection("127.0.0.1", int(admin))

def reload(name):
    control.request("POST", "/components/greeter/reload", body=wasm[name])
    answer = control.getresponse()
    body = answer.read()
    if answer.status != 200:
        sys.exit(f"reload of {name} answered {answer.status}: {body.decode()}")

def served_by(marker):
    probe.request("GET", "/probe")
    answer = probe.getresponse()
    return answer.read().startswith(marker)

# Both builds compiled once (the cache keeps them), then back to hello.
for name, _ in builds:
    reload(name)
time.sleep(1)
times = []
for i in range(reloads):
    name, marker = builds[i % 2]
    start = time.monotonic()
    reload(name)
    acked = time.monotonic()
    while not served_by(marker):
        pass
    seen = time.monotonic()
    times.append((seen - start) * 1000)
    print(f"reload {i + 1:2} to {name:13} acknowledged in {(acked - start) * 1000:6.1f} ms, "
          f"new version serving after {(seen - start) * 1000:6.1f} ms")
    time.sleep(0.7)
times.sort()
print(f"RESULT median={statistics.median(times):.1f} max={times[-1]:.1f}")
PY
wait "$wrk_pid"
requests=$(awk '/requests in/ {print $1}' "$WORK/wrk.out")
failures=$(awk '/Non-2xx or 3xx responses:/ {n += $NF}
    /Socket errors:/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$WORK/wrk.out")
echo
echo "jm reload benchmark: $RELOADS reloads under wrk -t$THREADS -c$CONNECTIONS," \
    "$(nproc) cores, $(date -u +%F)"
echo "requests served: $requests, failures: $failures"
echo "wrk output: $WORK/wrk.out"
