#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 30) each, from its seed corpus, and exits
# non-zero if any target crashes, leaks, times out or runs out of memory. Crash inputs are
# kept under fuzz/artifacts/<target>/; inputs found along the way go to a temporary
# directory, so the committed corpus stays as it is.
#
#   bash fuzz/run.sh [SECONDS]
#
# Needs only the stable toolchain: cargo-fuzz asks rustc for -Zsanitizer=address, which
# stable accepts with RUSTC_BOOTSTRAP=1. FUZZ_SANITIZER=none builds without ASan.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-30}"
sanitizer="${FUZZ_SANITIZER:-address}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

targets=()
for f in fuzz/fuzz_targets/*.rs; do
    targets+=("$(basename "$f" .rs)")
done

cargo fuzz build --sanitizer "$sanitizer"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=()
for t in "${targets[@]}"; do
    echo "== fuzz $t for ${seconds}s"
    mkdir -p "$work/$t"
    # libFuzzer's per-input lines (NEW, REDUCE) are dropped; pulses, stats and crashes stay.
    set +e
    cargo fuzz run --sanitizer "$sanitizer" "$t" "$work/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 2>&1 |
        grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE)'
    status="${PIPESTATUS[0]}"
    set -e
    if ((status != 0)); then
        failed+=("$t")
    fi
done

if ((${#failed[@]})); then
    echo "fuzz: crashes in ${failed[*]} (inputs under fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, no crash"
