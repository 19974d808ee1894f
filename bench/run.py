#!/usr/bin/env python3
"""Benchmark nncc against ONNX Runtime and PyTorch eager, one thread each.

For every bench/models/*.json: seeded random weights from the JSON -> PyTorch
interpreter in scripts/make_fixtures.py, saved as safetensors for nncc and
exported to ONNX (opset 17, dynamic batch) for ONNX Runtime. Cases: inference at
batch 1 and at train.batch_size, one training step at train.batch_size (nncc vs
PyTorch). Median and p90 latency, nncc GFLOP/s against the peak single-thread FMA
rate (bench/peak.c), compile times, and nncc's outputs checked against ORT and
PyTorch (1e-3). Depthwise layers, bandwidth-bound, are timed alone and reported in
GB/s against the one-thread memory bandwidth (bench/bandwidth.c, a STREAM triad).
Peers: `pip install torch onnxruntime onnx`; a missing one is skipped (without
torch, nncc alone runs on its own seeded initial weights).

Then `nncc bench --layers` per model (inference and a train step at train.batch_size): each kernel's
time, share and rate against the measured peak, which explains the ratios (--no-layers skips it).

usage: bench/run.py [--nncc PATH] [--target T] [--models mlp,lstm] [--seconds S] [--markdown PATH] [--no-layers]
"""
import os
for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
import argparse, contextlib, ctypes, glob, importlib, importlib.util, json, platform, re
import subprocess, sys, tempfile, time, warnings, zlib
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
P = ctypes.c_void_p
TOL = 1e-3


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def load_peers():
    """{"torch", "fx" (make_fixtures), "ort"} for what is importable, and notes on the rest."""
    peers, notes = {}, []
    try:
        import torch
        torch.set_num_threads(1)
        torch.set_num_interop_threads(1)
        spec = importlib.util.spec_from_file_location("make_fixtures", os.path.join(ROOT, "scripts", "make_fixtures.py"))
        fx = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(fx)
        peers.update(torch=torch, fx=fx)
    except Exception as e:
        notes.append("PyTorch skipped (%s): `pip install torch`; weights from nncc's seeded init" % e)
    try:
        import onnxruntime
        if "torch" not in peers:
            raise ImportError("the ONNX export needs torch")
        peers["ort"] = onnxruntime
    except Exception as e:
        notes.append("ONNX Runtime skipped (%s): `pip install onnxruntime onnx`" % e)
    return peers, notes


def measure(fns, seconds, min_runs=20, rounds=4):
    """Time single calls of each {peer: fn}, interleaved in rounds so that load changes hit
    every peer alike, until each has >= seconds and >= min_runs after warm-up.
    Returns {peer: (median us, p90 us)}."""
    clock, samples = time.perf_counter_ns, {k: [] for k in fns}
    for fn in fns.values():
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
    return {k: (float(np.median(s)) / 1e3, float(np.percentile(s, 90)) / 1e3) for k, s in samples.items()}


class NnccLib:
    """ctypes binding of DIR/libNAME.so (see /work/shared/spec/c-abi.md)."""

    def __init__(self, so, name):
        lib = ctypes.CDLL(so)

        def f(sym, res, *args):
            fn = getattr(lib, name + "_" + sym)
            fn.restype, fn.argtypes = res, list(args)
            return fn
        self.strerror = f("strerror", ctypes.c_char_p, ctypes.c_int)
        self.destroy = f("destroy", None, P)
        self.load = f("load_weights", ctypes.c_int, P, ctypes.c_char_p)
        self.save = f("save_weights", ctypes.c_int, P, ctypes.c_char_p)
        self.forward = f("forward", ctypes.c_int, P, P, P, ctypes.c_int)
        if hasattr(lib, name + "_train_step"):
            self.train_step = f("train_step", ctypes.c_int, P, P, P, ctypes.c_int, ctypes.POINTER(ctypes.c_float))
        self.ctx = P(f("create", P)() or 0)
        if not self.ctx.value:
            raise RuntimeError(name + "_create returned NULL")

    def check(self, rc, what):
        if rc != 0:
            raise RuntimeError("%s: %d %s" % (what, rc, (self.strerror(rc) or b"").decode()))


