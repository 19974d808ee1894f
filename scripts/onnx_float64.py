#!/usr/bin/env python3
"""How far float32 evaluations of a model are from its float64 result: nncc, ONNX Runtime and PyTorch.

    python3 scripts/onnx_float64.py [--model inception_v3] [--inputs 4] [--nncc PATH] [--cache DIR]

For a model of scripts/onnx_models.py (same construction, weights and exports: run that script
first to fill --cache), on its cached input and --inputs − 1 more (seeds 2, 3, ...), it runs:
- PyTorch float64 (model.double(), the same weights): the reference;
- PyTorch float32 as onnx_models.py does (the expected output of `nncc check`), and again with
  channels_last tensors and with oneDNN off: the same arithmetic summed in other orders;
- ONNX Runtime (one thread, default optimizations) and nncc on both exports;
- the exact result rounded to float32, and the float32-storage floor: float64 arithmetic with every
  leaf module's inputs and output rounded to float32 (what an implementation that stores float32
  and sums without error would give).
Each row: the largest and mean |y − y64| over all logits, then per input the logits outside
atol 1e-4 + rtol 1e-3 of PyTorch's float32 output (what `nncc check` counts) and, in brackets, of
the float64 one. docs/onnx.md ("inception_v3") has the results. Needs torch, torchvision, onnx and
onnxruntime; the tests never run this.
"""
import argparse
import copy
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx_models  # noqa: E402  (same models, same cache)

ATOL, RTOL = 1e-4, 1e-3


def misses(y, ref):
    """Per example: elements of y outside ATOL + RTOL·|ref| of ref, as nncc check counts them."""
    return (np.abs(y - ref) > ATOL + RTOL * np.abs(ref)).sum(axis=1)


def torch_runs(model, xs):
    """{label: [N, classes] float64} of PyTorch's evaluations, one example at a time."""
    import torch

    def each(m, memory_format=torch.contiguous_format, dtype=torch.float32):
        with torch.no_grad():
            return np.concatenate([m(torch.from_numpy(x[None]).to(dtype).to(memory_format=memory_format)).double().numpy()
                                   for x in xs])

    out = {"PyTorch f32 (expected)": each(model)}
    out["PyTorch f32, channels_last"] = each(model.to(memory_format=torch.channels_last), torch.channels_last)
    model.to(memory_format=torch.contiguous_format)
    torch.backends.mkldnn.enabled = False
    out["PyTorch f32, oneDNN off"] = each(model)
    torch.backends.mkldnn.enabled = True
    m64 = copy.deepcopy(model).double()
    y64 = each(m64, dtype=torch.float64)
    out["float64 rounded to f32"] = y64.astype(np.float32).astype(np.float64)
    leaves = [m for m in m64.modules() if not list(m.children())]
    f32 = lambda t: t.float().double() if torch.is_tensor(t) else t  # noqa: E731
    for m in leaves:
        m.register_forward_pre_hook(lambda mod, args: tuple(f32(a) for a in args))
        m.register_forward_hook(lambda mod, args, y: f32(y))
    out["f32-storage floor"] = each(m64, dtype=torch.float64)
    return y64, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="inception_v3")
    ap.add_argument("--inputs", type=int, default=4)
    ap.add_argument("--nncc", default=os.path.join(onnx_models.ROOT, ".build/release/nncc"))
    ap.add_argument("--cache", default="/tmp/nncc-onnx-models")
    args = ap.parse_args()
    import torch
    import onnxruntime as ort
    torch.set_num_threads(1)
    folder = os.path.join(args.cache, args.model)
    if not os.path.exists(os.path.join(folder, "x.npy")):
        sys.exit(f"no export of {args.model} in {args.cache}: run scripts/onnx_models.py --only {args.model} first")
    model, _ = onnx_models.build(args.model)
    xs = [np.load(os.path.join(folder, "x.npy"))[0]]
    for seed in range(2, args.inputs + 1):
        torch.manual_seed(seed)
        xs.append(torch.randn(xs[0].shape).numpy())
    xs = np.stack(xs).astype(np.float32)
    y64, runs = torch_runs(model, xs)
    with tempfile.TemporaryDirectory() as tmp:
        np.save(os.path.join(tmp, "x.npy"), xs)
        for exporter in onnx_models.EXPORTERS:
            path = os.path.join(folder, exporter, "model.onnx")
            so = ort.SessionOptions()
            so.intra_op_num_threads = 1
            s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
            runs[f"ONNX Runtime, {exporter}"] = np.concatenate(
                [s.run(None, {s.get_inputs()[0].name: x[None]})[0] for x in xs]).astype(np.float64)
            out = os.path.join(tmp, "y.npy")
            subprocess.run([args.nncc, "run", path, "--input", os.path.join(tmp, "x.npy"), "--output", out], check=True)
            runs[f"nncc, {exporter}"] = np.load(out).astype(np.float64)
    expected = runs["PyTorch f32 (expected)"]
    print(f"{args.model}, {len(xs)} inputs; |y64| up to {np.abs(y64).max():.3g}")
    print("| evaluation | max \\|y − y64\\| | mean | logits out of tolerance of PyTorch f32 (of float64), per input |")
    print("|---|---|---|---|")
    for label, y in runs.items():
        err = np.abs(y - y64)
        per = ", ".join(f"{a} ({b})" for a, b in zip(misses(y, expected), misses(y, y64)))
        print(f"| {label} | {err.max():.2e} | {err.mean():.2e} | {per} |")


if __name__ == "__main__":
    main()
