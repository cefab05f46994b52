#!/usr/bin/env bash
# Scale-out scenario: the same load against one instance and against three
# instances sharing PostgreSQL (state) and Redis (sessions), on this machine.
#
#   sign-ins/s     portcullis-bench signin, one process per instance (the load
#                  split evenly, as a balancer would), summed
#   proxied req/s  wrk with a valid application cookie, one wrk per instance
#                  (connections split evenly), summed
#
# Plain HTTP (server.plain_http) so TLS does not dominate; OWASP argon2id
# parameters (the server's defaults); release build. PostgreSQL is Debian's,
# started by scripts/pg-test-server.sh in a temporary directory; Redis is
# redis-server on a free port; the upstream is nginx answering a fixed 200.
#
#   bash bench/scaleout.sh
#
# Knobs (environment): BENCH_SECONDS (10, each measurement), BENCH_CONCURRENCY
# (12 sign-in workers in all), BENCH_CONNECTIONS (48 wrk connections in all),
# BENCH_INSTANCES ("1 3"), PORTCULLIS_BIN / BENCH_BIN (use these binaries
# instead of building), BENCH_KEEP=1 keeps the temporary directory.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in
    /*) ;;
    *) target_dir="$root/$target_dir" ;;
esac
seconds="${BENCH_SECONDS:-10}"
concurrency="${BENCH_CONCURRENCY:-12}"
connections="${BENCH_CONNECTIONS:-48}"
instance_counts="${BENCH_INSTANCES:-1 3}"

for tool in wrk nginx curl redis-server python3; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing (scripts/install-deps.sh test)" >&2; exit 1; }
done

if [[ -n "${PORTCULLIS_BIN:-}" && -n "${BENCH_BIN:-}" ]]; then
    bin="$PORTCULLIS_BIN"
    bench_bin="$BENCH_BIN"
else
    echo "== building (release)" >&2
    cargo build --locked --release -p portcullis -p portcullis-bench >&2
    bin="$target_dir/release/portcullis"
    bench_bin="$target_dir/release/portcullis-bench"
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-bench-scale.XXXXXX")"
pids=()
pg_dir=""
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [[ -f "$tmp/nginx.pid" ]]; then kill "$(cat "$tmp/nginx.pid")" 2>/dev/null || true; fi
    [[ -n "$pg_dir" ]] && bash scripts/pg-test-server.sh stop "$pg_dir"
    if [[ -z "${BENCH_KEEP:-}" ]]; then rm -rf "$tmp"; else echo "kept $tmp" >&2; fi
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Shared services.
{ read -r pg_url; read -r pg_dir; } < <(bash scripts/pg-test-server.sh start $$)
psql="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)/psql"
redis_port="$(free_port)"
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no >"$tmp/redis.log" 2>&1 &
pids+=($!)
up_port="$(free_port)"
mkdir -p "$tmp/nginx"
cat >"$tmp/nginx.conf" <<CONF
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/nginx/error.log warn;
daemon on;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $tmp/nginx;
    proxy_temp_path $tmp/nginx;
    fastcgi_temp_path $tmp/nginx;
    uwsgi_temp_path $tmp/nginx;
    scgi_temp_path $tmp/nginx;
    server {
        listen 127.0.0.1:$up_port;
        location / { default_type text/plain; return 200 "hello from the upstream\n"; }
    }
}
CONF
nginx -c "$tmp/nginx.conf" -p "$tmp/nginx" 2>"$tmp/nginx-start.log"
mkdir -p "$tmp/policies"
cat >"$tmp/policies/bench.toml" <<POL
host = "bench.localhost"
upstreams = ["127.0.0.1:$up_port"]
groups = ["Staff"]
POL
password="Bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')-Aa1!"
master_key="$(head -c 32 /dev/urandom | base64)"

# Starts instance $2 of run $1 on a free port; appends the port to `ports`.
start_instance() {
    local run="$1" i="$2" port
    port="$(free_port)"
    mkdir -p "$tmp/$run/$i"
    cat >"$tmp/$run/$i/portcullis.toml" <<CONF
[server]
listen = "127.0.0.1:$port"
public_url = "http://portal.localhost:$port"
plain_http = true
[gateway]
policies_dir = "$tmp/policies"
[store]
data_dir = "$tmp/$run/$i/data"
database_url = "${pg_url%/postgres}/$run"
[secrets]
master_key = "$master_key"
[sessions]
store = "redis"
redis_url = "redis://127.0.0.1:$redis_port/0"
redis_prefix = "$run:"
[demo]
password = "$password"
[log]
level = "warn"
CONF
    "$bin" serve --config "$tmp/$run/$i/portcullis.toml" >"$tmp/$run/$i/server.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 300); do
        curl -fs --max-time 2 "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && { ports+=("$port"); return; }
        sleep 0.2
    done
    echo "bench: instance $i of $run did not start" >&2
    cat "$tmp/$run/$i/server.log" >&2
    exit 1
}

# An application cookie through instance $1 (sign-in and handshake with curl).
app_cookie() {
    local port="$1" jar="$tmp/jar.$1" portal="http://portal.localhost:$1" app="http://bench.localhost:$1"
    local R=(--resolve "portal.localhost:$port:127.0.0.1" --resolve "bench.localhost:$port:127.0.0.1")
    local csrf authorize callback
    csrf="$(curl -s "${R[@]}" -c "$jar" -b "$jar" "$portal/login" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' | head -1)"
    curl -s "${R[@]}" -c "$jar" -b "$jar" -o /dev/null -H "Origin: $portal" --data-urlencode "csrf=$csrf" --data-urlencode "email=demo@example.com" --data-urlencode "return_to=" "$portal/login"
    curl -s "${R[@]}" -c "$jar" -b "$jar" -o /dev/null -H "Origin: $portal" --data-urlencode "csrf=$csrf" --data-urlencode "password=$password" "$portal/login/password"
    authorize="$(curl -s "${R[@]}" -c "$jar" -b "$jar" -o /dev/null -w '%{redirect_url}' "$app/")"
    callback="$(curl -s "${R[@]}" -c "$jar" -b "$jar" "$authorize" | sed -n 's/.*content="0;url=\([^"]*\)".*/\1/p' | sed 's/&amp;/\&/g')"
    curl -s "${R[@]}" -c "$jar" -b "$jar" -o /dev/null "$callback"
    awk '$6 == "portcullis_app" { print $7 }' "$jar"
}

