#!/usr/bin/env bash
# LDAP scenarios: binds per second (the demo user's password, one argon2id
# verification each, with the production hashing defaults) and searches per
# second (a service account looking one user up by uid, as sshd's
# AuthorizedKeysCommand or sssd does, then a substring search that reads the
# whole directory, over a directory of BENCH_LDAP_USERS users), against a
# release build, on the plain listener on loopback (the
# engine's cost, not TLS's).
# Knobs: BENCH_LDAP_SECONDS (10), BENCH_LDAP_CONCURRENCY (16), BENCH_LDAP_USERS (200),
# BENCH_KEEP=1 keeps the temporary directory, BENCH_NO_BUILD=1; PORTCULLIS_BIN and
# PORTCULLIS_BENCH_BIN run other builds (e.g. target/debug) instead of the release ones.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
seconds=${BENCH_LDAP_SECONDS:-10}
concurrency=${BENCH_LDAP_CONCURRENCY:-16}
users=${BENCH_LDAP_USERS:-200}
if [ -z "${BENCH_NO_BUILD:-}" ]; then
  (cd "$root" && cargo build --locked --release -p portcullis -p portcullis-bench)
fi
bin=${PORTCULLIS_BIN:-$target/release/portcullis}
bench=${PORTCULLIS_BENCH_BIN:-$target/release/portcullis-bench}
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ldap_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
password="Bench-$(head -c 12 /dev/urandom | base64 | tr -d '/+=')!7a"
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
[ldap]
plain_listen = "127.0.0.1:$ldap_port"
allow_plain = true
base_dn = "dc=example,dc=com"
posix = true
TOML
cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  [ -n "${BENCH_KEEP:-}" ] && echo "kept $dir" || rm -rf "$dir"
}
trap cleanup EXIT
"$bin" serve --config "$dir/config.toml" >"$dir/server.log" 2>&1 &
pid=$!
for _ in $(seq 300); do
  curl -sk --max-time 1 "https://127.0.0.1:$port/healthz" -H "host: portal.localhost" >/dev/null && break
  sleep 0.1
done
for i in $(seq 0 $((users - 1))); do
  "$bin" admin --config "$dir/config.toml" users add --email "user$i@example.com" \
    --first-name User --last-name "Number$i" >/dev/null
done
account=$("$bin" admin --config "$dir/config.toml" --json ldap-accounts add bench --grant users,groups)
dn=$(printf %s "$account" | python3 -c 'import json,sys; print(json.load(sys.stdin)["bind_dn"])')
key=$(printf %s "$account" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
url="ldap://127.0.0.1:$ldap_port"
echo "LDAP bench: $users users, $concurrency workers, ${seconds}s each, $(nproc) cores"
PORTCULLIS_BENCH_PASSWORD="$password" "$bench" ldap --scenario bind --url "$url" \
  --bind-dn "mail=demo@example.com,ou=users,dc=example,dc=com" --concurrency "$concurrency" --seconds "$seconds"
PORTCULLIS_BENCH_PASSWORD="$key" "$bench" ldap --scenario search --url "$url" \
  --bind-dn "$dn" --filter "(&(objectClass=posixAccount)(uid=user17))" --concurrency "$concurrency" --seconds "$seconds"
# A substring search pins no user: it builds every entry it may match, so its
# rate falls with the directory's size (README, "Large directories").
PORTCULLIS_BENCH_PASSWORD="$key" "$bench" ldap --scenario search --url "$url" \
  --bind-dn "$dn" --filter "(&(objectClass=posixAccount)(cn=*Number17))" --concurrency "$concurrency" --seconds "$seconds"
