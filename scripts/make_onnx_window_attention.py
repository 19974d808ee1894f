#!/usr/bin/env python3
"""A Swin-style window attention block as PyTorch's older exporter writes it, for the ONNX import tests.

usage: python3 scripts/make_onnx_window_attention.py [--out DIR]

(N, 4, 4, 8) is split into 2x2 windows folded into the batch, (N·4, 4, 8), as torchvision's Swin
does; two heads attend within each window with a constant relative-position bias; the windows are
merged back to (N, 4, 4, 8). nncc computes each example apart, so it must compute tensors whose
batch is merged with a per-example axis (docs/onnx.md, views). Writes into
Tests/NNCCTests/Fixtures/onnx/: window_attention.onnx, window_attention_x.npy (3 examples) and
window_attention_y.npy (PyTorch's outputs). Needs torch and onnx; the tests need neither.
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
H = W = 4
WIN = 2
C = 8
HEADS = 2


class WindowAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(C, 3 * C)
        self.proj = nn.Linear(C, C)
        self.bias = nn.Parameter(torch.randn(HEADS, WIN * WIN, WIN * WIN) * 0.5)

    def forward(self, x):
        n = x.shape[0]
        t = WIN * WIN
        # (N, H, W, C) -> (N·windows, tokens, C)
        w = x.view(n, H // WIN, WIN, W // WIN, WIN, C).permute(0, 1, 3, 2, 4, 5).reshape(-1, t, C)
        qkv = self.qkv(w).reshape(-1, t, 3, HEADS, C // HEADS).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q * (C // HEADS) ** -0.5) @ k.transpose(-2, -1) + self.bias
        out = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(-1, t, C)
        out = self.proj(out)
        # windows back to (N, H, W, C)
        out = out.view(n, H // WIN, W // WIN, WIN, WIN, C).permute(0, 1, 3, 2, 4, 5).reshape(n, H, W, C)
        return out + x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "Tests", "NNCCTests", "Fixtures", "onnx"))
    args = ap.parse_args()
    torch.manual_seed(0)
    m = WindowAttention().eval()
    x = torch.randn(3, H, W, C)
    with torch.no_grad():
        y = m(x)
    path = os.path.join(args.out, "window_attention.onnx")
    torch.onnx.export(m, x[:1], path, dynamo=False, opset_version=17, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
    np.save(os.path.join(args.out, "window_attention_x.npy"), x.numpy())
    np.save(os.path.join(args.out, "window_attention_y.npy"), y.numpy())
    print(path)


if __name__ == "__main__":
    main()
