#!/usr/bin/env python3
"""Run nncc on ONNX's own backend test cases of some operators.

usage: python3 scripts/onnx_backend_cases.py NNCC --ops Elu,Selu,... [--wheel NAME,...] [--lift-opset]
                                              [--rank1-as-batch] [--first-output] [--work DIR]

Cases come from the onnx package: its node test generators (onnx.backend.test.case.node; the wheel ships
no `node` data folder) for the listed operators, and the folders of its test data (pytorch-converted,
pytorch-operator, simple) whose names end in one of --wheel. Each case's first input and output become
x.npy and y.npy, and `nncc check` compares at rtol max(1e-4, the case's) and atol max(1e-4, the case's).
Extra inputs (Clip's min and max) become initializers. Inputs that are not float32 are skipped.

Three options look past limits that are not the operator's, and say so in the line: --lift-opset runs a
file whose default-domain opset is outside nncc's 9 to 22 at opset 10 (the operators' meaning is the
same there for the unary activations), --rank1-as-batch runs a batch-less rank-1 case as shape [1, n],
--first-output drops the graph outputs after the first (LayerNormalization's Mean and InvStdDev).
"""
import argparse, glob, os, subprocess, sys

import numpy as np
import onnx
from onnx import numpy_helper


def node_cases(ops):
    from onnx.backend.test.case import node
    for tc in node.collect_testcases(None):
        if "expanded" in tc.name or not any(n.op_type in ops for n in tc.model.graph.node):
            continue
        ins, outs = tc.data_sets[0]
        yield tc.name, tc.model, list(ins), outs[0], tc.rtol, tc.atol


def wheel_cases(names):
    root = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")
    for sub in ["pytorch-converted", "pytorch-operator", "simple"]:
        for d in sorted(glob.glob(os.path.join(root, sub, "test_*"))):
            if not any(d.endswith("test_" + n) for n in names):
                continue
            def load(f):
                t = onnx.TensorProto()
                with open(f, "rb") as fh:
                    t.ParseFromString(fh.read())
                return numpy_helper.to_array(t)
            data = os.path.join(d, "test_data_set_0")
            ins = [load(f) for f in sorted(glob.glob(os.path.join(data, "input_*.pb")))]
            yield os.path.basename(d), onnx.load(os.path.join(d, "model.onnx")), ins, \
                load(os.path.join(data, "output_0.pb")), 1e-3, 1e-7


def check(nncc, work, name, model, ins, y, rtol, atol, a):
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    x = ins[0]
    if x.dtype != np.float32:
        return "SKIP", "input dtype %s" % x.dtype
    notes = []
    for i in range(1, len(ins)):  # constant operands (Clip's bounds) as initializers
        model.graph.initializer.append(numpy_helper.from_array(ins[i], model.graph.input[i].name))
    del model.graph.input[1:]
    if a.first_output and len(model.graph.output) > 1:
        notes.append("first output only")
        del model.graph.output[1:]
    opset = [o for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if a.lift_opset and opset and not 9 <= opset[0].version <= 22:
        notes.append("opset %d run as 10" % opset[0].version)
        opset[0].version = 10
    if a.rank1_as_batch and x.ndim == 1:
        notes.append("rank 1 run as [1, n]")
        for v in (model.graph.input[0], model.graph.output[0]):
            dims = v.type.tensor_type.shape.dim
            del dims[:]
            dims.add().dim_value = 1
            dims.add().dim_value = x.shape[0]
        x, y = x.reshape(1, -1), y.reshape(1, -1)
    onnx.save(model, os.path.join(d, "model.onnx"))
    np.save(os.path.join(d, "x.npy"), x)
    np.save(os.path.join(d, "y.npy"), y)
    r = subprocess.run([nncc, "check", os.path.join(d, "model.onnx"), "--input", os.path.join(d, "x.npy"),
                        "--expect", os.path.join(d, "y.npy"), "--rtol", str(max(rtol, 1e-4)),
                        "--atol", str(max(atol, 1e-4))], capture_output=True, text=True)
    lines = (r.stdout + r.stderr).strip().splitlines()
    msg = (lines[-1] if lines else "").replace(os.path.join(d, "model.onnx") + ": ", "")
    return ("PASS" if r.returncode == 0 else "FAIL"), ("(%s) " % ", ".join(notes) if notes else "") + msg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("nncc")
    ap.add_argument("--ops", required=True, help="comma list of ONNX operator names")
    ap.add_argument("--wheel", default="", help="comma list of wheel test names, without test_")
    ap.add_argument("--lift-opset", action="store_true")
    ap.add_argument("--rank1-as-batch", action="store_true")
    ap.add_argument("--first-output", action="store_true")
    ap.add_argument("--work", default="/tmp/nncc-onnx-backend")
    a = ap.parse_args()
    counts = {}
    cases = list(node_cases(set(a.ops.split(",")))) + list(wheel_cases([n for n in a.wheel.split(",") if n]))
    for name, model, ins, y, rtol, atol in cases:
        status, msg = check(a.nncc, a.work, name, model, ins, y, rtol, atol, a)
        counts[status] = counts.get(status, 0) + 1
        print("%-34s %-4s %s" % (name, status, msg[:160]))
    print("cases: %d pass, %d fail, %d skip" % (counts.get("PASS", 0), counts.get("FAIL", 0), counts.get("SKIP", 0)))


if __name__ == "__main__":
    sys.exit(main())