def nncc_compile(nncc, model, out, batch, train, cache, target, threads=1):
    """Compiles into out with a cold cache; returns the wall time (gcc included)."""
    cmd = [nncc, "compile", model, "-o", out, "--batch", str(batch), "--target", target] + (["--train"] if train else [])
    cmd += ["--threads", str(threads)] if threads > 1 else []
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, NNCC_CACHE=cache))
    if p.returncode != 0:
        raise RuntimeError("%s failed:\n%s" % (" ".join(cmd), (p.stdout + p.stderr).strip()))
    return time.perf_counter() - t0


def compare(what, peer, y, ref):
    err, top = float(np.abs(y - ref).max()), float(np.abs(ref).max())
    ok = bool(np.all(np.isfinite(y))) and err <= TOL * max(1.0, top)
    return ("ok" if ok else "WARNING", "%s: nncc vs %s max abs diff %.2e (|y| max %.3g)" % (what, peer, err, top))


def ort_session(ort, torch, fx, net, x, path):
    class Out(torch.nn.Module):        # the interpreter returns every layer's output; keep the first output
        def __init__(self, n):
            super().__init__()
            self.n = n

        def forward(self, t):
            return fx.forward_out(self.n, t)
    net.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Out(net), (torch.from_numpy(x),), path, opset_version=17, dynamo=False,
                          input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "b"}, "y": {0: "b"}})
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def bench_model(path, args, peers, tmp):
    spec = json.load(open(path))
    name, tr = spec["name"], spec.get("train")                       # no train section: inference only
    B, d, kinds = (tr or {}).get("batch_size", 64), os.path.join(tmp, spec["name"]), ("infer", "train") if tr else ("infer",)
    log("[%s] compiling (--batch %d%s)" % (name, B, ", then --train" if tr else ""))
    cache = os.path.join(tmp, "cache")
    ct = {k: nncc_compile(args.nncc, path, os.path.join(d, k), B, k == "train", cache, args.target) for k in kinds}
    man = json.load(open(os.path.join(d, "infer", name + ".manifest.json")))
    flops, out_size = man["flops_per_example"], int(np.prod(man["outputs"][0]["shape"]))
    libs = [NnccLib(os.path.join(d, k, "lib%s.so" % name), name) for k in kinds]
    inf, trn = libs[0], libs[-1]

    seed = zlib.crc32(name.encode()) & 0x7FFFFFFF
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B,) + tuple(spec["input"]["shape"])).astype(np.float32)
    ce = (tr or {}).get("loss") == "cross_entropy"
    labels = rng.integers(0, out_size, B).astype(np.int32) if ce else rng.random((B, out_size), np.float32)
    wpath = os.path.join(d, "weights.safetensors").encode()
    torch, fx, ort, net, sess = peers.get("torch"), peers.get("fx"), peers.get("ort"), None, None
    if torch is not None:
        torch.manual_seed(seed)
        net = fx.init_net(spec, torch.Generator().manual_seed(seed + 1), {"wscale": 1.0, "identity": ()})  # random batchnorm statistics too
        fx.save_safetensors(wpath.decode(), net.params())                 # state_dict names, F32
    else:
        inf.check(inf.save(inf.ctx, wpath), "save_weights")
    for lib in libs:
        lib.check(lib.load(lib.ctx, wpath), "load_weights")
    rows, checks = [], []
    if ort is not None:
        try:
            sess = ort_session(ort, torch, fx, net, x, os.path.join(d, name + ".onnx"))
        except Exception as e:
            checks.append(("WARNING", "%s: ONNX export or ORT session failed, ORT skipped: %s" % (name, e)))
    for kind, b in (("infer", 1), ("infer", B)) + ((("train", B),) if tr else ()):
        what = "%s %s b=%d" % (name, "inference" if kind == "infer" else "train step", b)
        log("[%s]" % what)
        xb, lb, fns = np.ascontiguousarray(x[:b]), np.ascontiguousarray(labels[:b]), {}
        xp = P(xb.ctypes.data)
        if kind == "infer":
            y = np.zeros((b, out_size), np.float32)
            yp, fwd, ctx = P(y.ctypes.data), inf.forward, inf.ctx
            inf.check(fwd(ctx, xp, yp, b), "forward")
            fns["nncc"] = lambda: fwd(ctx, xp, yp, b)
            if sess is not None:
                yo, io = np.zeros_like(y), sess.io_binding()
                io.bind_cpu_input("x", xb)
                io.bind_output("y", "cpu", 0, np.float32, list(yo.shape), yo.ctypes.data)
                sess.run_with_iobinding(io)
                checks.append(compare(what, "ORT", y, yo))
                fns["ort"] = lambda: sess.run_with_iobinding(io)
            if net is not None:
                net.eval()
                xt = torch.from_numpy(xb)
                with torch.inference_mode():
                    checks.append(compare(what, "PyTorch", y, fx.forward_out(net, xt).numpy().reshape(b, -1)))
                fns["torch"] = lambda: fx.forward_out(net, xt)
        else:
            loss, lp, step, ctx = ctypes.c_float(0.0), P(lb.ctypes.data), trn.train_step, trn.ctx
            lref = ctypes.byref(loss)
            trn.check(step(ctx, xp, lp, b, lref), "train_step")
            first = loss.value                                   # the loss at the initial weights
            fns["nncc"] = lambda: step(ctx, xp, lp, b, lref)
            if net is not None:
                net.train()
                opt = fx.optimizer_of(net, tr["optimizer"])
                xt, yt = torch.from_numpy(xb), torch.from_numpy(lb.astype(np.int64) if ce else lb)

                def pt_step():
                    opt.zero_grad()
                    loss = fx.loss_of(net, net(xt), yt, tr["loss"])
                    loss.backward()
                    opt.step()
                    return loss
                ref = pt_step().item()
                fns["torch"] = pt_step
                dropout = any(L["type"] == "dropout" for L in spec["layers"])
                ok = dropout or abs(first - ref) <= TOL * max(1.0, abs(ref))
                checks.append(("ok" if ok else "WARNING", "%s: first-step loss nncc %.6f, PyTorch %.6f%s" % (
                    what, first, ref, " (dropout masks differ: not compared)" if dropout else "")))
        with (torch.inference_mode() if torch is not None and kind == "infer" else contextlib.nullcontext()):
            r = measure(fns, args.seconds)
        r.update(model=name, case=what.split(" ", 1)[1], kind=kind, batch=b,
                 gflops=(3 if kind == "train" else 1) * flops * b / (r["nncc"][0] * 1e3))  # backward ~ 2x forward
        rows.append(r)
    if args.threads > 1:
        rows += bench_threads(args, path, d, B, kinds, libs, wpath, x, labels, checks, cache, name, out_size)
    for lib in libs:
        lib.destroy(lib.ctx)
    return rows, checks, ct


