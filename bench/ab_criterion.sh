#!/usr/bin/env bash
# Two or more criterion bench binaries side by side, alternating, ROUNDS rounds each:
#
#   bench/ab_criterion.sh ROUNDS "BENCH NAME" BIN_A BIN_B [BIN ...]
#
# Each BIN is a copy of a bench executable (`cargo bench -p mltrain-core --bench forest
# --no-run` prints its path; copy it before building the other side). Prints each
# binary's median of the per-round point estimates. Criterion's saved baselines compare
# against a run made minutes earlier, and this machine's speed moves by 6-15% from hour to
# hour; alternating puts both sides in the same minutes.
set -euo pipefail
rounds=$1
name=$2
shift 2
for _ in $(seq "$rounds"); do
    for bin in "$@"; do
        estimate=$("$bin" --bench "$name" --warm-up-time 1 --measurement-time 3 --noplot 2>/dev/null |
            grep "time:" | head -n 1 | awk '{print $4, $5}')
        echo "$bin $estimate"
    done
done | python3 -c '
import collections, statistics, sys
unit = {"s": 1e3, "ms": 1.0, "µs": 1e-3, "us": 1e-3, "ns": 1e-6}
times = collections.defaultdict(list)
for line in sys.stdin:
    b, v, u = line.split()
    times[b].append(float(v) * unit[u])
for b, v in times.items():
    print(f"{b}: median {statistics.median(v):.4f} ms over {len(v)} rounds: {[round(x, 3) for x in v]}")
'
