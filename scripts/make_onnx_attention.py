#!/usr/bin/env python3
"""Export a small nn.MultiheadAttention block with both of PyTorch's exporters, for the ONNX import tests.

usage: python3 scripts/make_onnx_attention.py [--out DIR]

Writes into Tests/NNCCTests/Fixtures/onnx/: attention_legacy.onnx (dynamo=False, opset 17, dynamic
batch: the exporter multiplies the batch by the heads in its shape arithmetic), attention_dynamo.onnx
(dynamo=True at a fixed batch of 1, weights inside the file: the batch merges into the heads' and the
sequence's axes), x.npy (3 examples) and y.npy (PyTorch's outputs). The attention runs on (T, N, E)
inside, as PyTorch's MultiheadAttention does. Needs torch and onnx; the tests need neither.
"""
import argparse, os, warnings

import numpy as np
import onnx
import torch
import torch.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.att = nn.MultiheadAttention(8, 2, batch_first=True)
        self.fc = nn.Linear(8, 3)
        with torch.no_grad():                       # PyTorch starts these biases at 0: make them count
            self.att.in_proj_bias.uniform_(-0.5, 0.5)
            self.att.out_proj.bias.uniform_(-0.5, 0.5)

    def forward(self, x):
        y, _ = self.att(x, x, x, need_weights=False)
        return self.fc(torch.relu(x + y)).mean(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "Tests", "NNCCTests", "Fixtures", "onnx"))
    out = ap.parse_args().out
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    m = Block().eval()
    x = torch.randn(3, 5, 8)
    np.save(os.path.join(out, "x.npy"), x.numpy())
    np.save(os.path.join(out, "y.npy"), m(x).detach().numpy())
    warnings.simplefilter("ignore")
    legacy = os.path.join(out, "attention_legacy.onnx")
    torch.onnx.export(m, (x[:1],), legacy, input_names=["x"], dynamic_axes={"x": {0: "batch"}}, opset_version=17, dynamo=False)
    dynamo = os.path.join(out, "attention_dynamo.onnx")
    torch.onnx.export(m, (x[:1],), dynamo, input_names=["x"], dynamo=True)
    onnx.save(onnx.load(dynamo), dynamo, save_as_external_data=False)
    if os.path.exists(dynamo + ".data"):
        os.remove(dynamo + ".data")
    print("wrote", out)


if __name__ == "__main__":
    main()
