#!/usr/bin/env python3
"""Writes an N-layer model for compile-time measurements (docs/compile-time.md).

  python3 scripts/make_deep.py mlp 4000 > /tmp/deep.json    # dense 64->64 + relu, alternating
  python3 scripts/make_deep.py conv 1000 > /tmp/deepc.json  # conv 8x3x3 pad 1 + relu on [8, 8, 8]

N counts the entries of "layers" (a dense and its relu are two).
"""
import json
import sys


def model(kind, n):
    if kind == "mlp":
        shape, pair = [64], [{"type": "dense", "units": 64}, {"type": "relu"}]
    elif kind == "conv":
        shape, pair = [8, 8, 8], [{"type": "conv2d", "filters": 8, "kernel_size": 3, "padding": 1}, {"type": "relu"}]
    else:
        sys.exit("usage: make_deep.py mlp|conv N")
    layers = (pair * (n // 2 + 1))[:n]
    return {"format": 1, "name": f"deep_{kind}_{n}", "input": {"shape": shape}, "layers": layers,
            "train": {"loss": "mse", "optimizer": {"type": "sgd", "lr": 0.001}, "batch_size": 8, "epochs": 1}}


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: make_deep.py mlp|conv N")
    json.dump(model(sys.argv[1], int(sys.argv[2])), sys.stdout)
    sys.stdout.write("\n")