results=()
for n in $instance_counts; do
    run="n$n"
    "$psql" -q "$pg_url" -c "CREATE DATABASE $run" >/dev/null
    ports=()
    # The first migrates and seeds the new database, then the others join.
    start_instance "$run" 1
    for i in $(seq 2 "$n"); do start_instance "$run" "$i"; done
    token="$(app_cookie "${ports[0]}")"
    [[ -n "$token" ]] || { echo "bench: no application cookie" >&2; exit 1; }
    for port in "${ports[@]}"; do
        check="$(curl -s -H "Host: bench.localhost:$port" -H "Cookie: portcullis_app=$token" "http://127.0.0.1:$port/")"
        [[ "$check" == "hello from the upstream" ]] || { echo "bench: instance on $port did not proxy: $check" >&2; exit 1; }
    done

    echo "== $n instance(s): sign-ins for ${seconds}s ($concurrency workers in all)" >&2
    per=$(( (concurrency + n - 1) / n ))
    spids=()
    for port in "${ports[@]}"; do
        PORTCULLIS_BENCH_PASSWORD="$password" "$bench_bin" --json signin \
            --url "http://portal.localhost:$port" --email demo@example.com \
            --concurrency "$per" --seconds "$seconds" --page-clients 0 \
            >"$tmp/$run/signin.$port.json" 2>"$tmp/$run/signin.$port.log" &
        spids+=($!)
    done
    for p in "${spids[@]}"; do wait "$p"; done
    signins="$(python3 - "$tmp/$run"/signin.*.json <<'PY'
import json, sys
ok = failed = 0; rate = 0.0
for f in sys.argv[1:]:
    s = json.load(open(f))["signins"]
    rate += s["per_second"]; ok += s["ok"]; failed += s["failed"]
print(f"{rate:.1f} {ok} {failed}")
PY
)"

    echo "== $n instance(s): proxied requests for ${seconds}s ($connections connections in all)" >&2
    per=$(( (connections + n - 1) / n ))
    wpids=()
    for port in "${ports[@]}"; do
        wrk -t1 -c"$per" -d"${seconds}s" -H "Host: bench.localhost:$port" -H "Cookie: portcullis_app=$token" \
            "http://127.0.0.1:$port/" >"$tmp/$run/wrk.$port.log" 2>&1 &
        wpids+=($!)
    done
    for p in "${wpids[@]}"; do wait "$p"; done
    proxied="$(awk '/Requests\/sec/ { rps += $2 } /Non-2xx or 3xx/ { bad += $5 } END { printf "%.0f %d\n", rps, bad }' "$tmp/$run"/wrk.*.log)"
    results+=("$n $signins $proxied")

    # pids[0] is Redis; the rest are this run's instances.
    for pid in "${pids[@]:1}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]:1}"; do wait "$pid" 2>/dev/null || true; done
    pids=("${pids[0]}")
done

echo
echo "== results ($(nproc) cores, everything on this machine: instances, PostgreSQL, Redis, load generators)"
printf '%-10s %14s %10s %10s %16s %10s\n' instances "sign-ins/s" ok failed "proxied req/s" non-2xx
for r in "${results[@]}"; do
    read -r n sps ok failed rps bad <<<"$r"
    printf '%-10s %14s %10s %10s %16s %10s\n' "$n" "$sps" "$ok" "$failed" "$rps" "$bad"
done
