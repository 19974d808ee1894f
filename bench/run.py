#!/usr/bin/env python3
"""Benchmark nncc against ONNX Runtime and PyTorch eager, one thread each.

For every bench/models/*.json: random weights (seed fixed per model) built by the
JSON -> PyTorch interpreter in scripts/make_fixtures.py, saved as safetensors for
nncc and exported to ONNX (opset 17, dynamic batch) for ONNX Runtime. Cases:
inference at batch 1 and at train.batch_size, and one training step at
train.batch_size (nncc vs PyTorch). Median and p90 latency in microseconds, nncc
GFLOP/s against the machine's peak single-thread FMA rate (bench/peak.c), compile
times, and output cross-checks (nncc vs ORT / PyTorch to 1e-3).

Peers: `pip install torch onnxruntime onnx`. A missing peer is skipped; without
torch the weights come from nncc's own seeded initialisation.

usage: bench/run.py [--nncc PATH] [--models mlp,lstm] [--seconds S] [--markdown PATH]
"""
import os
for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
import argparse, ctypes, glob, importlib, importlib.util, json, platform, re, shutil
import subprocess, sys, tempfile, time, warnings, zlib
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
P = ctypes.c_void_p
TOL = 1e-3


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def sh(cmd, **kw):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, **kw).stdout.strip()
    except OSError:
        return ""


# ---------------------------------------------------------------- peers

def load_peers():
    peers, notes = {}, []
    try:
        import torch
        torch.set_num_threads(1)
        torch.set_num_interop_threads(1)
        spec = importlib.util.spec_from_file_location("make_fixtures", os.path.join(ROOT, "scripts", "make_fixtures.py"))
        fx = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(fx)
        peers["torch"], peers["fx"] = torch, fx
    except Exception as e:  # ImportError, or the interpreter failing to load
        notes.append("PyTorch skipped (%s); `pip install torch` to compare. Weights from nncc's seeded init." % e)
    try:
        import onnxruntime
        if "torch" not in peers:
            raise ImportError("needs torch to export the ONNX model")
        peers["ort"] = onnxruntime
    except Exception as e:
        notes.append("ONNX Runtime skipped (%s); `pip install onnxruntime onnx` to compare." % e)
    return peers, notes


# ---------------------------------------------------------------- timing

def measure(fns, seconds, min_runs=20, rounds=4):
    """Time single calls of every fn in fns ({peer: fn}), interleaved in rounds so
    that a change in machine load hits every peer alike, until each has run
    >= seconds and >= min_runs after warm-up. Returns {peer: (median, p90)} in us."""
    clock, samples = time.perf_counter_ns, {k: [] for k in fns}
    for fn in fns.values():                                   # warm-up
        t_end, n = time.perf_counter() + min(0.2, seconds / 2), 0
        while n < 3 or time.perf_counter() < t_end:
            fn()
            n += 1
    for i in range(rounds):
        for k, fn in fns.items():
            s, start, limit = samples[k], clock(), seconds * 1e9 / rounds
            while len(s) < min_runs * (i + 1) / rounds or clock() - start < limit:
                t0 = clock()
                fn()
                s.append(clock() - t0)
    return {k: (float(np.median(np.array(s) / 1e3)), float(np.percentile(np.array(s) / 1e3, 90)))
            for k, s in samples.items()}


# ---------------------------------------------------------------- nncc

class NnccLib:
    """ctypes binding of DIR/libNAME.so (c-abi.md)."""

    def __init__(self, so, name):
        self.lib = lib = ctypes.CDLL(so)
        f = lambda s, res, *args: self._fn(name + "_" + s, res, args)
        self.strerror = f("strerror", ctypes.c_char_p, ctypes.c_int)
        self.create = f("create", P)
        self.destroy = f("destroy", None, P)
        self.load = f("load_weights", ctypes.c_int, P, ctypes.c_char_p)
        self.save = f("save_weights", ctypes.c_int, P, ctypes.c_char_p)
        self.forward = f("forward", ctypes.c_int, P, P, P, ctypes.c_int)
        if hasattr(lib, name + "_train_step"):
            self.train_step = f("train_step", ctypes.c_int, P, P, P, ctypes.c_int, ctypes.POINTER(ctypes.c_float))
        ctx = self.create()
        if not ctx:
            raise RuntimeError(name + "_create returned NULL")
        self.ctx = P(ctx)

    def _fn(self, sym, res, args):
        fn = getattr(self.lib, sym)
        fn.restype, fn.argtypes = res, list(args)
        return fn

    def check(self, rc, what):
        if rc != 0:
            raise RuntimeError("%s: %d %s" % (what, rc, (self.strerror(rc) or b"").decode()))


