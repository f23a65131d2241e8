#!/usr/bin/env bash
# Runs the Job Manager on this machine: installs what is missing (scripts/setup.sh), builds the
# host, then `jm up` builds the components, migrates the databases, starts a local Kafka broker
# unless JM_KAFKA_BROKERS names one, and serves spin.toml. Arguments go to `jm up`.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/jm-target}"
bash scripts/setup.sh
cargo build --release -p jm-host --quiet
exec "$CARGO_TARGET_DIR/release/jm" up "$@"
