#!/usr/bin/env python3
"""Which real architectures nncc compiles from ONNX: the coverage table of docs/onnx.md.

    python3 scripts/onnx_models.py [--nncc PATH] [--only a,b] [--jobs N] [--cache DIR] [--markdown FILE]

Models: every torchvision classification model with at most 30 M parameters
(torchvision.models.list_models(module=torchvision.models)), the MLPerf Tiny reference
models (written below in PyTorch), an nn.LSTM and an nn.GRU classifier (batch_first, read at
y[:, -1]) and a 2-layer nn.TransformerEncoder classifier. Random weights (seed 0), eval mode,
batch 1, the smallest of 64, 75, 96, 128, 224 the architecture accepts (inception_v3: 299, see
CALIBRATED; the MLPerf models
and the sequence models at their own sizes).

Each model is exported by both of PyTorch's exporters: `dynamo` (torch.onnx.export(...,
dynamo=True), default opset 18; the weights go to model.onnx.data beside the file) and
`legacy` (dynamo=False, opset 17, weights inside). Then
`nncc check model.onnx --input x.npy --expect y.npy --atol 1e-4 --rtol 1e-3`.
The result column is `pass` or the first line of nncc's error (or of the exporter's).

Exports, inputs and expected outputs are cached in --cache (default /tmp/nncc-onnx-models),
so a rerun only runs nncc. Needs torch, torchvision and onnx; the tests never run this.
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
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPORTERS = ("dynamo", "legacy")
SIZES = (64, 75, 96, 128, 224)
MAX_PARAMS = 30_000_000


# ---------------------------------------------------------------------------
# Models (imported lazily: the parent process only schedules work)

def mlperf_models():
    import torch.nn as nn

    def conv_bn(cin, cout, k, stride=1, groups=1, relu=True):
        layers = [nn.Conv2d(cin, cout, k, stride, padding=(k - 1) // 2 if isinstance(k, int) else
                            tuple((d - 1) // 2 for d in k), groups=groups, bias=False), nn.BatchNorm2d(cout)]
        return nn.Sequential(*layers, nn.ReLU()) if relu else nn.Sequential(*layers)

    class Block(nn.Module):
        """ResNet-8's residual block: two 3x3 convs, a 1x1 conv shortcut when the shape changes."""

        def __init__(self, cin, cout, stride):
            super().__init__()
            self.body = nn.Sequential(conv_bn(cin, cout, 3, stride), conv_bn(cout, cout, 3, relu=False))
            self.short = nn.Conv2d(cin, cout, 1, stride) if stride != 1 or cin != cout else nn.Identity()
            self.relu = nn.ReLU()

        def forward(self, x):
            return self.relu(self.body(x) + self.short(x))

    def resnet8():
        return nn.Sequential(conv_bn(3, 16, 3), Block(16, 16, 1), Block(16, 32, 2), Block(32, 64, 2),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))

    def ds_cnn():
        # Keyword spotting: 49 MFCC frames x 10 coefficients, 12 classes.
        layers = [nn.Conv2d(1, 64, (10, 4), (2, 2), padding=(5, 1), bias=False), nn.BatchNorm2d(64), nn.ReLU()]
        for _ in range(4):
            layers += [conv_bn(64, 64, 3, groups=64), conv_bn(64, 64, 1)]
        return nn.Sequential(*layers, nn.Dropout(0.4), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 12))

    def mobilenet_v1_025():
        # Visual wake words: 96x96 RGB, width 0.25, 2 classes.
        # 0.25 x MobileNetV1's widths (32; 64, 128, 128, 256, 256, 512 x 6, 1024 x 2).
        cfg = [(16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2)] + [(128, 1)] * 5 + [(256, 2), (256, 1)]
        layers, cin = [conv_bn(3, 8, 3, 2)], 8
        for cout, s in cfg:
            layers += [conv_bn(cin, cin, 3, s, groups=cin), conv_bn(cin, cout, 1)]
            cin = cout
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 2))

    def autoencoder():
        # Anomaly detection: 640 -> 128 x 4 -> 8 -> 128 x 4 -> 640.
        def fc(i, o):
            return [nn.Linear(i, o), nn.BatchNorm1d(o), nn.ReLU()]
        widths = [640, 128, 128, 128, 128, 8, 128, 128, 128, 128]
        layers = [m for i, o in zip(widths, widths[1:]) for m in fc(i, o)]
        layers.append(nn.Linear(128, 640))
        return nn.Sequential(*layers)

    return {
        "mlperf_resnet8": (resnet8, (3, 32, 32)),
        "mlperf_ds_cnn": (ds_cnn, (1, 49, 10)),
        "mlperf_mobilenet_v1_025": (mobilenet_v1_025, (3, 96, 96)),
        "mlperf_autoencoder": (autoencoder, (640,)),
    }


