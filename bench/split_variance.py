#!/usr/bin/env python3
"""How much the 8,000/2,000 split alone moves scikit-learn's accuracy with mltrain's flow.

Reads the bundled IDX files, runs the flow of sklearn_flow.py on the bundled split and on
six random splits (numpy permutations, seeds 100-105), and prints the accuracies.

    python bench/split_variance.py [COMPONENTS]
"""

import gzip
import os
import sys

import numpy as np
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier

DATA = os.path.join(os.path.dirname(__file__), "..", "data", "mnist")


def read_idx():
    images = gzip.open(os.path.join(DATA, "images-idx3-ubyte.gz")).read()[16:]
    labels = gzip.open(os.path.join(DATA, "labels-idx1-ubyte.gz")).read()[8:]
    x = np.frombuffer(images, dtype=np.uint8).reshape(-1, 784).astype(np.float32) / 255
    return x, np.frombuffer(labels, dtype=np.uint8).astype(int)


def flow(x, y, xt, yt, k, num_pca=4, num_rf=8, seed=0):
    rng = np.random.default_rng(seed)
    parts = [[] for _ in range(num_pca)]
    nxt = 0
    for c in range(10):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        for i in idx:
            parts[nxt].append(i)
            nxt = (nxt + 1) % num_pca
    proba = np.zeros((len(yt), 10))
    for part in parts:
        part = np.asarray(part)
        pca = PCA(k).fit(x[part])
        z, zt, yp = pca.transform(x[part]), pca.transform(xt), y[part]
        order = np.argsort(yp, kind="stable")
        for j in range(num_rf // num_pca):
            s = order[j :: num_rf // num_pca]
            rf = RandomForestClassifier(100, max_depth=10, min_samples_split=5, n_jobs=-1, random_state=seed * 100 + j)
            proba[:, rf.fit(z[s], yp[s]).classes_] += rf.predict_proba(zt)
    return float((proba.argmax(1) == yt).mean())


def main():
    k = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    x, y = read_idx()
    print(f"components {k}: bundled split {flow(x[:8000], y[:8000], x[8000:], y[8000:], k):.4f}")
    accs = []
    for r in range(6):
        perm = np.random.default_rng(100 + r).permutation(len(y))
        tr, te = perm[:8000], perm[8000:]
        accs.append(flow(x[tr], y[tr], x[te], y[te], k))
    print("random splits", " ".join(f"{a:.4f}" for a in accs), f"mean {np.mean(accs):.4f}")


if __name__ == "__main__":
    main()
