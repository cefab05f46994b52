#!/usr/bin/env bash
# A throw-away PostgreSQL server for tests, in a temporary directory, on a free
# loopback port. Used by the Rust store tests and the end-to-end tests.
#
#   scripts/pg-test-server.sh start [OWNER_PID]
#       prints two lines: the server's URL (user "portcullis", database
#       "postgres", trust auth on loopback) and the directory to pass to stop.
#       With OWNER_PID, a watchdog stops the server and removes the directory
#       when that process ends (test binaries have no teardown hook).
#   scripts/pg-test-server.sh stop DIR
#   scripts/pg-test-server.sh halt DIR     (fault tests: stop the server at
#   scripts/pg-test-server.sh resume DIR    once, keep its data; start it again
#                                           on the same port)
#
# initdb refuses to run as root: as root the server runs as the `postgres`
# user (or `nobody`), which owns the directory; otherwise as the caller.
set -euo pipefail

die() {
    echo "pg-test-server: $*" >&2
    exit 1
}

bin_dir() {
    local d
    d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    [[ -n "$d" && -x "$d/initdb" ]] || die "PostgreSQL server binaries not found (install the Debian package postgresql: scripts/install-deps.sh test)"
    echo "$d"
}

server_user() {
    if [[ $(id -u) -ne 0 ]]; then
        return
    fi
    if id postgres >/dev/null 2>&1; then
        echo postgres
    else
        echo nobody
    fi
}

# Runs a command as the server's user.
as_server() {
    local user
    user="$(server_user)"
    if [[ -n "$user" ]]; then
        runuser -u "$user" -- "$@"
    else
        "$@"
    fi
}

port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
    local owner="${1:-}" bin dir user port
    bin="$(bin_dir)"
    dir="$(mktemp -d /tmp/portcullis-pg.XXXXXX)"
    chmod 0755 "$dir"
    user="$(server_user)"
    if [[ -n "$user" ]]; then
        chown "$user" "$dir"
    fi
    as_server "$bin/initdb" -D "$dir/data" -U portcullis --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    local tries=0
    while :; do
        port=$((20000 + RANDOM % 40000))
        tries=$((tries + 1))
        port_free "$port" || continue
        # fsync off: a test server's data need not survive a power cut.
        if as_server "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
            start >/dev/null 2>&1; then
            break
        fi
        [[ $tries -lt 5 ]] || { cat "$dir/server.log" >&2; die "the server did not start"; }
    done
    if [[ -n "$owner" ]]; then
        # The watchdog outlives this script; its output goes nowhere so the
        # caller's pipe closes.
        setsid bash -c '
            while kill -0 "$1" 2>/dev/null; do sleep 1; done
            "$0" stop "$2"
        ' "$0" "$owner" "$dir" </dev/null >/dev/null 2>&1 &
    fi
    echo "$port" >"$dir/port"
    echo "postgres://portcullis@127.0.0.1:$port/postgres"
    echo "$dir"
}

halt() {
    local dir="$1" bin
    [[ "$dir" == /tmp/portcullis-pg.* && -f "$dir/data/postmaster.pid" ]] || die "no server running in $dir"
    bin="$(bin_dir)"
    as_server "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1
}

resume() {
    local dir="$1" bin port
    [[ "$dir" == /tmp/portcullis-pg.* && -f "$dir/port" ]] || die "no halted server in $dir"
    bin="$(bin_dir)"
    port="$(cat "$dir/port")"
    as_server "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
        start >/dev/null 2>&1 || { cat "$dir/server.log" >&2; die "the server did not start again"; }
}

stop() {
    local dir="$1" bin
    [[ "$dir" == /tmp/portcullis-pg.* && -d "$dir" ]] || return 0
    bin="$(bin_dir)"
    if [[ -f "$dir/data/postmaster.pid" ]]; then
        as_server "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}

case "${1:-}" in
    start) start "${2:-}" ;;
    stop) [[ $# -eq 2 ]] || die "usage: $0 stop DIR"; stop "$2" ;;
    halt) [[ $# -eq 2 ]] || die "usage: $0 halt DIR"; halt "$2" ;;
    resume) [[ $# -eq 2 ]] || die "usage: $0 resume DIR"; resume "$2" ;;
    *) die "usage: $0 start [OWNER_PID] | stop DIR | halt DIR | resume DIR" ;;
esac
