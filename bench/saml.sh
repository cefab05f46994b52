#!/usr/bin/env bash
# SAML scenario: complete SP-initiated SSO round trips per second for a signed-in
# user (AuthnRequest over HTTP-Redirect, validation, replay record, signed Response
# and Assertion), with p50/p99, against a release build.
# Knobs: BENCH_SAML_SECONDS (10), BENCH_SAML_CONCURRENCY (16), BENCH_OUT (target/bench),
# BENCH_KEEP=1 keeps the temporary directory, BENCH_NO_BUILD=1.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
out=${BENCH_OUT:-$target/bench}
seconds=${BENCH_SAML_SECONDS:-10}
concurrency=${BENCH_SAML_CONCURRENCY:-16}
mkdir -p "$out"
if [ -z "${BENCH_NO_BUILD:-}" ]; then
  (cd "$root" && cargo build --locked --release -p portcullis -p portcullis-bench)
fi
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
password="Bench-$(head -c 12 /dev/urandom | base64 | tr -d '/+=')!7a"
sp="https://bench-sp.localhost/metadata"
cat > "$dir/config.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
public_url = "https://portal.localhost:$port"
[store]
data_dir = "$dir/data"
[demo]
password = "$password"
[log]
level = "warn"
[[saml.service_providers]]
entity_id = "$sp"
acs = [{ url = "http://127.0.0.1:9/acs" }]
application = "Team Wiki"
TOML
"$target/release/portcullis" serve --config "$dir/config.toml" > "$dir/server.log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; [ -n "${BENCH_KEEP:-}" ] || rm -rf "$dir"; }
trap cleanup EXIT
for _ in $(seq 1 150); do
  curl -sk --resolve "portal.localhost:$port:127.0.0.1" "https://portal.localhost:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
PORTCULLIS_BENCH_PASSWORD="$password" "$target/release/portcullis-bench" --json saml \
  --url "https://portal.localhost:$port" --sp "$sp" \
  --seconds "$seconds" --concurrency "$concurrency" > "$out/saml-sso.json"
python3 - "$out/saml-sso.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
lat = r["latency_ms"]
print("SAML SSO round trips/s: %.1f  p50 %.2f ms  p99 %.2f ms  failures %d"
      % (r["round_trips_per_second"], lat["p50"], lat["p99"], r["failures"]))
PY
