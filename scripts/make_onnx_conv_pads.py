#!/usr/bin/env python3
"""An ONNX model of 1-D and 2-D Conv nodes with uneven pads, for the ONNX import tests.

usage: python3 scripts/make_onnx_conv_pads.py [--out DIR]

PyTorch's exporters never write uneven Conv pads (they put a Pad node before), so the graph is
built with onnx.helper: (N, 3, 9, 11) through
  a: 3x3, pads (top 0, left 1, bottom 2, right 0), bias, Relu     -> (4, 9, 10)
  b: 3x2 depthwise (group 4), pads (1, 0, 0, 1), dilations (1, 2) -> (4, 8, 9)
  c: 3x2, auto_pad SAME_LOWER, strides (2, 2)                     -> (5, 4, 5)
  d: 2x2, auto_pad SAME_UPPER (stride 1, an even kernel), bias    -> (6, 4, 5)
  Reshape to (N, 6, 20), then 1-D:
  e: k 4, pads (2, 1), stride 2                                   -> (3, 10)
  f: k 3, auto_pad SAME_LOWER, stride 3, bias                     -> (2, 4)
Writes into Tests/NNCCTests/Fixtures/onnx/: conv_pads.onnx, conv_pads_x.npy (3 examples) and
conv_pads_y.npy (onnxruntime's outputs, checked here against PyTorch's F.pad + conv within 1e-5).
Needs onnx, onnxruntime and torch; the tests need none of them.
"""
import argparse
import os

import numpy as np
import onnx
import onnxruntime
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def same_pads(n, stride, extent, upper):
    """ONNX's auto_pad SAME_*: output ceil(n / stride), the odd pad after (UPPER) or before."""
    total = max((-(-n // stride) - 1) * stride + extent - n, 0)
    return (total // 2, total - total // 2) if upper else (total - total // 2, total // 2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "Tests", "NNCCTests", "Fixtures", "onnx"))
    out = ap.parse_args().out
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(0)

    def w(*shape):
        return (rng.standard_normal(shape) * 0.4).astype(np.float32)

    ws = {"a.weight": w(4, 3, 3, 3), "a.bias": w(4), "b.weight": w(4, 1, 3, 2), "c.weight": w(5, 4, 3, 2),
          "d.weight": w(6, 5, 2, 2), "d.bias": w(6), "e.weight": w(3, 6, 4), "f.weight": w(2, 3, 3), "f.bias": w(2)}
    inits = [numpy_helper.from_array(v, k) for k, v in ws.items()]
    inits.append(numpy_helper.from_array(np.array([0, 6, 20], np.int64), "flat"))
    nodes = [
        helper.make_node("Conv", ["x", "a.weight", "a.bias"], ["a"], pads=[0, 1, 2, 0]),
        helper.make_node("Relu", ["a"], ["ar"]),
        helper.make_node("Conv", ["ar", "b.weight"], ["b"], pads=[1, 0, 0, 1], group=4, dilations=[1, 2]),
        helper.make_node("Conv", ["b", "c.weight"], ["c"], auto_pad="SAME_LOWER", strides=[2, 2]),
        helper.make_node("Conv", ["c", "d.weight", "d.bias"], ["d"], auto_pad="SAME_UPPER"),
        helper.make_node("Reshape", ["d", "flat"], ["dl"]),
        helper.make_node("Conv", ["dl", "e.weight"], ["e"], pads=[2, 1], strides=[2]),
        helper.make_node("Conv", ["e", "f.weight", "f.bias"], ["y"], auto_pad="SAME_LOWER", strides=[3]),
    ]
    graph = helper.make_graph(nodes, "conv_pads", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 9, 11])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, 4])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)

    x = rng.standard_normal((3, 3, 9, 11)).astype(np.float32)
    sess = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    y = sess.run(None, {"x": x})[0]

    # PyTorch: F.pad (left, right, top, bottom) then an unpadded conv.
    t = {k: torch.from_numpy(v) for k, v in ws.items()}
    h = torch.from_numpy(x)
    h = torch.relu(F.conv2d(F.pad(h, (1, 0, 0, 2)), t["a.weight"], t["a.bias"]))
    h = F.conv2d(F.pad(h, (0, 1, 1, 0)), t["b.weight"], groups=4, dilation=(1, 2))
    (top, bottom), (left, right) = same_pads(h.shape[2], 2, 3, False), same_pads(h.shape[3], 2, 2, False)
    h = F.conv2d(F.pad(h, (left, right, top, bottom)), t["c.weight"], stride=2)
    (top, bottom), (left, right) = same_pads(h.shape[2], 1, 2, True), same_pads(h.shape[3], 1, 2, True)
    h = F.conv2d(F.pad(h, (left, right, top, bottom)), t["d.weight"], t["d.bias"])
    h = F.conv1d(F.pad(h.reshape(3, 6, 20), (2, 1)), t["e.weight"], stride=2)
    h = F.conv1d(F.pad(h, same_pads(h.shape[2], 3, 3, False)), t["f.weight"], t["f.bias"], stride=3)
    assert h.shape == y.shape, (h.shape, y.shape)
    assert np.allclose(h.numpy(), y, atol=1e-5, rtol=1e-5), np.abs(h.numpy() - y).max()

    onnx.save(model, os.path.join(out, "conv_pads.onnx"))
    np.save(os.path.join(out, "conv_pads_x.npy"), x)
    np.save(os.path.join(out, "conv_pads_y.npy"), y)
    print("wrote", out, "output", y.shape)


if __name__ == "__main__":
    main()