def nncc_compile(nncc, model, out, batch, train, cache):
    cmd = [nncc, "compile", model, "-o", out, "--batch", str(batch)] + (["--train"] if train else [])
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, NNCC_CACHE=cache))
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError("%s failed:\n%s" % (" ".join(cmd), (p.stdout + p.stderr).strip()))
    return dt


# ---------------------------------------------------------------- one model

def bench_model(path, args, peers, tmp, peak):
    spec = json.load(open(path))
    name, tr = spec["name"], spec["train"]
    B, d = tr["batch_size"], os.path.join(tmp, spec["name"])
    os.makedirs(d)
    cache = os.path.join(tmp, "cache")
    log("[%s] compiling (inference --batch %d, then --train)" % (name, B))
    ct = {"infer": nncc_compile(args.nncc, path, os.path.join(d, "inf"), B, False, cache),
          "train": nncc_compile(args.nncc, path, os.path.join(d, "train"), B, True, cache)}
    man = json.load(open(os.path.join(d, "inf", name + ".manifest.json")))
    flops, out_size = man["flops_per_example"], int(np.prod(man["outputs"][0]["shape"]))
    inf = NnccLib(os.path.join(d, "inf", "lib%s.so" % name), name)
    trn = NnccLib(os.path.join(d, "train", "lib%s.so" % name), name)

    seed = zlib.crc32(name.encode()) & 0x7FFFFFFF
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B,) + tuple(spec["input"]["shape"])).astype(np.float32)
    labels = rng.integers(0, out_size, B).astype(np.int32)
    wpath = os.path.join(d, "weights.safetensors")
    torch, fx, ort = peers.get("torch"), peers.get("fx"), peers.get("ort")
    net = None
    if torch is not None:
        torch.manual_seed(seed)
        net = fx.init_net(spec, torch.Generator().manual_seed(seed + 1))  # random batchnorm stats too
        fx.save_safetensors(wpath, net.params())                       # state_dict names, no num_batches_tracked
    else:
        inf.check(inf.save(inf.ctx, wpath.encode()), "save_weights")
    for lib in (inf, trn):
        lib.check(lib.load(lib.ctx, wpath.encode()), "load_weights")

    sess = None
    if ort is not None:
        class Out(torch.nn.Module):
            def __init__(self, n):
                super().__init__()
                self.n = n

            def forward(self, t):
                return fx.forward_out(self.n, t)
        net.eval()
        onnx_path = os.path.join(d, name + ".onnx")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(Out(net), (torch.from_numpy(x),), onnx_path, opset_version=17, dynamo=False,
                              input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "b"}, "y": {0: "b"}})
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = 1, 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])

    rows, checks = [], []
    for case, b in (("infer", 1), ("infer", B), ("train", B)):
        label = "%s b=%d" % ("inference" if case == "infer" else "train step", b)
        log("[%s] %s" % (name, label))
        xb, lb = np.ascontiguousarray(x[:b]), np.ascontiguousarray(labels[:b])
        r = {"model": name, "case": label, "kind": case, "batch": b}
        if case == "infer":
            y = np.zeros((b, out_size), np.float32)
            xp, yp, fwd, ctx = P(xb.ctypes.data), P(y.ctypes.data), inf.forward, inf.ctx
            inf.check(fwd(ctx, xp, yp, b), "forward")
            r["nncc"] = measure(lambda: fwd(ctx, xp, yp, b), args.seconds)
            if sess is not None:
                yo = np.zeros((b, out_size), np.float32)
                io = sess.io_binding()
                io.bind_cpu_input("x", xb)
                io.bind_output("y", "cpu", 0, np.float32, list(yo.shape), yo.ctypes.data)
                sess.run_with_iobinding(io)
                r["ort"] = measure(lambda: sess.run_with_iobinding(io), args.seconds)
                checks.append(compare(name, label, "ORT", y, yo))
            if net is not None:
                net.eval()
                xt = torch.from_numpy(xb)
                with torch.inference_mode():
                    yt = fx.forward_out(net, xt).numpy().reshape(b, -1).copy()
                    r["torch"] = measure(lambda: fx.forward_out(net, xt), args.seconds)
                checks.append(compare(name, label, "PyTorch", y, yt))
        else:
            loss = ctypes.c_float(0.0)
            xp, lp, lref, step, ctx = P(xb.ctypes.data), P(lb.ctypes.data), ctypes.byref(loss), trn.train_step, trn.ctx
            trn.check(step(ctx, xp, lp, b, lref), "train_step")
            first = loss.value                                  # loss at the initial weights
            r["nncc"] = measure(lambda: step(ctx, xp, lp, b, lref), args.seconds)
            if net is not None:
                net.train()
                opt = fx.optimizer_of(net, tr["optimizer"])
                xt, yt = torch.from_numpy(xb), torch.from_numpy(lb.astype(np.int64))

                def pt_step():
                    opt.zero_grad()
                    l = fx.loss_of(net, net(xt), yt, tr["loss"])
                    l.backward()
                    opt.step()
                    return l
                pt_first = pt_step().item()
                r["torch"] = measure(pt_step, args.seconds)
                dropout = any(L["type"] == "dropout" for L in spec["layers"])
                ok = dropout or abs(first - pt_first) <= TOL * max(1.0, abs(pt_first))
                checks.append(("ok" if ok else "WARNING", "%s %s: first-step loss nncc %.6f, PyTorch %.6f%s" % (
                    name, label, first, pt_first, " (dropout masks differ: not compared)" if dropout else "")))
        k = 3 if case == "train" else 1                          # backward ~ 2x forward
        r["gflops"] = k * flops * b / (r["nncc"][0] * 1e3)
        r["peak"] = 100.0 * r["gflops"] / peak if peak else None
        rows.append(r)
    for lib in (inf, trn):
        lib.destroy(lib.ctx)
    return rows, checks, ct


