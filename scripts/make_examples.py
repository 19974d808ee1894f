#!/usr/bin/env python3
"""Writes the example data next to examples/mlp.json: mlp.safetensors and mlp_x.npy.

Needs only numpy. The output is deterministic (fixed seeds), so a rerun gives
identical bytes:

    python3 scripts/make_examples.py            # rewrite the files
    python3 scripts/make_examples.py --check    # exit 1 if they differ from a fresh run

Weights are PyTorch-layout (nn.Linear: weight [out, in], bias [out]) and
named as an nn.Sequential names its modules ("0.weight", "2.bias", ...),
drawn like PyTorch's default init: uniform in +-1/sqrt(fan_in).
"""
import json
import os
import struct
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
SEED = 20240611
NUM_INPUTS = 8


def mlp_params(model):
    """(name, array) for every dense layer of a sequential model, in order."""
    rng = np.random.default_rng(SEED)
    fan_in = int(np.prod(model["input"]["shape"]))
    out = []
    for i, layer in enumerate(model["layers"]):
        if layer["type"] != "dense":
            continue
        name = layer.get("name", str(i))
        units = layer["units"]
        bound = 1.0 / np.sqrt(fan_in)
        out.append((name + ".weight", rng.uniform(-bound, bound, (units, fan_in)).astype("<f4")))
        if layer.get("bias", True):
            out.append((name + ".bias", rng.uniform(-bound, bound, (units,)).astype("<f4")))
        fan_in = units
    return out


def safetensors_bytes(tensors):
    header, offset = {}, 0
    for name, a in tensors:
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)  # keep the data 8-byte aligned
    return struct.pack("<Q", len(head)) + head + b"".join(a.tobytes() for _, a in tensors)


def npy_bytes(a):
    import io
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def outputs():
    model = json.load(open(os.path.join(EXAMPLES, "mlp.json")))
    weights = safetensors_bytes(mlp_params(model))
    # Zero mean, unit variance, like MNIST pixels after the usual normalisation.
    x = np.random.default_rng(SEED + 1).standard_normal((NUM_INPUTS, *model["input"]["shape"])).astype("<f4")
    return {"mlp.safetensors": weights, "mlp_x.npy": npy_bytes(x)}


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    for name, data in outputs().items():
        path = os.path.join(EXAMPLES, name)
        if check:
            if not os.path.exists(path) or open(path, "rb").read() != data:
                stale.append(name)
        else:
            with open(path, "wb") as f:
                f.write(data)
            print("wrote %s (%d bytes)" % (os.path.relpath(path, ROOT), len(data)))
    if stale:
        print("stale: %s (run python3 scripts/make_examples.py)" % ", ".join(stale), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
