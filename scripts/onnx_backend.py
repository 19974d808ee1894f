#!/usr/bin/env python3
"""nncc on the onnx wheel's backend test data: the coverage numbers of docs/onnx.md.

    python3 scripts/onnx_backend.py [--nncc PATH] [--only substr] [--jobs N] [--markdown FILE] [--verbose]

Takes the cases of os.path.join(os.path.dirname(onnx.__file__), 'backend/test/data') in the
folders pytorch-converted, pytorch-operator and simple whose graph has one float input and
one float output (initializers aside), converts test_data_set_0's input_0.pb / output_0.pb to
.npy, and runs `nncc check model.onnx --input x.npy --expect y.npy --atol A --rtol R` with
A = max(1e-4, the case's atol) and R = max(1e-4, the case's rtol). onnx's backend runner
defaults to rtol 1e-3 and atol 1e-7, and a case's data.json may override them; so A is 1e-4
and R is 1e-3 unless data.json says more.

Prints one line per case, the pass count and the failures grouped by nncc's message (node
index and name removed). Needs onnx and numpy; the tests never run this.
"""
import argparse
import collections
import concurrent.futures
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KINDS = ("pytorch-converted", "pytorch-operator", "simple")


def cases(data_dir):
    """(kind/name, folder, rtol, atol, reason) of every case; reason says why a case is not counted."""
    import onnx
    for kind in KINDS:
        for name in sorted(os.listdir(os.path.join(data_dir, kind))):
            folder = os.path.join(data_dir, kind, name)
            path = os.path.join(folder, "model.onnx")
            if not os.path.exists(path):
                continue
            rtol, atol = 1e-3, 1e-7
            if os.path.exists(os.path.join(folder, "data.json")):
                with open(os.path.join(folder, "data.json")) as f:
                    d = json.load(f)
                rtol, atol = d.get("rtol", rtol), d.get("atol", atol)
            m = onnx.load(path)
            inits = {t.name for t in m.graph.initializer}
            ins = [i for i in m.graph.input if i.name not in inits]
            float_t = onnx.TensorProto.FLOAT

            def is_float(v):
                return v.type.HasField("tensor_type") and v.type.tensor_type.elem_type == float_t
            reason = None
            if len(ins) != 1 or len(m.graph.output) != 1:
                reason = f"{len(ins)} inputs, {len(m.graph.output)} outputs"
            elif not (is_float(ins[0]) and is_float(m.graph.output[0])):
                reason = "not float"
            yield f"{kind}/{name}", folder, rtol, atol, reason


def normalize(msg):
    """nncc's first error line without the path, node index/name and the list of supported operators."""
    msg = re.sub(r"^nncc: error: \S+?: ", "", msg)
    msg = re.sub(r"graph\.node\[\d+\] \((\w+)( \"[^\"]*\")?\)", r"\1", msg)
    msg = re.sub(r"; nncc imports: .*", "", msg)
    msg = re.sub(r"\"[^\"]*\"", "\"…\"", msg)
    msg = re.sub(r"\[[-\d, ]+\]", "[…]", msg)
    return msg.strip()


def run_case(case, args, tmp):
    import numpy as np
    from onnx import numpy_helper, TensorProto
    name, folder, rtol, atol, _ = case
    data = os.path.join(folder, "test_data_set_0")
    arrays = []
    for f in ("input_0.pb", "output_0.pb"):
        t = TensorProto()
        with open(os.path.join(data, f), "rb") as fh:
            t.ParseFromString(fh.read())
        arrays.append(numpy_helper.to_array(t))
    x_path = os.path.join(tmp, name.replace("/", "_") + ".x.npy")
    y_path = os.path.join(tmp, name.replace("/", "_") + ".y.npy")
    np.save(x_path, arrays[0])
    np.save(y_path, arrays[1])
    a, r = max(1e-4, atol), max(1e-4, rtol)
    cmd = [args.nncc, "check", os.path.join(folder, "model.onnx"), "--input", x_path, "--expect", y_path,
           "--atol", repr(a), "--rtol", repr(r)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return "timed out", f"nncc timed out after {args.timeout} s"
    if p.returncode == 0:
        return "pass", ""
    lines = [l for l in (p.stderr + p.stdout).splitlines() if l.strip()]
    first = next((l for l in lines if "error" in l.lower()), lines[-1] if lines else f"exit {p.returncode}")
    if p.returncode < 0 or "Fatal error" in p.stderr:
        return "crash", first
    return "fail", first


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nncc", default=os.path.join(ROOT, ".build/release/nncc"))
    ap.add_argument("--only", help="substring of the case names to run")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--markdown", help="also write the summary and histogram as markdown to this file")
    ap.add_argument("--verbose", action="store_true", help="list the cases not counted too")
    args = ap.parse_args()
    if not os.path.exists(args.nncc):
        args.nncc = os.path.join(ROOT, ".build/debug/nncc")
    import onnx
    data_dir = os.path.join(os.path.dirname(onnx.__file__), "backend/test/data")
    all_cases = [c for c in cases(data_dir) if not args.only or args.only in c[0]]
    counted = [c for c in all_cases if c[4] is None]
    if args.verbose:
        for c in all_cases:
            if c[4]:
                print(f"{c[0]:60} not counted: {c[4]}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp, concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        futures = {pool.submit(run_case, c, args, tmp): c[0] for c in counted}
        for fut in concurrent.futures.as_completed(futures):
            results[futures[fut]] = fut.result()
    hist = collections.Counter()
    examples = {}
    for c in counted:
        status, msg = results[c[0]]
        print(f"{c[0]:60} {status if status == 'pass' else msg}")
        if status != "pass":
            key = ("CRASH: " if status == "crash" else "") + normalize(msg)
            hist[key] += 1
            examples.setdefault(key, []).append(c[0].split("/", 1)[1])
    passed = sum(1 for c in counted if results[c[0]][0] == "pass")
    crashed = sum(1 for c in counted if results[c[0]][0] == "crash")
    summary = (f"{passed} of {len(counted)} single-input, single-output float cases pass"
               f" ({len(all_cases) - len(counted)} other cases not counted; {crashed} crashed)")
    print(summary)
    print("\nfailures by message:")
    for msg, n in hist.most_common():
        print(f"{n:4}  {msg}  [{', '.join(examples[msg][:4])}{', ...' if n > 4 else ''}]")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(f"{datetime.date.today()}, onnx {onnx.__version__}: {summary}.\n\n")
            f.write("| cases | message | e.g. |\n|---|---|---|\n")
            for msg, n in hist.most_common():
                ex = ", ".join(examples[msg][:3]) + (", ..." if n > 3 else "")
                f.write(f"| {n} | {msg.replace('|', chr(92) + '|')} | {ex} |\n")


if __name__ == "__main__":
    main()
