#!/usr/bin/env bash
# Token endpoint scenarios: client credentials, refresh rotation and the full
# code exchange, in grants per second with p50/p99, against a release build.
# Knobs: BENCH_TOKEN_SECONDS (10), BENCH_TOKEN_CONCURRENCY (16), BENCH_TOKEN_ALG (RS256), BENCH_OUT
# (target/bench), BENCH_KEEP=1 keeps the temporary directory, BENCH_NO_BUILD=1.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
out=${BENCH_OUT:-$target/bench}
seconds=${BENCH_TOKEN_SECONDS:-10}
concurrency=${BENCH_TOKEN_CONCURRENCY:-16}
# The signing algorithm of the bench client (ID and access tokens): RS256 or ES256.
alg=${BENCH_TOKEN_ALG:-RS256}
mkdir -p "$out"
if [ -z "${BENCH_NO_BUILD:-}" ]; then
  (cd "$root" && cargo build --locked --release -p portcullis -p portcullis-bench)
fi
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
password="Bench-$(head -c 12 /dev/urandom | base64 | tr -d '/+=')!7a"
secret=$(head -c 32 /dev/urandom | base64 | tr -d '/+=\n')
hash=$(printf %s "$secret" | sha256sum | cut -d' ' -f1)
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
[[oidc.clients]]
client_id = "bench"
client_secret_hash = "sha256:$hash"
redirect_uris = ["http://127.0.0.1:9/cb"]
grant_types = ["authorization_code", "refresh_token", "client_credentials"]
scopes = ["openid", "profile", "email"]
application = "Team Wiki"
id_token_signed_response_alg = "$alg"
TOML
"$target/release/portcullis" serve --config "$dir/config.toml" > "$dir/server.log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; [ -n "${BENCH_KEEP:-}" ] || rm -rf "$dir"; }
trap cleanup EXIT
for _ in $(seq 1 150); do
  curl -sk --resolve "portal.localhost:$port:127.0.0.1" "https://portal.localhost:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
for s in client-credentials refresh code; do
  PORTCULLIS_BENCH_PASSWORD="$password" PORTCULLIS_BENCH_CLIENT_SECRET="$secret" \
    "$target/release/portcullis-bench" --json token --scenario "$s" \
    --url "https://portal.localhost:$port" --client-id bench \
    --seconds "$seconds" --concurrency "$concurrency" > "$out/token-$s-$alg.json"
done
