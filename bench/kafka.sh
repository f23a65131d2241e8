#!/usr/bin/env bash
# Kafka throughput and request-reply latency of `jm up`, on one Tansu broker:
#   throughput: N Avro messages pre-loaded into a fresh topic, then drained by
#               - decode:  bench/kafka-native, an rdkafka consumer decoding each value as the host
#                 does (marker, fingerprint, Avro datum to JSON) and committing in batches;
#               - native:  the same consumer doing what jm's trigger does around the handler:
#                 CONCURRENCY lanes by partition and key, each taking what is queued as a
#                 batch, the batch's message-ids checked in one round trip and each handled one
#                 recorded through one Redis writer shared by the lanes, commits every 100 ms;
#               - jm:      tests/components/kafka-bench, whose handler accepts every message, under
#                 `jm up` (a fresh instance per message unless INSTANCE_REUSE says otherwise,
#                 ordered commits, message-id dedup in Redis).
#               Each rate is counted from the first message handled to the last; the goal,
#               jm/native >= 0.7, is judged against the native consumer doing the same work.
#   request-reply: p50 and p99 of `GET /ping` on kafka-bench, which sends one request to
#               BENCH_PING and waits for the reply the same component's handler sends back.
# It reports and never gates: it exits 0 when a goal is missed.
#
# Run:  bash bench/kafka.sh
# Knobs (env): MESSAGES=60000 CONCURRENCY=16 PINGS=500 SKIP_BUILD=1
#              INSTANCE_REUSE=1 (the component's `instance_reuse`: 128 keeps an instance per lane)
#              JM_KAFKA_BROKERS=host:port (default: a Tansu broker started here)
set -euo pipefail
cd "$(dirname "$0")/.."

MESSAGES="${MESSAGES:-60000}"
CONCURRENCY="${CONCURRENCY:-16}"
PINGS="${PINGS:-500}"
INSTANCE_REUSE="${INSTANCE_REUSE:-1}"
GOAL=0.7

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/jm-target}"
JM="${JM:-$CARGO_TARGET_DIR/release/jm}"
COMPONENTS="$CARGO_TARGET_DIR/components/wasm32-wasip2/release"
NATIVE="$CARGO_TARGET_DIR/bench/release/kafka-native"
WORK="$(mktemp -d /tmp/jm-kafka-bench.XXXXXX)"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM
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
    log "Building bench/kafka-native"
    (cd bench/kafka-native &&
        CARGO_TARGET_DIR="$CARGO_TARGET_DIR/bench" cargo build --release --quiet)
fi

if [[ -z "${JM_KAFKA_BROKERS:-}" ]]; then
    port="$(free_port)"
    "${JM_TANSU:-$HOME/.cache/jm/tools/tansu}" broker --listener-url "tcp://127.0.0.1:$port" \
        --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine memory://tansu/ \
        >"$WORK/tansu.log" 2>&1 &
    PIDS+=($!)
    export JM_KAFKA_BROKERS="127.0.0.1:$port"
    for _ in $(seq 100); do
        (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
    log "Tansu on $JM_KAFKA_BROKERS"
fi

stamp="$(date +%s)"
TOPIC="BENCH_EVENTS_$stamp"
mkdir -p "$WORK/app/avro"
"$NATIVE" schema >"$WORK/app/avro/$TOPIC.avsc"
ping='{"type":"record","name":"Ping","namespace":"jm.bench","doc":"A benchmark ping",
 "fields":[{"name":"id","type":"string"},{"name":"text","type":"string"}]}'
echo "$ping" >"$WORK/app/avro/BENCH_PING.avsc"
echo "$ping" >"$WORK/app/avro/BENCH_PING_REPLY.avsc"
cat >"$WORK/app/spin.toml" <<EOF
spin_manifest_version = 2
[application]
name = "kafka-bench"
[application.trigger.kafka]
partitions = 3
# The bench's message ids need not outlive it.
dedup_ttl_secs = 600
client = { "session.timeout.ms" = "6000", "max.poll.interval.ms" = "10000" }
[[trigger.http]]
route = "/ping"
component = "bench"
[[trigger.kafka]]
component = "bench"
topics = ["$TOPIC", "BENCH_PING"]
group = "jm-bench-$stamp"
concurrency = $CONCURRENCY
[component.bench]
source = "$COMPONENTS/kafka_bench.wasm"
kafka_publish = ["BENCH_PING", "BENCH_PING_REPLY"]
instance_reuse = $INSTANCE_REUSE
EOF