def bench_threads(args, path, d, B, kinds, libs, wpath, x, labels, checks, cache, name, out_size):
    """Forward and the train step at the train batch, built with --threads N, against the one-thread
    libraries, interleaved in the same run (rows of kind "threads"). Forward must give the same outputs."""
    rows, xb, lb = [], np.ascontiguousarray(x[:B]), np.ascontiguousarray(labels[:B])
    xp, lp = P(xb.ctypes.data), P(lb.ctypes.data)
    for kind, one in zip(kinds, libs):
        what = "%s b=%d" % ("inference" if kind == "infer" else "train step", B)
        log("[%s %s, --threads %d]" % (name, what, args.threads))
        out = os.path.join(d, kind + "-threads")
        nncc_compile(args.nncc, path, out, B, kind == "train", cache, args.target, args.threads)
        many = NnccLib(os.path.join(out, "lib%s.so" % name), name)
        many.check(many.load(many.ctx, wpath), "load_weights")
        fns, ys, loss = {}, {}, ctypes.c_float(0.0)
        for tag, lib in (("one", one), ("many", many)):
            if kind == "infer":
                ys[tag] = np.zeros((B, out_size), np.float32)
                fns[tag] = (lambda f=lib.forward, c=lib.ctx, p=P(ys[tag].ctypes.data): f(c, xp, p, B))
            else:
                fns[tag] = (lambda f=lib.train_step, c=lib.ctx: f(c, xp, lp, B, ctypes.byref(loss)))
        if kind == "infer":
            fns["one"](), fns["many"]()
            same = np.array_equal(ys["one"], ys["many"])
            checks.append(("ok" if same else "WARNING", "%s %s: --threads %d outputs %s one thread's" % (
                name, what, args.threads, "equal" if same else "differ from")))
        r = measure(fns, args.seconds)
        rows.append(dict(model=name, case=what, kind="threads", batch=B, one=r["one"][0], many=r["many"][0],
                         many_n=args.threads))
        many.destroy(many.ctx)
    return rows


