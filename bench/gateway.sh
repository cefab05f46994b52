#!/usr/bin/env bash
# Proxy scenario for Portcullis: one run, one table. A small fast upstream
# (an nginx of its own answering a fixed 200) is reached three ways on loopback:
#
#   direct    wrk -> upstream
#   nginx     wrk -> nginx reverse proxy (no authentication) -> upstream
#   bare      wrk -> pingora with nothing but an upstream (gateway/examples/
#             bare_proxy.rs): the framework's own floor, to tell its cost
#             from Portcullis'
#   gateway   wrk -> portcullis with a valid application cookie -> upstream
#   redirect  wrk -> portcullis without a session (the 302 to the portal)
#   redis     the authenticated scenario again, on a second portcullis whose
#             sessions live in Redis (skipped without redis-server)
#
# Then memory: RSS of the embedded-store instance restarted with
# BENCH_SESSIONS (100,000) live sessions in its state database, and of the
# Redis-store instance after a wrk run that sends BENCH_SESSIONS different
# application cookies (seeded in Redis), so each session goes through the
# gateway's caches (link, identity, signed assertion).
#
# All plain HTTP (server.plain_http = true) so TLS costs don't skew the
# comparison with nginx. Release build of portcullis.
#
#   bash bench/gateway.sh
#
# Knobs (environment): BENCH_SECONDS (10), BENCH_THREADS (2), BENCH_CONNECTIONS (32),
# BENCH_SESSIONS (100000), BENCH_MEMORY_SECONDS (60, the many-cookies run),
# BENCH_KEEP=1 keeps the temporary directory (configs and logs), PORTCULLIS_BIN
# uses that binary instead of building the release one (BARE_PROXY_BIN likewise
# for the bare pingora proxy; that line is skipped when neither is built).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in
    /*) ;;
    *) target_dir="$root/$target_dir" ;;
esac
seconds="${BENCH_SECONDS:-10}"
threads="${BENCH_THREADS:-2}"
connections="${BENCH_CONNECTIONS:-32}"

sessions="${BENCH_SESSIONS:-100000}"
memory_seconds="${BENCH_MEMORY_SECONDS:-60}"

for tool in wrk nginx curl python3 sqlite3; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing (scripts/install-deps.sh test)" >&2; exit 1; }
done

if [[ -n "${PORTCULLIS_BIN:-}" ]]; then
    bin="$PORTCULLIS_BIN" # a binary built elsewhere (debug builds only check the plumbing)
else
    echo "== building (release)" >&2
    cargo build --locked --release -p portcullis >&2
    bin="$target_dir/release/portcullis"
    cargo build --locked --release -p portcullis --example bare_proxy >&2
fi
bare_bin="${BARE_PROXY_BIN:-$target_dir/release/examples/bare_proxy}"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-bench-gw.XXXXXX")"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pidfile in "$tmp/nginx.pid" "$tmp/upstream.pid"; do
        if [[ -f "$pidfile" ]]; then kill "$(cat "$pidfile")" 2>/dev/null || true; fi
    done
    wait 2>/dev/null || true
    if [[ -z "${BENCH_KEEP:-}" ]]; then rm -rf "$tmp"; else echo "kept $tmp" >&2; fi
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
up_port="$(free_port)"; nginx_port="$(free_port)"; gw_port="$(free_port)"; bare_port="$(free_port)"

# Two nginx instances, each with its own worker processes: the upstream, and
# a plain reverse proxy in front of it. One instance playing both parts would
# hand each proxied request to the upstream inside the same worker, without
# the wake-up of another process that every real proxy (the gateway among
# them) pays, and so flatter the comparison.
# nginx_instance NAME SERVER_BLOCKS
nginx_instance() {
    local name="$1" servers="$2"
    mkdir -p "$tmp/$name"
    cat >"$tmp/$name.conf" <<CONF
worker_processes 2;
pid $tmp/$name.pid;
error_log $tmp/$name/error.log warn;
daemon on;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $tmp/$name;
    proxy_temp_path $tmp/$name;
    fastcgi_temp_path $tmp/$name;
    uwsgi_temp_path $tmp/$name;
    scgi_temp_path $tmp/$name;
$servers
}
CONF
    nginx -c "$tmp/$name.conf" -p "$tmp/$name" 2>"$tmp/$name-start.log"
}
nginx_instance upstream "    server {
        listen 127.0.0.1:$up_port;
        location / { default_type text/plain; return 200 \"hello from the upstream\\n\"; }
    }"
nginx_instance nginx "    upstream app { server 127.0.0.1:$up_port; keepalive 64; }
    server {
        listen 127.0.0.1:$nginx_port;
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_set_header Host \$host;
        }
    }"

mkdir -p "$tmp/policies"
cat >"$tmp/policies/bench.toml" <<POL
host = "bench.localhost"
upstreams = ["127.0.0.1:$up_port"]
groups = ["Staff"]
POL
password="Bench-Passw0rd!$RANDOM"

# start_portcullis NAME PORT [EXTRA_TOML]: a portcullis of its own (config,
# data directory) on PORT, waited for; its pid is appended to pids.
start_portcullis() {
    local name="$1" port="$2" extra="${3:-}"
    mkdir -p "$tmp/$name"
    cat >"$tmp/$name/portcullis.toml" <<CONF
[server]
listen = "127.0.0.1:$port"
public_url = "http://portal.localhost:$port"
plain_http = true
[gateway]
policies_dir = "$tmp/policies"
[store]
data_dir = "data"
[passwords]
argon2_memory_kib = 8192
argon2_iterations = 1
[demo]
password = "$password"
[log]
level = "warn"
$extra
CONF
    "$bin" serve --config "$tmp/$name/portcullis.toml" >>"$tmp/$name/portcullis.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 150); do
        curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "bench: portcullis ($name) did not start" >&2; tail -20 "$tmp/$name/portcullis.log" >&2; exit 1
}

# app_cookie PORT: signs in with curl, runs the handshake, prints the application cookie.
app_cookie() {
    local port="$1"
    local portal="http://portal.localhost:$port" app="http://bench.localhost:$port" jar="$tmp/jar.$port"
    local R=(--resolve "portal.localhost:$port:127.0.0.1" --resolve "bench.localhost:$port:127.0.0.1")
    local csrf authorize callback token check
    csrf="$(curl -s "${R[@]}" -c "$jar" -b "$jar" "$portal/login" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' | head -1)"
    curl -s "${R[@]}" -c "$jar" -b "$jar" -o /dev/null -H "Origin: $portal" --data-urlencode "csrf=$csrf" --data-urlencode "email=demo@example.com" --data-urlencode "return_to=" "$portal/login"
    curl -s "${R[@]}" -c "$jar" -b "$jar" -o /dev/null -H "Origin: $portal" --data-urlencode "csrf=$csrf" --data-urlencode "password=$password" "$portal/login/password"
    authorize="$(curl -s "${R[@]}" -c "$jar" -b "$jar" -o /dev/null -w '%{redirect_url}' "$app/")"
    callback="$(curl -s "${R[@]}" -c "$jar" -b "$jar" "$authorize" | sed -n 's/.*content="0;url=\([^"]*\)".*/\1/p' | sed 's/&amp;/\&/g')"
    curl -s "${R[@]}" -c "$jar" -b "$jar" -o /dev/null "$callback"
    token="$(awk '$6 == "portcullis_app" { print $7 }' "$jar")"
    [[ -n "$token" ]] || { echo "bench: could not obtain an application cookie on port $port" >&2; exit 1; }
    check="$(curl -s -H "Host: bench.localhost:$port" -H "Cookie: portcullis_app=$token" "http://127.0.0.1:$port/")"
    [[ "$check" == "hello from the upstream" ]] || { echo "bench: the gateway did not proxy: $check" >&2; exit 1; }
    echo "$token"
}

