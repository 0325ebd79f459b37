#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/fuzz_targets) for SECONDS each (default 60 under CI, 10
# otherwise), starting from the corpus kept in fuzz/corpus/TARGET; what the fuzzer finds new is
# written to a scratch folder, so the checkout stays clean (`scripts/fuzz.sh --keep` merges it,
# minimised, into fuzz/corpus to commit). libFuzzer without a sanitizer: the machine's one
# toolchain is stable Rust, and dziura's readers hold no unsafe code, so a panic, an abort, a
# timeout or running out of memory is the finding. A crash leaves its input in
# fuzz/artifacts/TARGET and fails the script; turn it into a regression test in the reader's
# crate. Prints one line per target with the executions it ran.
set -euo pipefail
cd "$(dirname "$0")/.."
keep=
[[ ${1:-} == --keep ]] && { keep=1; shift; }
seconds=${1:-$([[ ${CI:-} == true ]] && echo 60 || echo 10)}

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd fuzz
targets=$(cargo fuzz list)
cargo fuzz build --sanitizer none --release --debug-assertions >/dev/null 2>&1 || cargo fuzz build --sanitizer none --release --debug-assertions
status=0
for t in $targets; do
    mkdir -p "$scratch/$t" "artifacts/$t"
    log="$scratch/$t.log"
    # -rss_limit_mb and -timeout turn a memory blow-up or a hang into a finding.
    if cargo fuzz run --sanitizer none --release --debug-assertions "$t" "$scratch/$t" "corpus/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=65536 \
        -artifact_prefix="artifacts/$t/" -print_final_stats=1 >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
        echo "fuzz $t: ${runs:-?} executions in ${seconds} s, nothing found"
    else
        status=1
        echo "fuzz $t: FOUND A CRASH (input in fuzz/artifacts/$t):"
        grep -E "panicked|ERROR|SUMMARY|Test unit written" "$log" | head -n 8
    fi
    if [[ -n $keep ]]; then
        cargo fuzz cmin --sanitizer none --release "$t" "corpus/$t" >/dev/null 2>&1 || true
        cp -n "$scratch/$t"/* "corpus/$t"/ 2>/dev/null || true
        cargo fuzz cmin --sanitizer none --release "$t" "corpus/$t" >/dev/null 2>&1 || true
    fi
done
exit $status
