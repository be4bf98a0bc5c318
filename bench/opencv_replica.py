#!/usr/bin/env python3
"""A replica of the original ml-training workflow's stages with OpenCV, one after another.

The original workflow (C++, OpenCV) decodes every PNG with cv::imdecode, resizes it to
64x64, fits cv::PCA with 10 components per PCA function, projects its images, splits the
projected rows over its random-forest functions, and trains one cv::ml::RTrees per share
(100 trees, depth 10, min sample count 5, regression accuracy 0.01, max categories 15),
serialising each forest to YAML. This script runs those stages with the same OpenCV calls
through cv2, one function after another in one process, on the same ImageFolder files that
mltrain and `sklearn_flow.py` read, with mltrain's data flow where the original had
defects:

- partition: the training images are dealt over NUM_PCA partitions, shuffled and
  stratified by class (the same code as `sklearn_flow.py`); labels are the class folders;
- pca: cv2.PCACompute (DATA_AS_ROW, maxComponents=K) per partition, then cv2.PCAProject;
  the projected rows are split into NUM_RF/NUM_PCA class-stratified shares;
- rf: cv2.ml.RTrees per share, trained with ROW_SAMPLE and int32 class responses, active
  var count 0 (OpenCV's default: sqrt of the number of features), then written to an
  in-memory YAML FileStorage as the original rf function does;
- validation (the original only copied the forests): the test images are projected
  through each forest's own basis and every forest's per-class vote shares
  (RTrees.getVotes: the fraction of its trees voting for each class) are summed over all
  forests (soft vote); the accuracy is that of the arg-max.

Prints one JSON object like `sklearn_flow.py`: pipeline, accuracy, image counts, seconds
(from reading the first PNG to the validated ensemble).

    python bench/opencv_replica.py TRAIN_DIR TEST_DIR [--pca 2] [--rf 8] [--components 10]
                                   [--no-resize]
"""

import argparse
import json
import os
import time

import cv2
import numpy as np


def load(root, size, classes=None):
    """Decode an ImageFolder tree with cv2.imdecode, as the original pca function does."""
    names = sorted(os.listdir(root)) if classes is None else classes
    rows, ys = [], []
    for label, name in enumerate(names):
        folder = os.path.join(root, name)
        if not os.path.isdir(folder):
            continue
        for f in sorted(os.listdir(folder)):
            path = os.path.join(folder, f)
            with open(path, "rb") as fh:
                raw = np.frombuffer(fh.read(), dtype=np.uint8)
            img = cv2.imdecode(raw, cv2.IMREAD_GRAYSCALE)
            if img is None:
                raise SystemExit(f"not a decodable image: {path}")
            if size is not None:
                img = cv2.resize(img, size)
            rows.append(img.reshape(1, -1))
            ys.append(label)
    # cv::vconcat(images, data); data.convertTo(data, CV_32F) in the original.
    x = np.vstack(rows).astype(np.float32)
    return x, np.asarray(ys, dtype=np.int32), names


def forests_of(i, num_pca, num_rf):
    return num_rf // num_pca + (1 if i < num_rf % num_pca else 0)


def partition(y, num_classes, num_pca, seed):
    """Shuffled, class-stratified round-robin: the same as sklearn_flow.py."""
    rng = np.random.default_rng(seed)
    parts = [[] for _ in range(num_pca)]
    nxt = 0
    for c in range(num_classes):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        for i in idx:
            parts[nxt].append(i)
            nxt = (nxt + 1) % num_pca
    return [np.asarray(p, dtype=np.int64) for p in parts]


def train_forest(z, y, a):
    """One rf function: cv::ml::RTrees with the original workflow's parameters."""
    rf = cv2.ml.RTrees_create()
    rf.setMaxDepth(a.max_depth)
    rf.setMinSampleCount(a.min_samples_split)
    rf.setRegressionAccuracy(0.01)
    rf.setMaxCategories(15)
    rf.setActiveVarCount(0)  # 0: sqrt(number of features), OpenCV's default
    rf.setCalculateVarImportance(False)
    rf.setTermCriteria((cv2.TERM_CRITERIA_MAX_ITER, a.trees, 0.01))
    rf.train(np.ascontiguousarray(z, dtype=np.float32), cv2.ml.ROW_SAMPLE,
             np.ascontiguousarray(y, dtype=np.int32).reshape(-1, 1))
    # The original rf function serialises the forest to YAML for the store.
    fs = cv2.FileStorage(".yml", cv2.FILE_STORAGE_WRITE | cv2.FILE_STORAGE_MEMORY)
    rf.write(fs)
    model_bytes = fs.releaseAndGetString()
    return rf, len(model_bytes)


def vote_shares(rf, zt, num_classes):
    """Per-class share of the forest's trees voting for each test row."""
    votes = rf.getVotes(np.ascontiguousarray(zt, dtype=np.float32), 0)
    labels = votes[0].astype(np.int64)
    counts = votes[1:].astype(np.float64)
    out = np.zeros((len(zt), num_classes))
    out[:, labels] = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("train")
    ap.add_argument("test")
    ap.add_argument("--pca", type=int, default=2)
    ap.add_argument("--rf", type=int, default=8)
    ap.add_argument("--components", type=int, default=10)
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--max-depth", type=int, default=10)
    ap.add_argument("--min-samples-split", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-resize", action="store_true",
                    help="keep the images' own size (the original resized 28x28 to 64x64)")
    a = ap.parse_args()
    if a.pca < 1 or a.rf < a.pca:
        ap.error("need 1 <= --pca <= --rf")
    cv2.setRNGSeed(a.seed)
    size = None if a.no_resize else (64, 64)

    start = time.perf_counter()
    x, y, classes = load(a.train, size)
    xt, yt, _ = load(a.test, size, classes)
    proba = np.zeros((len(yt), len(classes)))
    forests = 0
    for i, part in enumerate(partition(y, len(classes), a.pca, a.seed)):
        # pca function i
        xp, yp = x[part], y[part]
        mean, basis = cv2.PCACompute(xp, mean=None, maxComponents=a.components)
        z = cv2.PCAProject(xp, mean, basis)
        zt = cv2.PCAProject(xt, mean, basis)
        order = np.argsort(yp, kind="stable")
        shares = forests_of(i, a.pca, a.rf)
        for j in range(shares):
            # rf function i-j
            s = order[j::shares]
            rf, _ = train_forest(z[s], yp[s], a)
            # validation: this forest's votes through its own basis
            proba += vote_shares(rf, zt, len(classes))
            forests += 1
    accuracy = float((proba.argmax(1) == yt).mean())
    print(json.dumps({
        "pipeline": "opencv" + ("-no-resize" if a.no_resize else ""),
        "accuracy": accuracy,
        "train_images": int(len(y)),
        "test_images": int(len(yt)),
        "seconds": time.perf_counter() - start,
        "forests": forests,
        "features": int(x.shape[1]),
    }))


if __name__ == "__main__":
    main()