# ---------------------------------------------------------------- depthwise layers

IR_NODE = re.compile(r"^\s+%(\d+) = (\S+?)(?:\((.*?)\))? (?:%(\d+).*?)?\s+\[([\d, ]+)\]")


def pair(text, default):
    """"3" -> [3, 3], "10x4" or "2,1" -> [10, 4]; default when absent."""
    if not text:
        return default
    v = [int(t) for t in re.split(r"[x,]", text)]
    return v * 2 if len(v) == 1 else v


def depthwise_layers(nncc, model, batch):
    """The depthwise convs of a model as nncc schedules them: (input [C, H, W], kernel, stride, [top, left] pads)."""
    p = subprocess.run([nncc, "ir", model, "--stage", "scheduled", "--batch", str(batch)], capture_output=True, text=True)
    shapes, layers, last = {}, [], None
    for line in p.stdout.splitlines():
        m = IR_NODE.match(line)
        if m:
            shapes[m.group(1)], last = [int(v) for v in m.group(5).split(",")], m
            continue
        if not (last and "kernel: depthwise" in line and last.group(4) in shapes):
            continue
        attrs = dict(a.split("=", 1) for a in (last.group(3) or "").split(", ") if "=" in a)
        pads = pair(attrs.get("pad"), [0, 0, 0, 0])
        x = shapes[last.group(4)]
        if len(x) == 3 and len(pads) == 4 and pads[:2] == pads[2:]:
            layers.append((x, pair(attrs.get("kernel"), [1, 1]), pair(attrs.get("stride"), [1, 1]), pads[:2]))
    return layers


def bench_depthwise(args, model, B, bandwidth, tmp):
    """Each distinct depthwise layer of the model compiled alone, at batch 1 and B: µs, and GB/s of its
    input and output (the least it must move), against the measured memory bandwidth."""
    rows, seen = [], set()
    name, fmt_version = os.path.splitext(os.path.basename(model))[0], json.load(open(model))["format"]
    for x, k, st, pads in depthwise_layers(args.nncc, model, B):
        if repr((x, k, st, pads)) in seen:
            continue
        seen.add(repr((x, k, st, pads)))
        lname = "dw_%dx%dx%d_k%dx%d_s%d" % (x[0], x[1], x[2], k[0], k[1], st[0])
        spec = {"format": fmt_version, "name": lname, "input": {"shape": x}, "layers": [
            {"type": "conv2d", "filters": x[0], "kernel_size": k, "stride": st, "padding": pads, "groups": x[0], "bias": False}]}
        d = os.path.join(tmp, "dw", name, lname)
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, lname + ".json")
        with open(path, "w") as f:
            json.dump(spec, f)
        try:
            nncc_compile(args.nncc, path, d, B, False, os.path.join(tmp, "cache"), args.target)
            lib = NnccLib(os.path.join(d, "lib%s.so" % lname), lname)
            y_shape = json.load(open(os.path.join(d, lname + ".manifest.json")))["outputs"][0]["shape"]
        except Exception as e:
            log("bench: depthwise layer %s skipped: %s" % (lname, e))
            continue
        for b in (1, B):
            xb = np.random.default_rng(b).standard_normal([b] + x).astype(np.float32)
            y = np.zeros([b] + y_shape, np.float32)
            xp, yp, fwd, ctx = P(xb.ctypes.data), P(y.ctypes.data), lib.forward, lib.ctx
            t = measure({"nncc": lambda: fwd(ctx, xp, yp, b)}, args.seconds / 2)["nncc"][0]
            gbs = 4.0 * (xb.size + y.size) / (t * 1e3)
            rows.append(dict(model=name, layer="%s -> %s, %dx%d stride %d" % (x, y_shape, k[0], k[1], st[0]), batch=b,
                             us=t, gbs=gbs, share=bandwidth and gbs / bandwidth))
        lib.destroy(lib.ctx)
    return rows


def depthwise_table(rows, bandwidth):
    out = ["Depthwise layers alone (bandwidth-bound): GB/s of input + output, against the one-thread memory "
           "bandwidth of %s (bench/bandwidth.c, STREAM triad on 64 MiB arrays). A layer's data at batch 1 stays "
           "in the caches, so it can pass 100%%." % fmt(bandwidth, "%.1f GB/s"), "",
           "| model | layer | batch | µs | GB/s | % of bandwidth |", "|---|---|---:|---:|---:|---:|"]
    out += ["| %s | %s | %d | %.1f | %.1f | %s |" % (r["model"], r["layer"], r["batch"], r["us"], r["gbs"],
                                                   fmt(r["share"] and 100 * r["share"], "%.0f%%")) for r in rows]
    return out


