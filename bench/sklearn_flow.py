#!/usr/bin/env python3
"""scikit-learn with mltrain's data flow, on the same ImageFolder files.

Reads TRAIN and TEST ImageFolder trees (<dir>/<class>/<image>.png), then does what
`mltrain run TRAIN NUM_PCA NUM_RF --test TEST` does: deal the training images over NUM_PCA
partitions (shuffled, stratified by class), fit PCA on each partition, split each
partition's projected rows into NUM_RF/NUM_PCA class-stratified shares, train one
RandomForestClassifier per share, and soft-vote every forest (each through its own basis)
on the test images. Prints one JSON object: accuracy, image counts and seconds.

    python bench/sklearn_flow.py TRAIN_DIR TEST_DIR [--pca 4] [--rf 8] [--components 10]
                                 [--channels grey|rgb] [--svd-solver SOLVER]

By default the pixels are grey (OpenCV's ITU-R 601 luma) and PCA is scikit-learn's default
(svd_solver='auto', unseeded). --channels rgb reads colour pixels instead, as one row in
H, W, C order with C = R, G, B; --svd-solver passes that solver to PCA with
random_state=--seed. With either option the JSON also names the channels, the features
per image and the solver PCA used ("auto" resolves by the data's shape).
"""

import argparse
import json
import os
import time

import cv2
import numpy as np
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier


def load(root, classes=None, channels="grey"):
    names = sorted(os.listdir(root)) if classes is None else classes
    xs, ys = [], []
    for label, name in enumerate(names):
        folder = os.path.join(root, name)
        if not os.path.isdir(folder):
            continue
        for f in sorted(os.listdir(folder)):
            if channels == "rgb":
                img = cv2.imread(os.path.join(folder, f), cv2.IMREAD_COLOR)
                if img is not None:
                    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
            else:
                img = cv2.imread(os.path.join(folder, f), cv2.IMREAD_GRAYSCALE)
            if img is None:
                raise SystemExit(f"not a decodable image: {os.path.join(folder, f)}")
            xs.append(img.reshape(-1))
            ys.append(label)
    return np.asarray(xs, dtype=np.float32) / 255.0, np.asarray(ys), names


def forests_of(i, num_pca, num_rf):
    return num_rf // num_pca + (1 if i < num_rf % num_pca else 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("train")
    ap.add_argument("test")
    ap.add_argument("--pca", type=int, default=4)
    ap.add_argument("--rf", type=int, default=8)
    ap.add_argument("--components", type=int, default=10)
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--max-depth", type=int, default=10)
    ap.add_argument("--min-samples-split", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=-1)
    ap.add_argument("--channels", choices=["grey", "rgb"], default=None,
                    help="pixels: grey (the default) or rgb")
    ap.add_argument("--svd-solver", default=None,
                    choices=["auto", "full", "covariance_eigh", "arpack", "randomized"],
                    help="PCA's svd_solver, seeded with --seed (default: PCA's defaults)")
    a = ap.parse_args()
    channels = a.channels or "grey"
    described = a.channels is not None or a.svd_solver is not None
    solvers = set()

    start = time.perf_counter()
    x, y, classes = load(a.train, channels=channels)
    xt, yt, _ = load(a.test, classes, channels=channels)
    rng = np.random.default_rng(a.seed)
    parts = [[] for _ in range(a.pca)]
    nxt = 0
    for c in range(len(classes)):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        for i in idx:
            parts[nxt].append(i)
            nxt = (nxt + 1) % a.pca
    proba = np.zeros((len(yt), len(classes)))
    forest = 0
    for i, part in enumerate(parts):
        part = np.asarray(part)
        if a.svd_solver is None:
            pca = PCA(a.components).fit(x[part])
        else:
            pca = PCA(a.components, svd_solver=a.svd_solver,
                      random_state=a.seed).fit(x[part])
        solvers.add(getattr(pca, "_fit_svd_solver", pca.svd_solver))
        z, zt, yp = pca.transform(x[part]), pca.transform(xt), y[part]
        order = np.argsort(yp, kind="stable")
        shares = forests_of(i, a.pca, a.rf)
        for j in range(shares):
            s = order[j::shares]
            rf = RandomForestClassifier(
                n_estimators=a.trees,
                max_depth=a.max_depth,
                min_samples_split=a.min_samples_split,
                n_jobs=a.jobs,
                random_state=a.seed * 1000 + forest,
            ).fit(z[s], yp[s])
            # Align columns: a share may lack a class.
            proba[:, rf.classes_] += rf.predict_proba(zt)
            forest += 1
    accuracy = float((proba.argmax(1) == yt).mean())
    report = {
        "pipeline": "scikit-learn",
        "accuracy": accuracy,
        "train_images": int(len(y)),
        "test_images": int(len(yt)),
        "seconds": time.perf_counter() - start,
    }
    if described:
        report.update(channels=channels, features=int(x.shape[1]),
                      svd_solver="/".join(sorted(solvers)))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
