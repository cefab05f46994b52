#!/usr/bin/env bash
# Federated sign-in latency and throughput (see bench/federation.mjs and bench/README.md).
# Needs `scripts/install-deps.sh test` (node packages, tests/.venv with pysaml2, xmlsec1).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
if [[ -z "${PORTCULLIS_BIN:-}" ]]; then
    (cd "$repo" && cargo build --locked --release -p portcullis)
    export PORTCULLIS_BIN="$target/release/portcullis"
fi
cd "$repo/tests/e2e" && node "$repo/bench/federation.mjs"