def sequence_models():
    import torch.nn as nn

    class Recurrent(nn.Module):
        def __init__(self, cell):
            super().__init__()
            self.rnn = cell(40, 64, batch_first=True)
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            y, _ = self.rnn(x)
            return self.fc(y[:, -1])

    class Transformer(nn.Module):
        def __init__(self):
            super().__init__()
            layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.1, batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.fc = nn.Linear(32, 10)

        def forward(self, x):
            return self.fc(self.encoder(x).mean(1))

    return {
        "lstm_classifier": (lambda: Recurrent(nn.LSTM), (20, 40)),
        "gru_classifier": (lambda: Recurrent(nn.GRU), (20, 40)),
        "transformer_encoder": (Transformer, (16, 32)),
    }


def torchvision_params():
    """{name: parameter count} of every torchvision classification model, from its weights' metadata."""
    import torchvision
    out = {}
    for name in torchvision.models.list_models(module=torchvision.models):
        weights = list(torchvision.models.get_model_weights(name))
        out[name] = weights[0].meta["num_params"]
    return out


def model_list(cache):
    """[(name, params)] in table order; the torchvision counts are cached."""
    path = os.path.join(cache, "torchvision_params.json")
    if os.path.exists(path):
        with open(path) as f:
            tv = json.load(f)
    else:
        tv = torchvision_params()
        os.makedirs(cache, exist_ok=True)
        with open(path, "w") as f:
            json.dump(tv, f, indent=1)
    names = sorted((n for n, p in tv.items() if p <= MAX_PARAMS), key=lambda n: tv[n])
    return [(n, tv[n]) for n in names] + [(n, None) for n in list(mlperf_models()) + list(sequence_models())]


# ---------------------------------------------------------------------------
# Worker: build one model, pick its input size, write x.npy / y.npy and both exports

def build(name):
    import torch
    import torchvision
    torch.manual_seed(0)
    own = {**mlperf_models(), **sequence_models()}
    if name in own:
        make, shape = own[name]
        return make().eval(), [shape]
    model = torchvision.models.get_model(name, weights=None)
    if name in CALIBRATED:
        size = CALIBRATED[name]
        calibrate_batchnorm(model, (3, size, size))
        return model.eval(), [(3, size, size)]
    return model.eval(), [(3, s, s) for s in SIZES]


# inception_v3's initialisation (truncated normal, std 0.1) with batchnorm's default running
# statistics (mean 0, variance 1: the identity in eval mode) grows its logits to 1e8, where
# float32 rounding alone puts ONNX Runtime outside atol 1e-4 + rtol 1e-3 of PyTorch. Its
# batchnorms get running statistics from random inputs instead, as training would give, at its
# own input size: at 75x75 its last maps are 1x1 and PyTorch's own float32 output still misses
# its float64 one by 9e-4 (24 of 1000 logits outside the tolerance); at 299x299 by 2e-4, none.
CALIBRATED = {"inception_v3": 299}