rss_mib() { awk '/VmRSS/ { printf "%d", $2 / 1024 }' "/proc/$1/status"; }
peak_mib() { awk '/VmHWM/ { printf "%d", $2 / 1024 }' "/proc/$1/status"; }

start_portcullis embedded "$gw_port"
gw_pid="${pids[-1]}"
token="$(app_cookie "$gw_port")"

# CPU time (user + system, clock ticks) the given processes have used so far.
cpu_ticks() {
    local total=0 pid
    for pid in "$@"; do
        total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)))
    done
    echo "$total"
}
tck="$(getconf CLK_TCK)"

# run "PIDS" WRK_ARGS...: wrk --latency, and the CPU the proxy under test
# (PIDS) spent per request -> "rps p50_ms p99_ms non2xx3xx cpu_us_per_request"
run() {
    local pids="$1" out before after
    shift
    # shellcheck disable=SC2086 # PIDS is a list
    before="$(cpu_ticks $pids)"
    out="$(wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency "$@")"
    # shellcheck disable=SC2086
    after="$(cpu_ticks $pids)"
    echo "$out" >>"$tmp/wrk.log"
    awk -v ticks="$((after - before))" -v tck="$tck" '
        function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
        /requests in/ { n = $1 }
        /Requests\/sec/ { rps = $2 }
        $1 == "50.000%" || $1 == "50%" { p50 = ms($2) }
        $1 == "99.000%" || $1 == "99%" { p99 = ms($2) }
        /Non-2xx or 3xx/ { bad = $5 }
        END { printf "%s %.3f %.3f %s %.1f\n", rps, p50, p99, (bad == "" ? 0 : bad), (n > 0 ? ticks / tck * 1e6 / n : 0) }
    ' <<<"$out"
}
workers() { pgrep -P "$(cat "$1")" | tr '\n' ' '; }

