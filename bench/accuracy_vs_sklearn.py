#!/usr/bin/env python3
"""Accuracy of mltrain and scikit-learn on the 2k task, as means over many seeds.

One seed is one partition of the training images and one draw of forest randomness; on
2,000 training images, accuracy moves by about half a point from seed to seed, so a
half-point comparison needs many seeds. Runs `mltrain run TRAIN 2 8 --test TEST --seed s`
and `sklearn_flow.py TRAIN TEST --pca 2 --rf 8 --seed s` for s in 0..SEEDS on the data
`bench/run` made, and prints each side's mean, standard deviation and the difference with
its standard error. Run from the repository root after `bench/run` (or `bench/run --quick`):

    bench/.venv/bin/python bench/accuracy_vs_sklearn.py [SEEDS] [--data DIR] [--mltrain BIN]
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("seeds", type=int, nargs="?", default=20)
    ap.add_argument("--data", default=os.path.join(ROOT, "target", "bench-data"))
    ap.add_argument("--mltrain", default=os.path.join(ROOT, "target", "release", "mltrain"))
    a = ap.parse_args()
    store = os.path.abspath(os.path.join(a.data, "2k", "store"))
    train, test = os.path.join(store, "mnist", "train-2k"), os.path.join(store, "mnist", "test-2k")
    if not os.path.isdir(train):
        sys.exit(f"no 2k data under {store}: run bench/run first")

    ml, sk = [], []
    for s in range(a.seeds):
        out = subprocess.run(
            [a.mltrain, "run", "mnist/train-2k", "2", "8", "--test", "mnist/test-2k", "--json",
             "--seed", str(s), "--store", "file://" + store],
            check=True, capture_output=True, text=True).stdout
        ml.append(json.loads(out.strip().splitlines()[-1])["accuracy"])
        out = subprocess.run(
            [sys.executable, os.path.join(ROOT, "bench", "sklearn_flow.py"), train, test,
             "--pca", "2", "--rf", "8", "--seed", str(s)],
            check=True, capture_output=True, text=True).stdout
        sk.append(json.loads(out.strip().splitlines()[-1])["accuracy"])
        print(f"seed {s}: mltrain {ml[-1]:.4f}  scikit-learn {sk[-1]:.4f}", file=sys.stderr)

    n = a.seeds
    d = statistics.mean(ml) - statistics.mean(sk)
    se = math.sqrt(statistics.variance(ml) / n + statistics.variance(sk) / n)
    print(f"{'pipeline':<14}{'seeds':>6}{'mean':>9}{'sd':>9}")
    print(f"{'mltrain':<14}{n:>6}{statistics.mean(ml):>9.4f}{statistics.stdev(ml):>9.4f}")
    print(f"{'scikit-learn':<14}{n:>6}{statistics.mean(sk):>9.4f}{statistics.stdev(sk):>9.4f}")
    print(f"mltrain − scikit-learn = {100 * d:+.2f} points (standard error {100 * se:.2f})")


if __name__ == "__main__":
    main()
