#!/usr/bin/env bash
# Developer entry points for Portcullis.
#
#   ./dev.sh run    install build deps, build the release binary and serve config.example.toml
#   ./dev.sh test   install test deps, build once, then run the Rust tests (the idp
#                   suites on SQLite and on PostgreSQL) and the end-to-end browser
#                   suite (tests/e2e) in parallel, then the bounded fuzz pass
#   ./dev.sh lint   rustfmt check, the layout rules (scripts/layout-rules.sh) and clippy
#                   with warnings as errors
#   ./dev.sh fuzz   build the fuzz targets (fuzz/, the parsers in wire/) and run each for
#                   FUZZ_SECONDS (default 20); fails on a crash (scripts/fuzz-smoke.sh)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
root="$PWD"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in
    /*) ;;
    *) target_dir="$root/$target_dir" ;;
esac

usage() {
    echo "usage: $0 run|test|lint|fuzz" >&2
    exit 2
}

cmd_run() {
    bash scripts/install-deps.sh build
    cargo build --locked --release -p portcullis
    exec "$target_dir/release/portcullis" serve --config config.example.toml "$@"
}

cmd_lint() {
    # clippy compiles the -sys crates, so it needs the build packages too.
    bash scripts/install-deps.sh build
    cargo fmt --all -- --check
    bash scripts/layout-rules.sh
    cargo clippy --workspace --all-targets --locked -- -D warnings
    # fuzz/ is its own workspace with its own lock file: a dependency added to
    # idp or the gateway must reach it too, or the fuzz pass fails at --locked.
    (cd fuzz && cargo metadata --locked --offline --format-version 1 >/dev/null) || {
        echo "lint: fuzz/Cargo.lock is out of date: run (cd fuzz && cargo update --workspace) and commit it" >&2
        exit 1
    }
}

cmd_fuzz() {
    # libfuzzer-sys compiles libFuzzer (C++): build-essential.
    bash scripts/install-deps.sh build
    bash scripts/fuzz-smoke.sh "$@"
}

cmd_test() {
    bash scripts/install-deps.sh test
    # One build of everything (binary included) before the two suites start, so they
    # don't fight over cargo's build lock or compile the same crates twice.
    cargo build --locked --workspace --all-targets

    logs="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-test.XXXXXX")"
    trap 'rm -rf "$logs"' EXIT

    # The idp suites run twice: on SQLite in memory, then on a real PostgreSQL
    # server the tests start themselves (scripts/pg-test-server.sh).
    # PORTCULLIS_SKIP_POSTGRES=1 leaves PostgreSQL out; nothing skips silently.
    (
        rc=0
        cargo test --locked --workspace || rc=$?
        if [[ "${PORTCULLIS_SKIP_POSTGRES:-}" == 1 ]]; then
            echo "PostgreSQL runs skipped: PORTCULLIS_SKIP_POSTGRES=1"
        else
            echo "===== the idp suites again on PostgreSQL ====="
            PORTCULLIS_TEST_DATABASE=postgres cargo test --locked -p idp --test '*' || rc=$?
        fi
        exit "$rc"
    ) >"$logs/rust.log" 2>&1 &
    local rust_pid=$!

    (
        cd tests/e2e
        PORTCULLIS_BIN="$target_dir/debug/portcullis" node --test
    ) >"$logs/e2e.log" 2>&1 &
    local e2e_pid=$!

    local rust_rc=0 e2e_rc=0
    wait "$rust_pid" || rust_rc=$?
    wait "$e2e_pid" || e2e_rc=$?

    echo "===== cargo test --locked --workspace, then idp on PostgreSQL (exit $rust_rc) ====="
    cat "$logs/rust.log"
    echo
    echo "===== end-to-end: node --test in tests/e2e (exit $e2e_rc) ====="
    cat "$logs/e2e.log"
    echo

    if [[ $rust_rc -ne 0 || $e2e_rc -ne 0 ]]; then
        echo "FAILED: rust tests exit $rust_rc, end-to-end tests exit $e2e_rc" >&2
        exit 1
    fi

    # Last, alone on the cores: the bounded fuzz pass over every CI target
    # (fuzz/README.md, "In CI"). FUZZ_SECONDS=0 only builds them.
    echo "===== fuzz: scripts/fuzz-smoke.sh ====="
    cmd_fuzz
}

[[ $# -ge 1 ]] || usage
command="$1"
shift
case "$command" in
    run) cmd_run "$@" ;;
    test) cmd_test ;;
    lint) cmd_lint ;;
    fuzz) cmd_fuzz "$@" ;;
    *) usage ;;
esac