def bandwidth_gbs(tmp, target):
    """One thread's memory bandwidth (bench/bandwidth.c), best of 3."""
    exe = os.path.join(tmp, "bandwidth")
    p = subprocess.run(["gcc", "-O2"] + TARGETS[resolve_target(target)][1] + [os.path.join(HERE, "bandwidth.c"), "-o", exe],
                       capture_output=True, text=True)
    if p.returncode != 0:
        log("bench: bandwidth.c did not compile: " + p.stderr.strip())
        return None
    return max(float(sh([exe]) or 0) for _ in range(3)) or None


# ---------------------------------------------------------------- report

def fmt(v, f="%.1f"):
    return f % v if v is not None else "–"


def table(rows, peak):
    out = ["| model | case | nncc µs | ORT µs | ORT/nncc | PyTorch µs | PyTorch/nncc | nncc GFLOP/s | % of peak |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        n, o, t = r["nncc"][0], r.get("ort", (None,))[0], r.get("torch", (None,))[0]
        out.append("| %s | %s | %s | %s | %s | %s | %s | %.1f | %s |" % (
            r["model"], r["case"], fmt(n), fmt(o), fmt(o and o / n, "%.2f×"), fmt(t), fmt(t and t / n, "%.2f×"),
            r["gflops"], fmt(peak and 100 * r["gflops"] / peak, "%.0f%%")))
    out += ["", "p90 latency (µs), same rows:", "", "| model | case | nncc | ORT | PyTorch |", "|---|---|---:|---:|---:|"]
    out += ["| %s | %s | %s | %s | %s |" % (r["model"], r["case"], fmt(r["nncc"][1]), fmt(r.get("ort", (0, None))[1]),
                                           fmt(r.get("torch", (0, None))[1])) for r in rows]
    return out


def targets(rows, ctimes, threads=()):
    """The goals of docs/performance.md, evaluated on this run."""
    def goal(text, kind, b1, peer, need, models=None):
        got = [(r["model"], r[peer][0] / r["nncc"][0]) for r in rows if r["kind"] == kind and
               (r["batch"] == 1) == b1 and peer in r and (models is None or r["model"] in models)]
        if not got:
            return "- %s: not measured" % text
        return "- %s: **%s** (%s)" % (text, "met" if all(q >= need for _, q in got) else "not met",
                                      ", ".join("%s %.2f×" % g for g in got))
    ok = all(max(c.values()) <= 3 for c in ctimes.values())
    return [goal("inference b=1 ≥ 2× faster than ORT on lenet5 and lstm", "infer", True, "ort", 2, ("lenet5", "lstm")),
            goal("inference b=1 no slower than ORT on mlp and cnn_bn", "infer", True, "ort", 1, ("mlp", "cnn_bn")),
            goal("inference at the train batch no slower than ORT", "infer", False, "ort", 1),
            goal("train step ≥ 2× faster than PyTorch", "train", False, "torch", 2),
            "- compile ≤ 3 s each: **%s** (slowest %.2f s)" % (
                "met" if ok else "not met", max([max(c.values()) for c in ctimes.values()] or [0]))] + (
            ["- --threads %d ≥ 1.7× one thread at the train batch: **%s** (%s)" % (
                threads[0]["many_n"], "met" if all(r["one"] / r["many"] >= 1.7 for r in threads) else "not met",
                ", ".join("%s %s %.2f×" % (r["model"], r["case"].split(" b=")[0], r["one"] / r["many"]) for r in threads))]
            if threads else [])


# nncc's --target: vector width and -march of bench/peak.c's FMA chains.
TARGETS = {"x86-64-v4": (16, ["-march=x86-64-v4"]), "x86-64-v3": (8, ["-march=x86-64-v3"]),
           "x86-64-v2": (4, ["-march=x86-64-v2"]), "portable": (4, [])}


def resolve_target(target):
    """native as nncc resolves it: the best x86-64 level the CPU's flags allow."""
    if target != "native":
        return target
    flags = set((re.search(r"^flags\s*:(.*)$", open("/proc/cpuinfo").read(), re.M) or [None, ""])[1].split()) \
        if os.path.exists("/proc/cpuinfo") else set()
    if {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= flags:
        return "x86-64-v4"
    return "x86-64-v3" if {"avx2", "fma"} <= flags else "x86-64-v2" if "sse4_2" in flags else "portable"


def peak_gflops(tmp, target):
    """The FMA peak of one thread at the target's vector width and instructions."""
    exe = os.path.join(tmp, "peak")
    vw, march = TARGETS[resolve_target(target)]
    p = subprocess.run(["gcc", "-O2", "-DVW=%d" % vw] + march + ["-ffp-contract=fast", os.path.join(HERE, "peak.c"), "-o", exe],
                       capture_output=True, text=True)
    if p.returncode != 0:
        log("bench: peak.c did not compile: " + p.stderr.strip())
        return None
    return max(float(sh([exe]) or 0) for _ in range(3)) or None    # best of 3: load only lowers it


def machine(peers, peak, bandwidth, nncc, target):
    cpu = sh(["lscpu"])
    get = lambda k: (re.search(r"^%s:\s*(.+)$" % k, cpu, re.M) or [None, "?"])[1]
    vers = ["Python " + platform.python_version(), "NumPy " + np.__version__]
    vers += ["%s %s" % (l, peers[k].__version__) for k, l in (("torch", "PyTorch"), ("ort", "ONNX Runtime")) if k in peers]
    try:
        vers.append("onnx " + importlib.import_module("onnx").__version__)
    except ImportError:
        pass
    git = sh(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    dirty = " + uncommitted changes" if sh(["git", "-C", ROOT, "status", "--porcelain", "Sources"]) else ""
    if os.path.getmtime(nncc) < float(sh(["git", "-C", ROOT, "log", "-1", "--format=%ct"]) or 0):
        dirty += "; the nncc binary is older than this commit"
    avx512 = " avx512f" in (open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else "")
    return ["- CPU: %s (family %s, model %s), %d cores, L2 %s, L3 %s, %s, AVX-512 %s" % (
                get("Model name"), get("CPU family"), get("Model"), os.cpu_count(), get("L2 cache"), get("L3 cache"),
                "VM (%s)" % get("Hypervisor vendor") if "Hypervisor" in cpu else "bare metal", "yes" if avx512 else "no"),
            "- nncc --target %s; peak single-thread FMA rate at its vector width (bench/peak.c, best of 6): %s; "
            "one-thread memory bandwidth (bench/bandwidth.c, triad): %s" % (
                target if target == resolve_target(target) else "%s (%s)" % (target, resolve_target(target)),
                fmt(peak, "%.1f GFLOP/s"), fmt(bandwidth, "%.1f GB/s")),
            "- %s; nncc %s (commit %s%s)" % ((sh(["gcc", "--version"]) or "gcc ?").splitlines()[0],
                                            sh([nncc, "--version"]), git, dirty),
            "- " + ", ".join(vers),
            "- one thread each: nncc without --threads, torch.set_num_threads(1), ORT intra/inter-op 1, sequential"]


def layer_tables(models, args, cache):
    """`nncc bench --layers` at train.batch_size, inference and a train step: markdown lines."""
    rep = ["", "## Per layer", "", "`nncc bench MODEL --layers --batch B` (and `--train`): each kernel's "
           "mean time per call in a profile build (two clock reads per call), its share of the sum, and its rate against "
           "the peak nncc measures (FMA; read bandwidth from cache or memory for bandwidth-bound kernels).", ""]
    for m in models:
        spec = json.load(open(m))
        B = (spec.get("train") or {}).get("batch_size", 64)
        for train in ([False, True] if spec.get("train") else [False]):
            cmd = [args.nncc, "bench", m, "--layers", "--batch", str(B), "--target", args.target,
                   "--seconds", str(args.seconds)] + (["--train"] if train else [])
            p = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, NNCC_CACHE=cache))
            if p.returncode != 0:
                rep += ["- %s: `%s` failed: %s" % (spec["name"], " ".join(cmd[1:]), p.stderr.strip()), ""]
                continue
            head, _, rest = p.stdout.partition("\n")
            rep += ["### %s, %s b=%d" % (spec["name"], "train step" if train else "inference", B), "", head, "", rest.strip(), ""]
    return rep


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nncc", default=os.path.join(ROOT, ".build", "release", "nncc"))
    ap.add_argument("--target", default=os.environ.get("NNCC_BENCH_TARGET", "native"), choices=["native"] + sorted(TARGETS),
                    help="nncc compile --target (default native, or $NNCC_BENCH_TARGET); the peak is measured at its vector width")
    ap.add_argument("--models", help="comma-separated model names (default: every bench/models/*.json)")
    ap.add_argument("--seconds", type=float, default=0.5, help="minimum timed seconds per measurement (and >= 20 runs)")
    ap.add_argument("--markdown", metavar="PATH", help="also write the report to PATH")
    ap.add_argument("--no-layers", dest="layers", action="store_false", help="skip the per-layer tables (nncc bench --layers)")
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1),
                    help="also time forward and the train step at the train batch built with --threads N against one "
                         "thread (default 2 where the machine has two cores; 1 skips)")
    args = ap.parse_args()
    if not os.path.exists(args.nncc):
        log("bench: %s missing: swift build -c release" % args.nncc)
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

    load0, rows, checks, ctimes, failed = os.getloadavg(), [], [], {}, []
    with tempfile.TemporaryDirectory(prefix="nncc-bench-") as tmp:
        peak, bandwidth, dw_rows = peak_gflops(tmp, args.target), bandwidth_gbs(tmp, args.target), []
        for m in models:
            try:
                r, c, ct = bench_model(m, args, peers, tmp)
                rows, checks, ctimes[r[0]["model"]] = rows + r, checks + c, ct
                dw_rows += bench_depthwise(args, m, max(x["batch"] for x in r), bandwidth, tmp)
            except Exception as e:
                failed.append("%s: %s" % (os.path.basename(m), e))
                log("bench: %s failed: %s" % (m, e))
        peak = max(peak or 0, peak_gflops(tmp, args.target) or 0) or None
        layers = layer_tables(models, args, os.path.join(tmp, "layers-cache")) if args.layers else []
    load1 = os.getloadavg()

    rep = ["# nncc benchmark", "", "Median latency over ≥ %g s and ≥ 20 runs after warm-up, the peers interleaved; a "
           "ratio above 1× means nncc is faster. A train step counts 3× the forward FLOPs. GFLOP/s counts a "
           "convolution's direct FLOPs: layers that run as Winograd F(2×2, 3×3) do 2.25× fewer multiplies, so their "
           "effective rate can pass the FMA peak." % args.seconds, ""]
    threads = [r for r in rows if r["kind"] == "threads"]
    rows = [r for r in rows if r["kind"] != "threads"]
    rep += table(rows, peak)
    if threads:
        rep += ["", "Threads: the same libraries built with `--threads %d`, at the train batch, timed interleaved with "
                "one thread's (forward splits the batch once per call, the train step once per step):" % args.threads, "",
                "| model | case | 1 thread µs | %d threads µs | speedup |" % args.threads, "|---|---|---:|---:|---:|"]
        rep += ["| %s | %s | %s | %s | %.2f× |" % (r["model"], r["case"], fmt(r["one"]), fmt(r["many"]), r["one"] / r["many"])
                for r in threads]
    if dw_rows:
        rep += [""] + depthwise_table(dw_rows, bandwidth)
    rep += ["", "Compile time (`nncc compile`, gcc included, cold cache):", "",
            "| model | --batch B | --train --batch B |", "|---|---:|---:|"]
    rep += ["| %s | %.2f s | %s |" % (m, c["infer"], fmt(c.get("train"), "%.2f s")) for m, c in sorted(ctimes.items())]
    rep += ["", "Targets:", ""] + targets(rows, ctimes, threads)
    rep += ["", "Checks:", ""] + ["- %s: %s" % c for c in checks] + ["- FAILED " + f for f in failed]
    rep += ["- " + n for n in notes] + ["", "Machine:", ""] + machine(peers, peak, bandwidth, args.nncc, args.target)
    rep += ["- load average (1/5/15 min): %.2f %.2f %.2f at start, %.2f %.2f %.2f at end" % (load0 + load1)]
    rep += layers
    text = "\n".join(rep) + "\n"
    print(text, end="")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    if any(c[0] != "ok" for c in checks):
        log("bench: WARNING: nncc's outputs disagree with a peer (see Checks)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