echo "== wrk -t$threads -c$connections -d${seconds}s (each scenario in turn)" >&2
read -r d_rps d_p50 d_p99 d_bad d_cpu < <(run "$(workers "$tmp/upstream.pid")" "http://127.0.0.1:$up_port/")
read -r n_rps n_p50 n_p99 n_bad n_cpu < <(run "$(workers "$tmp/nginx.pid")" "http://127.0.0.1:$nginx_port/")
have_bare=""
if [[ -x "$bare_bin" ]]; then
    have_bare=1
    "$bare_bin" "127.0.0.1:$bare_port" "127.0.0.1:$up_port" >"$tmp/bare.log" 2>&1 &
    bare_pid=$!
    pids+=("$bare_pid")
    for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$bare_port/" >/dev/null 2>&1 && break; sleep 0.1; done
    read -r b_rps b_p50 b_p99 b_bad b_cpu < <(run "$bare_pid" "http://127.0.0.1:$bare_port/")
    kill "$bare_pid"
fi
read -r g_rps g_p50 g_p99 g_bad g_cpu < <(run "$gw_pid" -H "Host: bench.localhost:$gw_port" -H "Cookie: portcullis_app=$token" "http://127.0.0.1:$gw_port/")
read -r r_rps r_p50 r_p99 r_bad r_cpu < <(run "$gw_pid" -H "Host: bench.localhost:$gw_port" "http://127.0.0.1:$gw_port/")
rss_after_run="$(rss_mib "$gw_pid")"

have_redis=""
if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
    have_redis=1
    redis_port="$(free_port)"; gw2_port="$(free_port)"
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no >"$tmp/redis.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    start_portcullis redis "$gw2_port" "[sessions]
store = \"redis\"
redis_url = \"redis://127.0.0.1:$redis_port/0\""
    gw2_pid="${pids[-1]}"
    token2="$(app_cookie "$gw2_port")"
    read -r s_rps s_p50 s_p99 s_bad s_cpu < <(run "$gw2_pid" -H "Host: bench.localhost:$gw2_port" -H "Cookie: portcullis_app=$token2" "http://127.0.0.1:$gw2_port/")

    echo "== memory: $sessions sessions in Redis, one cookie each, wrk -d${memory_seconds}s" >&2
    user_id="$(sqlite3 "$tmp/redis/data/portcullis.db" "SELECT id FROM users WHERE email = 'demo@example.com'")"
    python3 bench/seed_sessions.py redis "portcullis:" "$user_id" bench "$sessions" "$tmp/tokens" | redis-cli -p "$redis_port" --pipe >"$tmp/redis-seed.log"
    rss_redis_before="$(rss_mib "$gw2_pid")"
    m_out="$(TOKENS_FILE="$tmp/tokens" HOST="bench.localhost:$gw2_port" WRK_THREADS="$threads" \
        wrk -t"$threads" -c"$connections" -d"${memory_seconds}s" -s bench/tokens.lua "http://127.0.0.1:$gw2_port/")"
    echo "$m_out" >>"$tmp/wrk.log"
    m_requests="$(awk '/requests in/ { print $1 }' <<<"$m_out")"
    m_bad="$(awk '/Non-2xx or 3xx/ { print $5 }' <<<"$m_out")"
    rss_redis_after="$(rss_mib "$gw2_pid")"
    rss_redis_peak="$(peak_mib "$gw2_pid")"
