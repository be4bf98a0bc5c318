#!/usr/bin/env bash
# The HTTP backend over loopback against the local backend, side by side on the same data,
# store and seed: `mltrain run mnist-10k 2 8` (10,000 digits), RUNS runs of each, alternated,
# median wall time of each. One `mltrain serve` serves every function on 127.0.0.1, so the
# difference is the transport (CloudEvents over HTTP, JSON) and nothing else.
#   bench/http_vs_local.sh [RUNS]    (default 3; needs a release build: cargo build --release)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
bin="${MLTRAIN_BIN:-target/release/mltrain}"
[ -x "$bin" ] || cargo build --release --locked -p mltrain-cli
work="$(mktemp -d)"
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
export MLTRAIN_STORE="file://$work/store/"
"$bin" dataset mnist --out "$work/digits" --count 10000 >/dev/null
"$bin" s3 upload-dir --host-path "$work/digits" --s3-path mnist-10k >/dev/null

"$bin" serve --host 127.0.0.1 --port 0 >"$work/serve.out" 2>"$work/serve.err" &
server_pid=$!
for _ in $(seq 100); do grep -q listening "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
base="$(sed -E 's/^listening on (http:[^ ]+).*/\1/' "$work/serve.out")"

wall() { # prints the wall seconds of one run
  local start end
  start=$(date +%s.%N)
  "$bin" run mnist-10k 2 8 --json "$@" >"$work/last.json"
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN {printf "%.3f\n", b - a}' 
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
: >"$work/local" ; : >"$work/http"
for i in $(seq "$runs"); do
  wall >>"$work/local"
  acc_local=$(grep -o '"accuracy":[0-9.]*' "$work/last.json")
  wall --backend http --functions-url "$base" >>"$work/http"
  acc_http=$(grep -o '"accuracy":[0-9.]*' "$work/last.json")
  [ "$acc_local" = "$acc_http" ] || { echo "accuracy differs: $acc_local vs $acc_http" >&2; exit 1; }
done
local_m=$(median <"$work/local") http_m=$(median <"$work/http")
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "local runs: $(tr '\n' ' ' <"$work/local")"
echo "http runs:  $(tr '\n' ' ' <"$work/http")"
echo "median local ${local_m}s  http ${http_m}s  ratio $(awk -v a="$http_m" -v b="$local_m" 'BEGIN {printf "%.3f", a / b}')  ($acc_local)"
