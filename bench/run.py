#!/usr/bin/env python3
"""Benchmarks nncc on every bench/models/*.json and prints a table.

Each model is timed with `nncc bench` at batch 1 and at its training
batch_size (train.batch_size; 64 when the model has none). Needs only the
standard library. Comparison with ONNX Runtime and PyTorch: in progress.

usage: bench/run.py [--nncc PATH] [--models DIR] [--seconds S] [--only NAME,...]
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LINE = re.compile(r"batch (\d+): median ([\d.]+) us, p90 ([\d.]+) us, ([\d.]+) examples/s, ([\d.]+) GFLOP/s")


def bench(nncc, model, batch, seconds):
    cmd = [nncc, "bench", model, "--batch", str(batch), "--seconds", str(seconds)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    m = LINE.search(p.stdout)
    if p.returncode != 0 or not m:
        return None, (p.stdout + p.stderr).strip() or "exit %d" % p.returncode
    return {"median_us": float(m.group(2)), "p90_us": float(m.group(3)),
            "examples_s": float(m.group(4)), "gflops": float(m.group(5))}, None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nncc", default=os.path.join(ROOT, ".build", "release", "nncc"))
    ap.add_argument("--models", default=os.path.join(HERE, "models"))
    ap.add_argument("--seconds", type=float, default=1.0, help="minimum timed seconds per measurement")
    ap.add_argument("--only", help="comma-separated model names")
    args = ap.parse_args()
    if not os.path.exists(args.nncc):
        sys.exit("bench: %s not found (run `make build` first)" % args.nncc)

    models = sorted(glob.glob(os.path.join(args.models, "*.json")))
    if args.only:
        keep = set(args.only.split(","))
        models = [m for m in models if os.path.splitext(os.path.basename(m))[0] in keep]
    if not models:
        sys.exit("bench: no models in %s" % args.models)

    header = "%-8s %6s %12s %12s %14s %10s" % ("model", "batch", "median us", "p90 us", "examples/s", "GFLOP/s")
    print(header)
    print("-" * len(header))
    failed = 0
    for path in models:
        name = os.path.splitext(os.path.basename(path))[0]
        train_batch = json.load(open(path)).get("train", {}).get("batch_size", 64)
        for batch in sorted({1, train_batch}):
            r, err = bench(args.nncc, path, batch, args.seconds)
            if r is None:
                failed += 1
                print("%-8s %6d  failed: %s" % (name, batch, err.splitlines()[-1] if err else ""))
                continue
            print("%-8s %6d %12.1f %12.1f %14.0f %10.2f" % (
                name, batch, r["median_us"], r["p90_us"], r["examples_s"], r["gflops"]), flush=True)
    print("\nnncc only; ONNX Runtime and PyTorch columns: in progress")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
