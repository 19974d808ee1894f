#!/usr/bin/env python3
"""Export the PyTorch fixture models to ONNX, beside their model.json.

usage: python3 scripts/make_onnx_fixtures.py [--dir DIR] [--only NAME,...]

For every case folder of Tests/NNCCTests/Fixtures/torch (see make_fixtures.py)
this rebuilds the PyTorch model from model.json and weights.safetensors and
writes model.onnx with torch.onnx.export (TorchScript exporter, opset 17 (OPSETS),
dynamic batch). The tests import it with nncc and compare with the same y.npy
as the JSON model, so every layer is checked through PyTorch's exporter too.
Cases that only vary the training settings are left out. It also checks with onnxruntime, when installed, that the file reproduces
y.npy. Cases PyTorch cannot export are reported and skipped.
"""
import argparse, io, json, os, sys, warnings, contextlib

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import DEFAULT_OUT, Net, load_params, load_safetensors  # noqa: E402


# Cases that differ from others only in their training settings: their
# networks are exported already under another case, so they are left out to
# keep the test suite's compile time down.
TRAINING_VARIANTS = {"opt_adam", "opt_adam_wd_betas", "opt_sgd_nesterov_wd", "clip_norm", "steps_lenet",
                     "steps_lstm", "bce_dense_sigmoid", "dropout_zero_train", "ce_softmax"}


# Cases exported at another opset than 17. From 20 on, GELU's tanh form is one Gelu node (at 17 it is a
# chain of Mul, Add and Tanh nodes that nncc does not match).
# layernorm_seq at 14: LayerNorm as the chain ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, Mul, Add (from 17
# on one LayerNormalization node, as in groupnorm_cnn).
OPSETS = {"unary_dense": 20, "layernorm_seq": 14}


class Outputs(torch.nn.Module):
    """The fixture network, returning its output layers as ONNX outputs."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        env = self.net(x)
        outs = tuple(env[o] for o in self.net.outputs)
        return outs[0] if len(outs) == 1 else outs


def export(d):
    spec = json.load(open(os.path.join(d, "model.json")))
    net = Net(spec)
    load_params(net, load_safetensors(os.path.join(d, "weights.safetensors")))
    net.eval()
    x = torch.from_numpy(np.load(os.path.join(d, "x.npy")))
    model = Outputs(net).eval()
    names = ["output%d" % i for i in range(len(net.outputs))] if len(net.outputs) > 1 else ["output"]
    path = os.path.join(d, "model.onnx")
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), path, input_names=["input"], output_names=names, opset_version=OPSETS.get(os.path.basename(d), 17),
                          dynamic_axes={n: {0: "batch"} for n in ["input"] + names}, dynamo=False)
    try:
        import onnxruntime as ort
    except ImportError:
        return "exported"
    try:
        y = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0]
    except Exception as e:  # ORT lacks a few cases (dilated SAME_UPPER conv); nncc is still tested on them
        return "exported; onnxruntime cannot run it: %s" % str(e).splitlines()[0][:80]
    want = np.load(os.path.join(d, "y.npy"))
    err = float(np.abs(y.reshape(want.shape) - want).max())
    if err > 1e-4:
        os.remove(path)
        return "removed: onnxruntime differs from y.npy by %g" % err
    return "exported, onnxruntime matches y.npy to %.1g" % err


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default=DEFAULT_OUT)
    ap.add_argument("--only", help="comma list of case names")
    a = ap.parse_args()
    torch.set_num_threads(1)
    only = set(a.only.split(",")) if a.only else None
    for name in sorted(os.listdir(a.dir)):
        d = os.path.join(a.dir, name)
        if not os.path.exists(os.path.join(d, "model.json")) or (only and name not in only):
            continue
        if name in TRAINING_VARIANTS:
            if os.path.exists(os.path.join(d, "model.onnx")):
                os.remove(os.path.join(d, "model.onnx"))
            continue
        try:
            msg = export(d)
        except Exception as e:  # report and go on: not every model is exportable
            msg = "skipped: %s" % str(e).splitlines()[0][:100]
        print("%-22s %s" % (name, msg))


if __name__ == "__main__":
    main()