log "Producing $MESSAGES messages to $TOPIC"
"$NATIVE" produce "$TOPIC" "$MESSAGES" >&2

log "decode: draining $TOPIC"
decode_rate=$("$NATIVE" consume "$TOPIC" "decode-$stamp" "$MESSAGES" | tee /dev/stderr |
    sed -n 's/^RESULT rate=//p')
log "native: draining $TOPIC on $CONCURRENCY lanes with Redis de-duplication"
native=$(LANES="$CONCURRENCY" "$NATIVE" consume-dedup "$TOPIC" "native-$stamp" "$MESSAGES" |
    tee /dev/stderr | sed -n 's/^RESULT //p')
native_rate=$(sed -n 's/.*rate=\([^ ]*\).*/\1/p' <<<"$native")
native_cpu=$(sed -n 's/.*cpu_us=\([^ ]*\).*/\1/p' <<<"$native")

log "jm: draining $TOPIC with concurrency $CONCURRENCY"
listen="$(free_port)"
admin="$(free_port)"
RUST_LOG=warn "$JM" up -f "$WORK/app/spin.toml" --listen "127.0.0.1:$listen" \
    --admin "127.0.0.1:$admin" >"$WORK/jm.log" 2>&1 &
jm_pid=$!
PIDS+=("$jm_pid")
# Counts handled messages from /metrics every 20 ms; prints the rate from the first to the last
# and jm's CPU time per message over the same span.
jm=$(python3 - "http://127.0.0.1:$admin/metrics" "$MESSAGES" "jm-bench-$stamp" "$jm_pid" <<'PY'
import sys, time, urllib.request
url, total, group, pid = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def cpu():
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100
def handled():
    try:
        text = urllib.request.urlopen(url, timeout=2).read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("jm_kafka_messages_total") and f'group="{group}"' in line:
            return int(float(line.split()[-1]))
    return 0
start = time.monotonic()
first = None
count = 0
while count < total:
    if time.monotonic() - start > 600:
        sys.exit(f"jm handled {count} of {total} messages in 600 s")
    count = handled() or 0
    now = time.monotonic()
    if count and first is None:
        first, first_count, first_cpu = now, count, cpu()
    time.sleep(0.02)
secs = now - first
rate = (count - first_count) / secs if secs > 0 else float("nan")
used = cpu() - first_cpu
print(f"jm handled {count} messages, {secs:.2f} s from the first to the last, "
      f"{used:.2f} s of CPU", file=sys.stderr)
print(f"{rate:.1f} {used * 1e6 / (count - first_count):.1f}")
PY
)
read -r jm_rate jm_cpu <<<"$jm"

log "request-reply: $PINGS sequential GET /ping"
pings=$("$NATIVE" http-latency "http://127.0.0.1:$listen/ping" "$PINGS" | tee /dev/stderr |
    sed -n 's/^RESULT //p')
rss=$(awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$jm_pid/status")

echo
echo "jm Kafka benchmark: $MESSAGES messages, 3 partitions, concurrency $CONCURRENCY," \
    "instance_reuse $INSTANCE_REUSE, $(nproc) cores, $(date -u +%F)"
ratio=$(awk -v a="$jm_rate" -v b="$native_rate" 'BEGIN { printf "%.2f", a / b }')
met=$(awk -v r="$ratio" -v g="$GOAL" 'BEGIN { print (r >= g ? "yes" : "NO") }')
bare=$(awk -v a="$jm_rate" -v b="$decode_rate" 'BEGIN { printf "%.2f", a / b }')
printf '%-10s %11s %-22s %13s %7s %7s %s\n' case "jm msgs/s" anchor "anchor msgs/s" ratio goal met
printf '%-10s %11s %-22s %13s %7s %7s %s\n' throughput "$jm_rate" "native, same work" \
    "$native_rate" "$ratio" ">= $GOAL" "$met"
printf '%-10s %11s %-22s %13s %7s %7s %s\n' throughput "$jm_rate" "native, decode only" \
    "$decode_rate" "$bare" - "(no goal)"
echo "CPU per message, from the first message to the last: jm $jm_cpu µs," \
    "native (same work) $native_cpu µs (the broker's and Redis's not counted)"
echo
echo "request-reply round trip through HTTP and Kafka ($PINGS sequential): $pings (ms)"
echo "jm resident memory after the run: $rss MiB"
echo "logs: $WORK"