def calibrate_batchnorm(model, shape):
    import torch
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.momentum = None  # a cumulative average over the calibration batches
    aux = model.AuxLogits  # a training-only head: not part of the eval model
    model.AuxLogits = None
    model.train()
    with torch.no_grad():
        for _ in range(4):
            model(torch.randn(8, *shape))
    model.AuxLogits = aux


def export_worker(name, folder):
    import numpy as np
    import torch
    torch.set_num_threads(1)
    model, shapes = build(name)
    os.makedirs(folder, exist_ok=True)
    if not os.path.exists(os.path.join(folder, "y.npy")):
        err = None
        for shape in shapes:
            torch.manual_seed(1)
            x = torch.randn(1, *shape)
            try:
                with torch.no_grad():
                    y = model(x)
                break
            except Exception as e:  # too small for the architecture: try the next size
                err = e
        else:
            raise SystemExit(f"no input size works: {err}")
        if isinstance(y, tuple):  # GoogLeNet/Inception in eval mode return a tensor; just in case
            y = y[0]
        np.save(os.path.join(folder, "x.npy"), x.numpy())
        np.save(os.path.join(folder, "y.npy"), y.numpy())
        with open(os.path.join(folder, "info.json"), "w") as f:
            json.dump({"params": sum(p.numel() for p in model.parameters()), "input": list(x.shape)}, f)
    x = torch.from_numpy(np.load(os.path.join(folder, "x.npy")))
    for exporter in EXPORTERS:
        out = os.path.join(folder, exporter)
        if os.path.exists(os.path.join(out, "model.onnx")) or os.path.exists(os.path.join(out, "error.txt")):
            continue
        os.makedirs(out, exist_ok=True)
        try:
            if exporter == "dynamo":
                torch.onnx.export(model, (x,), os.path.join(out, "model.onnx"), dynamo=True, verbose=False)
            else:
                torch.onnx.export(model, (x,), os.path.join(out, "model.onnx"), dynamo=False, opset_version=17,
                                  input_names=["x"], output_names=["y"])
        except Exception as e:
            msg = (str(e).strip().splitlines() or [type(e).__name__])[0]
            with open(os.path.join(out, "error.txt"), "w") as f:
                f.write(f"export failed: {type(e).__name__}: {msg}\n")


# ---------------------------------------------------------------------------
# Parent: export (cached), run nncc check, tabulate

def first_error_line(text):
    lines = [l for l in text.splitlines() if l.strip()]
    for l in lines:
        if "error" in l.lower():
            return l.strip()
    return lines[-1].strip() if lines else "failed without a message"


def run_model(name, args):
    folder = os.path.join(args.cache, name)
    rows = []

    def cached(e):
        return any(os.path.exists(os.path.join(folder, e, f)) for f in ("model.onnx", "error.txt"))
    try:
        if os.path.exists(os.path.join(folder, "info.json")) and all(cached(e) for e in EXPORTERS):
            raise FileExistsError  # nothing to export

        p = subprocess.run([sys.executable, os.path.abspath(__file__), "--export-worker", name, "--cache", args.cache],
                           capture_output=True, text=True, timeout=args.timeout)
        if p.returncode != 0:
            return [(exporter, "export failed: " + first_error_line(p.stderr), None) for exporter in EXPORTERS]
    except subprocess.TimeoutExpired:
        return [(exporter, f"export timed out after {args.timeout} s", None) for exporter in EXPORTERS]
    except FileExistsError:
        pass
    if args.export_only:
        return [(exporter, "exported", None) for exporter in EXPORTERS]
    for exporter in EXPORTERS:
        out = os.path.join(folder, exporter)
        err = os.path.join(out, "error.txt")
        if os.path.exists(err):
            with open(err) as f:
                rows.append((exporter, f.read().strip(), None))
            continue
        cmd = [args.nncc, "check", os.path.join(out, "model.onnx"), "--input", os.path.join(folder, "x.npy"),
               "--expect", os.path.join(folder, "y.npy"), "--atol", "1e-4", "--rtol", "1e-3"]
        t = time.time()
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
            result = "pass" if p.returncode == 0 else first_error_line(p.stderr + p.stdout)
        except subprocess.TimeoutExpired:
            result = f"nncc timed out after {args.timeout} s"
        rows.append((exporter, shorten(result, out), time.time() - t))
    return rows