def compare(name, label, peer, y, ref):
    err = float(np.abs(y - ref).max())
    scale = max(1.0, float(np.abs(ref).max()))
    ok = np.all(np.isfinite(y)) and err <= TOL * scale
    return ("ok" if ok else "WARNING", "%s %s: nncc vs %s max abs diff %.2e (|ref| max %.3g)" % (
        name, label, peer, err, float(np.abs(ref).max())))


# ---------------------------------------------------------------- report

def machine(peers, peak, nncc):
    cpu = sh(["lscpu"])
    get = lambda k: (re.search(r"^%s:\s*(.+)$" % k, cpu, re.M) or [None, "?"])[1]
    flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    vers = ["Python %s" % platform.python_version(), "NumPy %s" % np.__version__]
    for key, label in (("torch", "PyTorch"), ("ort", "ONNX Runtime")):
        if key in peers:
            vers.append("%s %s" % (label, peers[key].__version__))
    try:
        vers.append("onnx %s" % importlib.import_module("onnx").__version__)
    except ImportError:
        pass
    git = sh(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    dirty = " (working tree modified)" if sh(["git", "-C", ROOT, "status", "--porcelain", "Sources"]) else ""
    return ["- CPU: %s (family %s, model %s), %d logical cores, %s; AVX-512: %s" % (
                get("Model name"), get("CPU family"), get("Model"), os.cpu_count(), get("Hypervisor vendor") != "?"
                and "VM (%s)" % get("Hypervisor vendor") or "bare metal", "yes" if " avx512f" in flags else "no"),
            "- Peak single-thread FMA (bench/peak.c): %s" % ("%.1f GFLOP/s" % peak if peak else "unavailable"),
            "- %s; nncc %s, commit %s%s; %s" % (sh(["gcc", "--version"]).splitlines()[0],
                                               sh([nncc, "--version"]), git, dirty, ", ".join(vers)),
            "- one thread everywhere: nncc single-threaded build, torch.set_num_threads(1), "
            "ORT intra/inter-op 1, sequential"]


def fmt(v, f="%.1f"):
    return f % v if v is not None else "–"


def table(rows):
    out = ["| model | case | nncc µs | ORT µs | ORT/nncc | PyTorch µs | PyTorch/nncc | nncc GFLOP/s | % of peak |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        n = r["nncc"][0]
        o, t = r.get("ort", (None,))[0], r.get("torch", (None,))[0]
        out.append("| %s | %s | %s | %s | %s | %s | %s | %.2f | %s |" % (
            r["model"], r["case"], fmt(n), fmt(o), fmt(o and o / n, "%.2f×"), fmt(t), fmt(t and t / n, "%.2f×"),
            r["gflops"], fmt(r["peak"], "%.1f%%")))
    out += ["", "p90 latency (µs), same order:", "",
            "| model | case | nncc | ORT | PyTorch |", "|---|---|---:|---:|---:|"]
    for r in rows:
        out.append("| %s | %s | %s | %s | %s |" % (r["model"], r["case"], fmt(r["nncc"][1]),
                                                   fmt(r.get("ort", (0, None))[1]), fmt(r.get("torch", (0, None))[1])))
    return out


def targets(rows, ctimes):
    """The goals in docs/performance.md, evaluated on this run."""
    out = []

    def goal(text, vals):
        vals = [v for v in vals if v[1] is not None]
        if not vals:
            return out.append("- %s: not measured" % text)
        met = all(ok for _, _, ok in vals)
        out.append("- %s: **%s** (%s)" % (text, "met" if met else "not met", ", ".join(s for s, _, _ in vals)))

    def ratio(model, kind, b1, peer, need):
        for r in rows:
            if r["model"] == model and r["kind"] == kind and (r["batch"] == 1) == b1 and peer in r:
                q = r[peer][0] / r["nncc"][0]
                return ("%s %.2f×" % (model, q), q, q >= need)
        return ("%s –" % model, None, False)
    ms = sorted({r["model"] for r in rows})
    goal("inference b=1 ≥ 2× faster than ORT on lenet5, lstm", [ratio(m, "infer", True, "ort", 2) for m in ms
                                                                   if m in ("lenet5", "lstm")])
    goal("inference b=1 no slower than ORT on mlp, cnn_bn", [ratio(m, "infer", True, "ort", 1) for m in ms
                                                              if m in ("mlp", "cnn_bn")])
    goal("inference at the train batch no slower than ORT", [ratio(m, "infer", False, "ort", 1) for m in ms])
    goal("train step ≥ 2× faster than PyTorch", [ratio(m, "train", False, "torch", 2) for m in ms])
    goal("compile ≤ 3 s each", [("%s %.2f/%.2f s" % (m, c["infer"], c["train"]), 0, max(c.values()) <= 3)
                                 for m, c in sorted(ctimes.items())])
    return out


def peak_gflops(tmp):
    exe = os.path.join(tmp, "peak")
    p = subprocess.run(["gcc", "-O2", "-march=native", "-ffp-contract=fast", os.path.join(HERE, "peak.c"), "-o", exe],
                       capture_output=True, text=True)
    if p.returncode != 0:
        log("peak.c did not compile: " + p.stderr.strip())
        return None
    vals = [float(sh([exe]) or 0) for _ in range(3)]   # best of 3: other load only lowers it
    return max(vals) or None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nncc", default=os.path.join(ROOT, ".build", "release", "nncc"))
    ap.add_argument("--models", help="comma-separated model names (default: all in bench/models)")
    ap.add_argument("--seconds", type=float, default=0.5, help="minimum timed seconds per measurement (>= 20 runs)")
    ap.add_argument("--markdown", metavar="PATH", help="also write the report to PATH")
    args = ap.parse_args()
    if not os.path.exists(args.nncc):
        log("bench: %s missing; running `swift build -c release`" % args.nncc)
        if subprocess.run(["swift", "build", "-c", "release"], cwd=ROOT).returncode or not os.path.exists(args.nncc):
            sys.exit("bench: could not build nncc")
    args.nncc = os.path.abspath(args.nncc)
    models = sorted(glob.glob(os.path.join(HERE, "models", "*.json")))
    if args.models:
        keep = set(args.models.split(","))
        models = [m for m in models if os.path.splitext(os.path.basename(m))[0] in keep]
    if not models:
        sys.exit("bench: no models selected")

    peers, notes = load_peers()
    for n in notes:
        log("bench: " + n)
    load0 = os.getloadavg()
    rows, checks, ctimes, failed = [], [], {}, []
    with tempfile.TemporaryDirectory(prefix="nncc-bench-") as tmp:
        peak = peak_gflops(tmp)
        for m in models:
            try:
                r, c, ct = bench_model(m, args, peers, tmp, peak)
                rows += r
                checks += c
                ctimes[r[0]["model"]] = ct
            except Exception as e:
                failed.append("%s: %s" % (os.path.basename(m), e))
                log("bench: %s failed: %s" % (m, e))
    load1 = os.getloadavg()

    rep = ["# nncc benchmark", "", "Median latency over ≥ %.2g s and ≥ 20 runs after warm-up; ratios > 1× mean nncc "
           "is faster. Training counts 3× the forward FLOPs." % args.seconds, ""]
    rep += table(rows)
    rep += ["", "## Compile time (`nncc compile`, gcc included, cold cache)", "",
            "| model | inference --batch B | --train --batch B |", "|---|---:|---:|"]
    rep += ["| %s | %.2f s | %.2f s |" % (m, c["infer"], c["train"]) for m, c in sorted(ctimes.items())]
    rep += ["", "## Targets", ""] + targets(rows, ctimes)
    rep += ["", "## Checks", ""] + ["- %s: %s" % c for c in checks] + ["- FAILED %s" % f for f in failed]
    rep += ["- " + n for n in notes]
    rep += ["", "## Machine", ""] + machine(peers, peak, args.nncc)
    rep += ["- load average (1/5/15 min): %.2f %.2f %.2f at start, %.2f %.2f %.2f at end" % (load0 + load1)]
    text = "\n".join(rep) + "\n"
    print(text, end="")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    if any(c[0] != "ok" for c in checks):
        log("bench: WARNING: some outputs disagree (see Checks)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
