#!/usr/bin/env bash
# Remakes docs/report.png: a colour run's report page (validation/report.html), as headless
# Chromium draws it. By hand, not in CI: needs Debian's `chromium` (apt-get install chromium)
# and a release build (cargo build --release -p mltrain-cli).
#
#   scripts/report-screenshot.sh [MLTRAIN_BINARY]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mltrain=${1:-${CARGO_TARGET_DIR:-$root/target}/release/mltrain}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
store="file://$work/store/"

python3 "$root/scripts/colour_shapes.py" "$work/shapes" --per-class 60 --size 32
"$mltrain" --store "$store" s3 upload-dir --host-path "$work/shapes" --s3-path shapes > /dev/null
run_id=$("$mltrain" --store "$store" run shapes 2 8 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["run_id"])')
# The page as `mltrain report` writes it: every call's bar, validation's record included.
page=$("$mltrain" --store "$store" report "$run_id")
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --hide-scrollbars --user-data-dir="$work/profile" \
    --screenshot="$root/docs/report.png" --window-size=1100,1300 "file://$page"
echo "docs/report.png from run $run_id"
