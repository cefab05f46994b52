#!/usr/bin/env bash
# Sign-in scenario for Portcullis: raw argon2id hash rate, then password
# sign-ins per second with /apps page latency measured alongside, against a
# release build serving a throw-away data directory on loopback.
#
#   bash bench/run.sh
#
# Knobs (environment): BENCH_SIGNIN_SECONDS (20), BENCH_CONCURRENCY (8),
# BENCH_PAGE_CLIENTS (2), BENCH_PAGE_THINK_MS (0: closed loop),
# BENCH_BASELINE_SECONDS (5), BENCH_HASH_SECONDS (10),
# BENCH_HASH_THREADS (nproc), ARGON2_MEMORY_KIB (19456), ARGON2_ITERATIONS (2),
# ARGON2_PARALLELISM (1), BENCH_OUT (target/bench: the JSON results),
# BENCH_KEEP=1 keeps the temporary directory (config, data, server log).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in
    /*) ;;
    *) target_dir="$root/$target_dir" ;;
esac

signin_seconds="${BENCH_SIGNIN_SECONDS:-20}"
concurrency="${BENCH_CONCURRENCY:-8}"
page_clients="${BENCH_PAGE_CLIENTS:-2}"
page_think_ms="${BENCH_PAGE_THINK_MS:-0}"
baseline_seconds="${BENCH_BASELINE_SECONDS:-5}"
hash_seconds="${BENCH_HASH_SECONDS:-10}"
hash_threads="${BENCH_HASH_THREADS:-$(nproc)}"
memory_kib="${ARGON2_MEMORY_KIB:-19456}"
iterations="${ARGON2_ITERATIONS:-2}"
parallelism="${ARGON2_PARALLELISM:-1}"
out_dir="${BENCH_OUT:-$target_dir/bench}"

echo "== building (release)" >&2
cargo build --locked --release -p portcullis -p portcullis-bench
server_bin="$target_dir/release/portcullis"
bench_bin="$target_dir/release/portcullis-bench"

work="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-bench.XXXXXX")"
server_pid=""
cleanup() {
    local rc=$?
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [[ "${BENCH_KEEP:-0}" == 1 ]]; then
        echo "kept $work" >&2
    else
        rm -rf "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
url="https://portal.localhost:$port"
password="bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')-Aa1!"

cat >"$work/portcullis.toml" <<EOF
[server]
listen = "127.0.0.1:$port"
public_url = "$url"

[store]
data_dir = "$work/data"

[passwords]
argon2_memory_kib = $memory_kib
argon2_iterations = $iterations
argon2_parallelism = $parallelism

[demo]
seed = true
email = "demo@example.com"
password = "$password"

[log]
level = "warn"
EOF

echo "== starting portcullis on $url (data in $work/data)" >&2
"$server_bin" serve --config "$work/portcullis.toml" >"$work/server.log" 2>&1 &
server_pid=$!

ready=0
for _ in $(seq 1 300); do
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "portcullis exited before it was ready; its output:" >&2
        cat "$work/server.log" >&2
        exit 1
    fi
    if curl -fsk --max-time 2 --resolve "portal.localhost:$port:127.0.0.1" "$url/healthz" >/dev/null 2>&1; then
        ready=1
        break
    fi
    sleep 0.1
done
if [[ "$ready" != 1 ]]; then
    echo "portcullis did not answer /healthz within 30s; its output:" >&2
    cat "$work/server.log" >&2
    exit 1
fi

mkdir -p "$out_dir"

echo "== hashrate" >&2
"$bench_bin" --json hashrate \
    --memory-kib "$memory_kib" --iterations "$iterations" --parallelism "$parallelism" \
    --threads "$hash_threads" --seconds "$hash_seconds" \
    >"$out_dir/hashrate.json"

echo "== signin" >&2
PORTCULLIS_BENCH_PASSWORD="$password" "$bench_bin" --json signin \
    --url "$url" --email demo@example.com \
    --concurrency "$concurrency" --seconds "$signin_seconds" \
    --page-clients "$page_clients" --page-think-ms "$page_think_ms" \
    --baseline-seconds "$baseline_seconds" --server-pid "$server_pid" \
    >"$out_dir/signin.json"

kill "$server_pid"
wait "$server_pid" || true
server_pid=""
if grep -qiE 'error|panick' "$work/server.log"; then
    echo "== server log (errors seen)" >&2
    grep -iE 'error|panick' "$work/server.log" | head -20 >&2
fi

echo
echo "== results ($(nproc) cores; JSON in $out_dir)"
python3 - "$out_dir/hashrate.json" "$out_dir/signin.json" "$(nproc)" <<'PY'
import json, sys
h = json.load(open(sys.argv[1]))
s = json.load(open(sys.argv[2]))
cores = int(sys.argv[3])
ms = lambda v: "-" if v is None else f"{v:.2f} ms"
rate = h["hashes_per_second"]
sps = s["signins"]["per_second"]
print(f"argon2id m={h['memory_kib']} t={h['iterations']} p={h['parallelism']}: "
      f"{rate:.1f} hashes/s on {h['threads']} threads")
share = f" = {100 * sps / rate:.0f}% of the raw hash rate" if rate else ""
print(f"sign-ins: {sps:.1f}/s ({s['signins']['ok']} ok, {s['signins']['failed']} failed, "
      f"concurrency {s['concurrency']}, {s['seconds']:.0f} s){share}")
for why, n in s["signins"]["failures"].items():
    print(f"  sign-in failure: {why} x{n}")
print(f"Keycloak's planning figure: 15 sign-ins/s per vCPU = {15 * cores} on {cores} cores")
loop = "closed loop" if not s["page_think_ms"] else f"{s['page_think_ms']} ms think time"
for name, key in (("baseline", "pages_baseline"), ("with sign-ins", "pages_under_load")):
    p = s.get(key)
    if p:
        l = p["latency_ms"]
        print(f"/apps {name:>14}: p50 {ms(l['p50'])}, p90 {ms(l['p90'])}, "
              f"p99 {ms(l['p99'])}, max {ms(l['max'])}, {p['pages_per_second']:.0f} pages/s, "
              f"{p['errors']} errors ({s['page_clients']} clients, {loop})")
num = lambda v: "-" if v is None else f"{v:.2f}"
for name, key in (("baseline", "cpu_baseline"), ("with sign-ins", "cpu_under_load")):
    c = s.get(key)
    if c:
        print(f"CPU {name:>14}: {num(c['machine_busy_cores'])} of {c['cores']} cores busy: "
              f"server {num(c['server_cores'])}, bench client {num(c['bench_cores'])}, "
              f"other processes {num(c['other_cores'])}")
c = s.get("cpu_under_load")
if c and c.get("other_cores") and c["other_cores"] > 0.1:
    print(f"WARNING: other processes used {c['other_cores']:.2f} cores during the sign-in phase; "
          "the figures are low. Rerun on a quiet machine.")
PY
