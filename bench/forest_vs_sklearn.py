#!/usr/bin/env python3
"""Random forest training alone, mltrain against scikit-learn, one thread each, same rows.

Projects the first 8,000 bundled digits on 10 principal components (scikit-learn PCA, fitted
on them) and the last 2,000 through the same basis, writes both as CSV, then fits one forest
of 100 trees (depth 10, min_samples_split 5, sqrt features, bootstrap) REPEATS times with
each library on one thread: scikit-learn with n_jobs=1, mltrain with the `forest_csv`
example in a one-thread rayon pool. Prints the median fit times, the mean held-out
accuracies and the ratio. Run from the repository root:

    bench/.venv/bin/python bench/forest_vs_sklearn.py [REPEATS]
"""

import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def digits():
    data = os.path.join(ROOT, "data", "mnist")
    images = gzip.open(os.path.join(data, "images-idx3-ubyte.gz")).read()[16:]
    labels = gzip.open(os.path.join(data, "labels-idx1-ubyte.gz")).read()[8:]
    x = np.frombuffer(images, dtype=np.uint8).reshape(-1, 784).astype(np.float32) / 255
    return x, np.frombuffer(labels, dtype=np.uint8).astype(int)


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    x, y = digits()
    pca = PCA(10, svd_solver="full").fit(x[:8000])
    z, zt = pca.transform(x[:8000]).astype(np.float32), pca.transform(x[8000:]).astype(np.float32)
    yt = y[8000:]

    times, accs = [], []
    for r in range(repeats):
        rf = RandomForestClassifier(100, max_depth=10, min_samples_split=5, n_jobs=1, random_state=r)
        start = time.perf_counter()
        rf.fit(z, y[:8000])
        times.append(time.perf_counter() - start)
        accs.append(float((rf.predict(zt) == yt).mean()))
    sk = {"fit_seconds": statistics.median(times), "accuracy": statistics.mean(accs)}

    with tempfile.TemporaryDirectory() as tmp:
        train, test = os.path.join(tmp, "train.csv"), os.path.join(tmp, "test.csv")
        np.savetxt(train, np.column_stack([z, y[:8000]]), delimiter=",", fmt="%.9g")
        np.savetxt(test, np.column_stack([zt, yt]), delimiter=",", fmt="%.9g")
        out = subprocess.run(
            ["cargo", "run", "--quiet", "--release", "--locked", "-p", "mltrain-core",
             "--example", "forest_csv", "--", train, test, str(repeats)],
            cwd=ROOT, check=True, capture_output=True, text=True).stdout
        ml = json.loads(out.strip().splitlines()[-1])

    print(f"{'library':<14}{'median fit s':>14}{'accuracy':>10}")
    print(f"{'scikit-learn':<14}{sk['fit_seconds']:>14.4f}{sk['accuracy']:>10.4f}")
    print(f"{'mltrain':<14}{ml['fit_seconds']:>14.4f}{ml['accuracy']:>10.4f}")
    print(f"scikit-learn ÷ mltrain = {sk['fit_seconds'] / ml['fit_seconds']:.1f}× "
          f"({repeats} fits each, 8000 rows × 10 PCA features, 100 trees, one thread)")


if __name__ == "__main__":
    main()
