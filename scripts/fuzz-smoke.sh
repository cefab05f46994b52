#!/usr/bin/env bash
# The bounded fuzzing pass CI runs (`./dev.sh fuzz`): builds the libFuzzer
# targets of fuzz/ and runs each for FUZZ_SECONDS (default 20) from its seeds
# (fuzz/seeds/<target>) and the local corpus (fuzz/corpus/<target>, not
# committed). Fails when a target crashes (panic, assertion, timeout or
# out-of-memory) and prints the reproducer's path (fuzz/artifacts/<target>/).
#
#   scripts/fuzz-smoke.sh                         the CI set, 20 s each
#   FUZZ_SECONDS=60 scripts/fuzz-smoke.sh
#   FUZZ_SECONDS=0 scripts/fuzz-smoke.sh          build only
#   scripts/fuzz-smoke.sh request_path return_to  only these
#   FUZZ_FEATURES=gateway scripts/fuzz-smoke.sh   also the targets that link
#                                                 idp or the gateway (jws, scim,
#                                                 policy_file: a long cold build)
#
# It builds with plain cargo, with the flags `cargo fuzz build -s none` passes
# (sanitizer coverage, `--cfg fuzzing`, debug assertions, release profile), so
# CI needs no cargo-fuzz: installing it cold costs more than building the
# targets (fuzz/README.md has the figures). `cargo fuzz run` works on the same
# targets for local use.
#
# FUZZ_SANITIZER (default "none"): the targets are safe Rust, where libFuzzer
# finds panics and assertion failures without AddressSanitizer. "address"
# builds with ASan (RUSTC_BOOTSTRAP=1 lets stable take -Zsanitizer).
# FUZZ_CODEGEN_UNITS (default 1, as cargo-fuzz): 16 cost the same CPU time
# cold and fuzzed 20-45 % slower (fuzz/README.md).
# FUZZ_JOBS (default: the number of cores): targets run side by side, each on
# one core.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../fuzz"
seconds="${FUZZ_SECONDS:-20}"
sanitizer="${FUZZ_SANITIZER:-none}"
features="${FUZZ_FEATURES:-}"
cgu="${FUZZ_CODEGEN_UNITS:-1}"
jobs="${FUZZ_JOBS:-$(nproc)}"
triple="$(rustc -vV | sed -n 's/^host: //p')"
out="${CARGO_TARGET_DIR:-target}/$triple/release"

# The flags of cargo-fuzz 0.13 (src/project.rs), without a sanitizer.
rustflags="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4"
rustflags+=" -Cllvm-args=-sanitizer-coverage-inline-8bit-counters"
rustflags+=" -Cllvm-args=-sanitizer-coverage-pc-table"
rustflags+=" -Cllvm-args=-sanitizer-coverage-trace-compares"
rustflags+=" -Cllvm-args=-sanitizer-coverage-stack-depth"
rustflags+=" -Cllvm-args=-simplifycfg-branch-fold-threshold=0"
rustflags+=" --cfg fuzzing -Cdebug-assertions -Ccodegen-units=$cgu"
case "$sanitizer" in
    none) ;;
    address)
        export RUSTC_BOOTSTRAP=1
        rustflags+=" -Zsanitizer=address"
        ;;
    *)
        echo "fuzz-smoke: FUZZ_SANITIZER must be none or address" >&2
        exit 2
        ;;
esac

# Every [[bin]] of fuzz/Cargo.toml whose required features are enabled.
listed() {
    awk -v features=",$features," '
        function flush() {
            if (name != "" && (req == "" || index(features, "," req ",") || (req == "core" && index(features, ",gateway,"))))
                print name
            name = ""; req = ""
        }
        /^\[/ { flush() }
        /^name = / && section == "bin" { gsub(/[" ]/, "", $3); name = $3 }
        /^required-features = / { req = $0; gsub(/.*\["|"\].*/, "", req) }
        /^\[\[bin\]\]/ { section = "bin"; next }
        /^\[/ { section = "" }
        END { flush() }
    ' Cargo.toml
}

if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    mapfile -t targets < <(listed)
fi

started=$SECONDS
echo "fuzz-smoke: building ${#targets[@]} targets (sanitizer: $sanitizer, codegen units: $cgu${features:+, features: $features})"
build=(cargo build --locked --release --target "$triple" --config 'profile.release.debug="line-tables-only"')
[[ -n "$features" ]] && build+=(--features "$features")
for t in "${targets[@]}"; do build+=(--bin "$t"); done
RUSTFLAGS="$rustflags" "${build[@]}"
built=$SECONDS
echo "fuzz-smoke: build took $((built - started)) s"
# FUZZ_SECONDS=0: build only (libFuzzer would read 0 as "no limit").
[[ "$seconds" == 0 ]] && exit 0

logs="$(mktemp -d "${TMPDIR:-/tmp}/fuzz-smoke.XXXXXX")"
trap 'rm -rf "$logs"' EXIT

# One target: its exit status is the finding; its log is kept for the summary.
run() {
    local t="$1"
    mkdir -p "corpus/$t" "artifacts/$t"
    local dirs=("corpus/$t")
    [[ -d "seeds/$t" ]] && dirs+=("seeds/$t")
    # -timeout: one input taking longer than 10 s is a finding (a hang);
    # -rss_limit_mb: so is memory past 2 GiB.
    "$out/$t" "${dirs[@]}" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="artifacts/$t/" >"$logs/$t.log" 2>&1
}

declare -A pid_of=()
for t in "${targets[@]}"; do
    while [[ $(jobs -rp | wc -l) -ge $jobs ]]; do wait -n || true; done
    run "$t" &
    pid_of[$t]=$!
done

failed=()
for t in "${targets[@]}"; do
    log="$logs/$t.log"
    if wait "${pid_of[$t]}"; then
        summary="$(grep -E '^Done [0-9]+ runs' "$log" | tail -1)"
        cov="$(grep -E '#[0-9]+\s+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9a-zA-Z]+' || true)"
        echo "fuzz-smoke: $t: ok: ${summary:-done} ${cov:+($cov)}"
    else
        echo "fuzz-smoke: $t: FAILED; the end of its log:" >&2
        tail -40 "$log" >&2
        reproducer="$(grep -oE 'Test unit written to \S+' "$log" | tail -1 | sed 's/^Test unit written to //')"
        [[ -n "$reproducer" ]] && echo "fuzz-smoke: $t: reproducer: fuzz/$reproducer (replay from fuzz/: $out/$t $reproducer)" >&2
        failed+=("$t")
    fi
done

echo "fuzz-smoke: ${#targets[@]} targets, ${seconds} s each, $jobs at a time; total $((SECONDS - started)) s (build $((built - started)) s)"
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz-smoke: FAILED: ${failed[*]} (reproducers in fuzz/artifacts/)" >&2
    exit 1
fi
