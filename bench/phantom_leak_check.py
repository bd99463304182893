#!/usr/bin/env python3
"""Leak check of a dataset file: can a linear model tell the labels from intensity histograms?

A logistic regression (scikit-learn defaults) on each image's 32-bin intensity histogram,
scored by stratified 5-fold cross-validated ROC AUC. Near 0.5 means the label does not show in
global statistics; the phantom generator keeps it at most 0.65.

Usage: /usr/bin/python3 bench/phantom_leak_check.py data/pneumothorax_train.h5 [--limit N]
Needs Debian's python3-h5py, python3-numpy and python3-sklearn.
"""
import argparse
import json

import h5py
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.metrics import roc_auc_score

BINS = 32
SLICE = 500


def histograms(images):
    """32-bin intensity histograms of uint8 images, as fractions of their pixels."""
    flat = images.reshape(images.shape[0], -1)
    counts = np.stack([np.bincount(row >> 3, minlength=BINS) for row in flat])
    return counts / flat.shape[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="HDF5 file of the lab's schema")
    parser.add_argument("--limit", type=int, default=0, help="use the first N images (0: all)")
    args = parser.parse_args()
    with h5py.File(args.path, "r") as f:
        n = f["image"].shape[0] if args.limit <= 0 else min(args.limit, f["image"].shape[0])
        labels = f["label"][:n, 1].astype(int)
        features = np.concatenate(
            [histograms(f["image"][i : min(n, i + SLICE)].astype(np.uint8)) for i in range(0, n, SLICE)]
        )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    scores = cross_val_predict(model, features, labels, cv=folds, method="decision_function")
    print(json.dumps({"file": args.path, "images": int(n), "positives": int(labels.sum()),
                      "histogramAuc": round(float(roc_auc_score(labels, scores)), 4)}))


if __name__ == "__main__":
    main()