fi

echo "== memory: embedded store restarted with $sessions sessions in its database" >&2
kill "$gw_pid"; wait "$gw_pid" 2>/dev/null || true
user_id="$(sqlite3 "$tmp/embedded/data/portcullis.db" "SELECT id FROM users WHERE email = 'demo@example.com'")"
python3 bench/seed_sessions.py sqlite "$tmp/embedded/data/portcullis.db" "$user_id" "$sessions"
start_portcullis embedded "$gw_port"
gw_pid="${pids[-1]}"
loaded="$(sqlite3 "$tmp/embedded/data/portcullis.db" "SELECT count(*) FROM sessions")"
rss_embedded_loaded="$(rss_mib "$gw_pid")"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
printf '\n%-34s %12s %9s %9s %10s %10s %8s %12s\n' scenario "req/s" "p50 ms" "p99 ms" "vs direct" "vs nginx" "errors" "CPU us/req"
printf '%-34s %12s %9s %9s %10s %10s %8s %12s\n' "direct (upstream)" "$d_rps" "$d_p50" "$d_p99" "1.00" "" "$d_bad" "$d_cpu"
printf '%-34s %12s %9s %9s %10s %10s %8s %12s\n' "nginx proxy (no auth)" "$n_rps" "$n_p50" "$n_p99" "$(ratio "$n_rps" "$d_rps")" "1.00" "$n_bad" "$n_cpu"
if [[ -n "$have_bare" ]]; then
    printf '%-34s %12s %9s %9s %10s %10s %8s %12s\n' "pingora bare proxy (no auth)" "$b_rps" "$b_p50" "$b_p99" "$(ratio "$b_rps" "$d_rps")" "$(ratio "$b_rps" "$n_rps")" "$b_bad" "$b_cpu"
fi
printf '%-34s %12s %9s %9s %10s %10s %8s %12s\n' "portcullis, authenticated" "$g_rps" "$g_p50" "$g_p99" "$(ratio "$g_rps" "$d_rps")" "$(ratio "$g_rps" "$n_rps")" "$g_bad" "$g_cpu"
printf '%-34s %12s %9s %9s %10s %10s %8s %12s\n' "portcullis, no session (302)" "$r_rps" "$r_p50" "$r_p99" "$(ratio "$r_rps" "$d_rps")" "$(ratio "$r_rps" "$n_rps")" "$r_bad" "$r_cpu"
if [[ -n "$have_redis" ]]; then
    printf '%-34s %12s %9s %9s %10s %10s %8s %12s\n' "portcullis, authenticated, Redis" "$s_rps" "$s_p50" "$s_p99" "$(ratio "$s_rps" "$d_rps")" "$(ratio "$s_rps" "$n_rps")" "$s_bad" "$s_cpu"
fi
echo
echo "CPU us/req: CPU time (user + system) of the process answering (the upstream's nginx workers for direct, the proxy's for the rest) per request; the load generator and the upstream share the same cores."
echo "p99 added by the gateway over direct: $(awk -v g="$g_p99" -v d="$d_p99" 'BEGIN { printf "%.3f", g - d }') ms; over nginx: $(awk -v g="$g_p99" -v n="$n_p99" 'BEGIN { printf "%.3f", g - n }') ms"
if [[ -n "$have_bare" ]]; then
    echo "portcullis authenticated vs pingora bare proxy: $(ratio "$g_rps" "$b_rps")x the requests per second"
fi
echo "portcullis RSS (embedded store) after the runs: $rss_after_run MiB"
echo "portcullis RSS (embedded store) restarted with $loaded sessions loaded: $rss_embedded_loaded MiB"
if [[ -n "$have_redis" ]]; then
    echo "portcullis RSS (Redis store): $rss_redis_before MiB before, $rss_redis_after MiB after (peak $rss_redis_peak MiB) $m_requests requests over $sessions different sessions (${m_bad:-0} not 2xx/3xx)"
fi
