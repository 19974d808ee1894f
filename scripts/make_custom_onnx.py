#!/usr/bin/env python3
"""The ONNX fixture of --custom-op (docs/custom-ops.md): Tests/NNCCTests/Fixtures/custom/swish.onnx.

The swish fixture's model (dense d1 -> Swish -> dense d2, written by make_custom_fixtures.py) as
ONNX: Gemm, then a node of the custom domain com.example (op type Swish, which no runtime knows),
then Gemm, with the same weights. Run with
`--custom-op com.example::Swish=Fixtures/custom/ops/swish.c:swish:swish_grad` it must give the
fixture's y.npy (PyTorch's Linear -> SiLU -> Linear). Needs onnx and numpy."""
import os
import sys

import numpy as np
from onnx import TensorProto, checker, helper, numpy_helper, save

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import load_safetensors  # noqa: E402

DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "NNCCTests", "Fixtures", "custom")


def main():
    w = {k: np.asarray(v, dtype=np.float32) for k, v in load_safetensors(os.path.join(DIR, "swish", "weights.safetensors")).items()}
    inits = [numpy_helper.from_array(w[k], k) for k in ("d1.weight", "d1.bias", "d2.weight", "d2.bias")]
    nodes = [
        helper.make_node("Gemm", ["x", "d1.weight", "d1.bias"], ["h"], name="d1", transB=1),
        helper.make_node("Swish", ["h"], ["s"], name="act", domain="com.example"),
        helper.make_node("Gemm", ["s", "d2.weight", "d2.bias"], ["y"], name="d2", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "swish",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 11])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        initializer=inits,
        # The custom node's result, as an exporter with the op's shape function would record it.
        value_info=[helper.make_tensor_value_info("s", TensorProto.FLOAT, ["N", 8])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)],
                              producer_name="scripts/make_custom_onnx.py")
    model.ir_version = 8
    checker.check_model(model)
    save(model, os.path.join(DIR, "swish.onnx"))
    print("wrote", os.path.join(DIR, "swish.onnx"))


if __name__ == "__main__":
    main()
