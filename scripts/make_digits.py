"""Writes examples/digits/{train,test}.npz from the UCI optical handwritten
digits (the 8x8 set scikit-learn ships, 1797 images; CC BY 4.0).

x: float32 [N, 1, 8, 8], pixels scaled from 0..16 to [0, 1]; y: int64 [N].
The split is a fixed seeded permutation: 1437 train, 360 test.

    pip install scikit-learn numpy
    python3 scripts/make_digits.py
"""
import os

import numpy as np
from sklearn.datasets import load_digits

SEED = 0
N_TEST = 360


def main():
    out = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "digits"))
    os.makedirs(out, exist_ok=True)
    d = load_digits()  # bundled with scikit-learn: no download
    x = (d.images.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    y = d.target.astype(np.int64)
    assert x.shape == (1797, 1, 8, 8) and x.min() >= 0 and x.max() <= 1
    perm = np.random.default_rng(SEED).permutation(len(x))
    test, train = perm[:N_TEST], perm[N_TEST:]
    for name, idx in (("train", train), ("test", test)):
        path = os.path.join(out, f"{name}.npz")
        np.savez_compressed(path, x=x[idx], y=y[idx])
        counts = np.bincount(y[idx], minlength=10)
        print(f"{path}: {len(idx)} examples, per class {counts.tolist()}")


if __name__ == "__main__":
    main()