def shorten(msg, folder):
    """nncc's message without the cache path or the list of supported operators."""
    msg = msg.replace(folder + "/", "")
    return re.sub(r"; nncc imports: .*", "", msg)


def fmt_params(p):
    return "" if p is None else f"{p / 1e6:.2f} M" if p >= 1e5 else f"{p / 1e3:.1f} k"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nncc", default=os.path.join(ROOT, ".build/release/nncc"))
    ap.add_argument("--only", help="comma-separated model names (substrings match)")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--timeout", type=int, default=600, help="seconds per export and per nncc check")
    ap.add_argument("--cache", default="/tmp/nncc-onnx-models")
    ap.add_argument("--markdown", help="also write the table as markdown to this file")
    ap.add_argument("--export-only", action="store_true", help="fill the cache; do not run nncc")
    ap.add_argument("--export-worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.cache = os.path.abspath(args.cache)
    if args.export_worker:
        return export_worker(args.export_worker, os.path.join(args.cache, args.export_worker))
    if not os.path.exists(args.nncc):
        args.nncc = os.path.join(ROOT, ".build/debug/nncc")

    models = model_list(args.cache)
    if args.only:
        keys = args.only.split(",")
        models = [(n, p) for n, p in models if any(k == n for k in keys)] or \
                 [(n, p) for n, p in models if any(k in n for k in keys)]
    results = {}
    with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        futures = {pool.submit(run_model, n, args): n for n, _ in models}
        for fut in concurrent.futures.as_completed(futures):
            n = futures[fut]
            results[n] = fut.result()
            for exporter, result, secs in results[n]:
                print(f"{n:32} {exporter:7} {result}", file=sys.stderr, flush=True)

    table = []
    for n, p in models:
        info = os.path.join(args.cache, n, "info.json")
        shape = ""
        if os.path.exists(info):
            with open(info) as f:
                i = json.load(f)
            p = i["params"]
            shape = "x".join(map(str, i["input"][1:]))
        for exporter, result, _ in results[n]:
            table.append((n, fmt_params(p), shape, exporter, result))
    passed = {e: sum(1 for r in table if r[3] == e and r[4] == "pass") for e in EXPORTERS}
    total = {e: sum(1 for r in table if r[3] == e) for e in EXPORTERS}
    summary = ", ".join(f"{e}: {passed[e]} of {total[e]} pass" for e in EXPORTERS)

    header = ("model", "params", "input", "exporter", "result")
    widths = [max(len(str(r[i])) for r in table + [header]) for i in range(4)]
    for r in [header] + table:
        print("  ".join(str(c).ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4])
    print(summary)
    from onnx_backend import normalize  # scripts/ is on sys.path
    hist = collections.Counter((r[3], normalize(r[4])) for r in table if r[4] != "pass")
    print("\nfailures by message:")
    for (exporter, msg), n in sorted(hist.items(), key=lambda kv: -kv[1]):
        print(f"{n:4}  {exporter:7} {msg}")
    if args.markdown:
        import torch
        import torchvision
        import onnx
        with open(args.markdown, "w") as f:
            f.write(f"{datetime.date.today()}, torch {torch.__version__}, torchvision {torchvision.__version__}, "
                    f"onnx {onnx.__version__}: {summary}.\n\n")
            f.write("| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n")
            for r in table:
                f.write("| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |\n")
            f.write("\n| models | exporter | message |\n|---|---|---|\n")
            for (exporter, msg), n in sorted(hist.items(), key=lambda kv: -kv[1]):
                f.write(f"| {n} | {exporter} | {msg.replace('|', chr(92) + '|')} |\n")


if __name__ == "__main__":
    main()
