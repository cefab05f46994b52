#!/usr/bin/env bash
# A bounded fuzzing pass for CI: every cargo-fuzz target in fuzz/ runs for
# FUZZ_SECONDS (default 20) from its seeds (fuzz/seeds/<target>) and the local
# corpus (fuzz/corpus/<target>, not committed). Fails when a target crashes
# (panic, assertion, timeout or out-of-memory); the reproducer is in
# fuzz/artifacts/<target>/.
#
#   scripts/fuzz-smoke.sh                 every target, 20 s each
#   FUZZ_SECONDS=60 scripts/fuzz-smoke.sh
#   scripts/fuzz-smoke.sh request_path return_to    only these
#
# Needs cargo-fuzz: installed with `cargo install cargo-fuzz --locked` when
# missing. When that is impossible (no registry), it says so and exits 0: the
# pass is skipped, loudly. RUSTC_BOOTSTRAP=1 lets the stable toolchain take
# cargo-fuzz's nightly flags (fuzz/README.md).
#
# FUZZ_SANITIZER (default "none"): the targets are safe Rust, where libFuzzer
# finds panics and assertion failures without AddressSanitizer, and the
# uninstrumented build is much faster. "address" builds with ASan.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../fuzz"
seconds="${FUZZ_SECONDS:-20}"
sanitizer="${FUZZ_SANITIZER:-none}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: cargo-fuzz missing; installing it (cargo install cargo-fuzz --locked)"
    if ! cargo install cargo-fuzz --locked; then
        echo "fuzz-smoke: SKIPPED: cargo-fuzz is not installed and cannot be installed here" >&2
        exit 0
    fi
fi

if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

started=$SECONDS
echo "fuzz-smoke: building ${#targets[@]} targets (sanitizer: $sanitizer)"
if [[ $# -gt 0 ]]; then
    for t in "${targets[@]}"; do cargo fuzz build -s "$sanitizer" "$t"; done
else
    cargo fuzz build -s "$sanitizer"
fi
built=$SECONDS
echo "fuzz-smoke: build took $((built - started)) s"

failed=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    dirs=("corpus/$t")
    [[ -d "seeds/$t" ]] && dirs+=("seeds/$t")
    log="$(mktemp "${TMPDIR:-/tmp}/fuzz-$t.XXXXXX")"
    # -timeout: one input taking longer than 10 s is a finding (a hang);
    # -rss_limit_mb: so is memory past 2 GiB.
    if cargo fuzz run -s "$sanitizer" "$t" "${dirs[@]}" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1; then
        summary="$(grep -E '^Done [0-9]+ runs' "$log" | tail -1)"
        cov="$(grep -E '#[0-9]+\s+(DONE|pulse|NEW|REDUCE)' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9a-zA-Z]+' || true)"
        echo "fuzz-smoke: $t: ok: ${summary:-done} ${cov:+($cov)}"
    else
        echo "fuzz-smoke: $t: FAILED; the end of its log:" >&2
        tail -40 "$log" >&2
        failed+=("$t")
    fi
    rm -f "$log"
done

echo "fuzz-smoke: ${#targets[@]} targets, ${seconds} s each; total $((SECONDS - started)) s (build $((built - started)) s)"
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz-smoke: FAILED: ${failed[*]} (reproducers in fuzz/artifacts/)" >&2
    exit 1
fi
