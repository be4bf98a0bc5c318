#!/usr/bin/env python3
"""The WebAssembly backend against native: whole runs, per stage, memory, and the module's
fixed costs (compile, cold start per call), with and without simd128.

    bench/wasm.py BIN [--sizes 2k 10k] [--runs 7]

BIN is an mltrain built with `--features wasm` (cargo build --release -p mltrain-cli
--features wasm). The modules are target/wasm/mltrain-guest.wasm and
target/wasm/mltrain-guest-simd.wasm (scripts/build-wasm.sh, and again with --simd). The data
sets are the harness's (target/bench-data/SIZE/store, made by `bench/run --scale`).

Each configuration runs `BIN run mnist/train-SIZE 2 8 --test mnist/test-2k --json`, the
configurations interleaved RUNS times so that the machine's drift hits all alike; each run
is one process (wall time, peak RSS from wait4, stage times and accuracy from its report).
Prints Markdown tables; fails if the plain module's accuracy differs from native's (the
simd128 module's is reported, with the difference, since its floating-point paths differ).
mltrain keeps the compiled module between runs (wasmtime's cache): the first run of each
module compiles it and is left out, so the runs measured load compiled code; the second
table has the compile time itself.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULES = {
    "wasm": os.path.join(ROOT, "target", "wasm", "mltrain-guest.wasm"),
    "wasm +simd128": os.path.join(ROOT, "target", "wasm", "mltrain-guest-simd.wasm"),
}


def run_once(binary, store, size, extra):
    # Each run starts from the data alone: the previous run's outputs are removed, untimed.
    shutil.rmtree(os.path.join(store, "ml-training"), ignore_errors=True)
    cmd = [binary, "--store", "file://" + store, "run", f"mnist/train-{size}", "2", "8",
           "--test", "mnist/test-2k", "--json"] + extra
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        sys.exit(f"wasm.py: {' '.join(cmd)} failed:\n{err.decode(errors='replace')}")
    report = json.loads(out)
    return {"wall": wall, "peak_mib": usage.ru_maxrss / 1024, "accuracy": report["accuracy"],
            "stages": report["stages"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    ap.add_argument("--sizes", nargs="+", default=["2k", "10k"])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--data", default=os.path.join(ROOT, "target", "bench-data"))
    args = ap.parse_args()
    for path in MODULES.values():
        if not os.path.isfile(path):
            sys.exit(f"wasm.py: no module at {path}; run scripts/build-wasm.sh (and --simd)")
    configs = {"native": []}
    configs.update({name: ["--backend", "wasm", "--module", path]
                    for name, path in MODULES.items()})

    print("| set | backend | whole run (median) | ratio to native | partition | pca | rf | "
          "validation | peak RSS | accuracy |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        store = os.path.join(os.path.abspath(args.data), size, "store")
        if not os.path.isdir(store):
            sys.exit(f"wasm.py: no data set at {store}; run bench/run --scale first")
        results = {name: [] for name in configs}
        # A first, unmeasured run of each fills the cache of compiled code.
        for name, extra in configs.items():
            run_once(args.binary, store, size, extra)
        for _ in range(args.runs):
            for name, extra in configs.items():
                results[name].append(run_once(args.binary, store, size, extra))
        native_wall = statistics.median(r["wall"] for r in results["native"])
        native_accuracy = results["native"][0]["accuracy"]
        for name, runs in results.items():
            wall = statistics.median(r["wall"] for r in runs)
            stage = lambda s: statistics.median(r["stages"][s] for r in runs) * 1000
            accuracies = {r["accuracy"] for r in runs}
            if accuracies != {native_accuracy} and "simd" not in name:
                sys.exit(f"wasm.py: {name} at {size} scored {accuracies}, native {native_accuracy}")
            accuracy = runs[0]["accuracy"]
            print(f"| {size} | {name} | {wall * 1000:.0f} ms | {wall / native_wall:.2f}× | "
                  f"{stage('partition'):.0f} ms | {stage('pca'):.0f} ms | {stage('rf'):.0f} ms | "
                  f"{stage('validation'):.0f} ms | {max(r['peak_mib'] for r in runs):.0f} MiB | "
                  f"{accuracy:.4f} |")
    print()
    print("| module | compile | load compiled code from the cache | cold start per call, median | p90 |")
    print("|---|---:|---:|---:|---:|")
    for name, path in MODULES.items():
        out = subprocess.run(
            ["cargo", "run", "--quiet", "--release", "--locked", "-p", "mltrain-wasm",
             "--example", "costs", "--", path, "200"],
            cwd=ROOT, check=True, capture_output=True, text=True).stdout
        costs = json.loads(out)
        print(f"| {name} | {costs['compile_seconds'] * 1000:.0f} ms | "
              f"{costs['cached_load_seconds'] * 1000:.1f} ms | "
              f"{costs['cold_start_median_seconds'] * 1e6:.0f} µs | "
              f"{costs['cold_start_p90_seconds'] * 1e6:.0f} µs |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
