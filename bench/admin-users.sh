#!/usr/bin/env bash
# Admin API user list and search with many users: seeds BENCH_USERS (100,000)
# users into a throw-away SQLite data directory, then times
# GET /api/admin/v1/users one request at a time over a kept-alive connection
# for each scenario (first page, a deep page, a text search, a group filter,
# a locked filter) and prints p50, p99 and max. Issue 19 asks p99 < 100 ms.
#
#   bash bench/admin-users.sh
#
# Knobs (environment): BENCH_USERS (100000), BENCH_REQUESTS (300 per
# scenario), PORTCULLIS_BIN (that binary instead of building the release
# one), BENCH_KEEP=1 keeps the temporary directory.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in
    /*) ;;
    *) target_dir="$root/$target_dir" ;;
esac
users="${BENCH_USERS:-100000}"
requests="${BENCH_REQUESTS:-300}"
for tool in curl python3 sqlite3; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing (scripts/install-deps.sh test)" >&2; exit 1; }
done
if [[ -n "${PORTCULLIS_BIN:-}" ]]; then
    bin="$PORTCULLIS_BIN"
else
    cargo build --locked --release -p portcullis >&2
    bin="$target_dir/release/portcullis"
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-bench-admin.XXXXXX")"
pid=""
cleanup() {
    if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    if [[ -z "${BENCH_KEEP:-}" ]]; then rm -rf "$tmp"; else echo "kept $tmp" >&2; fi
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
mkdir -p "$tmp/policies"
cat >"$tmp/portcullis.toml" <<CONF
[server]
listen = "127.0.0.1:$port"
public_url = "http://portal.localhost:$port"
plain_http = true
[gateway]
policies_dir = "$tmp/policies"
[store]
data_dir = "$tmp/data"
[passwords]
argon2_memory_kib = 8192
argon2_iterations = 1
[demo]
password = "Bench-Passw0rd!$RANDOM"
[log]
level = "warn"
CONF
"$bin" serve --config "$tmp/portcullis.toml" >>"$tmp/portcullis.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.2
done
curl -fs "http://127.0.0.1:$port/healthz" >/dev/null || { echo "bench: portcullis did not start" >&2; tail -20 "$tmp/portcullis.log" >&2; exit 1; }

# The users go straight into the database (the API would take minutes to
# create 100,000 and is not what is measured); every tenth is in a group,
# every hundredth locked.
sqlite3 "$tmp/data/portcullis.db" <<SQL
PRAGMA busy_timeout = 10000;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $users)
INSERT INTO users (id, email, first_name, last_name, username, created_at, locked_reason, search)
SELECT 'bench-' || i, printf('user%06d@example.com', i), 'First' || (i % 997), 'Last' || i,
       'user' || i, 0, CASE WHEN i % 100 = 0 THEN 'admin' END,
       lower(printf('user%06d@example.com First%d Last%d user%d', i, i % 997, i, i)) FROM n;
INSERT INTO groups (id, name, created_at) VALUES ('bench-group', 'bench-group', 0);
INSERT INTO group_members (group_id, user_id) SELECT 'bench-group', id FROM users WHERE id LIKE 'bench-%0';
COMMIT;
SQL
echo "seeded $(sqlite3 "$tmp/data/portcullis.db" 'SELECT count(*) FROM users') users" >&2

secret="$("$bin" admin --config "$tmp/portcullis.toml" --json clients add --client-id bench \
    --grant client_credentials --scope portcullis:audit | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')"
token="$(curl -fs -u "bench:$secret" -H 'Host: portal.localhost' \
    -d grant_type=client_credentials -d scope=portcullis:audit \
    "http://127.0.0.1:$port/oauth2/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"

python3 - "$port" "$token" "$requests" "$users" <<'PY'
import http.client, json, sys, time
port, token, n, users = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
conn = http.client.HTTPConnection("127.0.0.1", port)
headers = {"Host": "portal.localhost", "Authorization": f"Bearer {token}"}
scenarios = [
    ("first page", "/api/admin/v1/users?limit=50"),
    ("deep page", f"/api/admin/v1/users?offset={users - 1000}&limit=50"),
    ("text search", "/api/admin/v1/users?text=last4242&limit=50"),
    ("group filter", "/api/admin/v1/users?group=bench-group&offset=5000&limit=50"),
    ("locked filter", "/api/admin/v1/users?locked=true&limit=50"),
]
print(f"{'scenario':<14} {'total':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
worst = 0.0
for name, path in scenarios:
    times = []
    total = None
    for i in range(n + 10):
        t0 = time.perf_counter()
        conn.request("GET", path, headers=headers)
        res = conn.getresponse()
        body = res.read()
        dt = (time.perf_counter() - t0) * 1000
        if res.status != 200:
            sys.exit(f"{name}: {res.status} {body[:300]!r}")
        if i >= 10:  # the first requests warm the caches
            times.append(dt)
        total = json.loads(body)["total"]
    times.sort()
    p = lambda q: times[min(len(times) - 1, int(q * len(times)))]
    worst = max(worst, p(0.99))
    print(f"{name:<14} {total:>7} {p(0.5):>8.1f} {p(0.99):>8.1f} {times[-1]:>8.1f}")
print(f"worst p99: {worst:.1f} ms (target < 100 ms)")
PY
