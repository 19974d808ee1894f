#!/usr/bin/env python3
"""Generate the PyTorch reference fixtures in Tests/NNCCTests/Fixtures/torch/.

usage: python3 scripts/make_fixtures.py [--out DIR] [--only NAME,...] [--check-golden DIR]

Every case is defined below as a model description (the nncc model format,
docs: /work/shared/spec/model-format.md) plus data sizes. The PyTorch model is
built from that model.json by a small interpreter, so the fixtures test the
format's semantics as written, not a hand-translated copy. See scripts/README.md
for what every file holds. Needs torch and numpy; the tests that read the
fixtures need neither.
"""
import argparse, copy, json, math, os, re, shutil, struct, sys, warnings, zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(ROOT, "Tests", "NNCCTests", "Fixtures", "torch")
STEPS = 10          # optimizer steps recorded in steps cases
STEP_BATCHES = 4    # batches in the fixed dataset of a steps case


# ----------------------------------------------------------------------------
# safetensors / npy I/O

def save_safetensors(path, tensors):
    """Write {name: tensor} as F32 safetensors (hand-written unless the package exists)."""
    arrs = {k: np.ascontiguousarray(v.detach().cpu().numpy() if torch.is_tensor(v) else v,
                                    dtype="<f4") for k, v in tensors.items()}
    try:
        from safetensors.numpy import save_file
    except ImportError:
        save_file = None
    if save_file is not None:
        save_file(arrs, path)
        return
    head, off, blobs = {}, 0, []
    for k in sorted(arrs):
        b = arrs[k].tobytes()
        head[k] = {"dtype": "F32", "shape": list(arrs[k].shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(head, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)          # align the data to 8 bytes, as the package does
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in head.items():
        if k == "__metadata__":
            continue
        assert v["dtype"] == "F32", (path, k)
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(data[a:b], dtype="<f4").reshape(v["shape"]).copy()
    return out


def f32(t):
    return np.ascontiguousarray(t.detach().cpu().numpy().astype(np.float32))


# ----------------------------------------------------------------------------
# Interpreter: model.json -> torch module

def pair(v):
    return tuple(v) if isinstance(v, (list, tuple)) else (v, v)


def single(v):
    return tuple(v) if isinstance(v, (list, tuple)) else (v,)


def triple(v):
    return tuple(v) if isinstance(v, (list, tuple)) else (v, v, v)


def activation(name, x, alpha=0.01, L=None):
    """The activation `name` of x; L is its layer, for the parameters (PyTorch's defaults otherwise)."""
    L = L or {}
    if name is None or name == "identity":
        return x
    if name == "relu":
        return F.relu(x)
    if name == "sigmoid":
        return torch.sigmoid(x)
    if name == "tanh":
        return torch.tanh(x)
    if name == "softmax":
        return F.softmax(x, dim=-1)
    if name == "log_softmax":
        return F.log_softmax(x, dim=-1)
    if name == "leaky_relu":
        return F.leaky_relu(x, alpha)
    if name == "gelu":
        return F.gelu(x, approximate=L.get("approximate", "none"))   # erf form unless "tanh"
    if name == "elu":
        return F.elu(x, L.get("alpha", 1.0))
    if name == "celu":
        return F.celu(x, L.get("alpha", 1.0))
    if name == "softplus":
        return F.softplus(x, L.get("beta", 1.0), L.get("threshold", 20.0))
    if name == "hardtanh":
        return F.hardtanh(x, L.get("min_val", -1.0), L.get("max_val", 1.0))
    if name in UNARY:
        return UNARY[name](x)
    raise ValueError("unknown activation %r" % name)


BINARY = {"sub": torch.sub, "mul": torch.mul, "div": torch.div, "pow": torch.pow, "maximum": torch.maximum,
          "minimum": torch.minimum}   # broadcasting as NumPy, per example

REDUCTIONS = {"mean": torch.mean, "sum": torch.sum, "amax": torch.amax, "amin": torch.amin}   # dims count the batch

# Parameterless activations, by their layer names.
UNARY = {"selu": F.selu, "softsign": F.softsign, "relu6": F.relu6, "hardsigmoid": F.hardsigmoid,
         "hardswish": F.hardswish, "silu": F.silu, "mish": F.mish, "exp": torch.exp, "log": torch.log,
         "sqrt": torch.sqrt, "abs": torch.abs, "neg": torch.neg, "reciprocal": torch.reciprocal, "erf": torch.erf}
ACTIVATIONS = {"relu", "sigmoid", "tanh", "softmax", "log_softmax", "leaky_relu", "gelu", "identity", "elu", "celu",
               "softplus", "hardtanh"} | set(UNARY)


class Net(nn.Module):
    """An nn.Sequential-like module: children are named by layer name, so the
    state_dict keys are the format's parameter names ("0.weight", "c1.bias")."""

    def __init__(self, spec):
        super().__init__()
        self.plan = []                        # (name, layer, input names)
        shape = tuple(spec["input"]["shape"])
        probe = {"input": torch.zeros((2,) + shape)}
        prev = "input"
        self.training = False                 # the shape probe runs in inference mode
        for i, L in enumerate(spec["layers"]):
            name = L.get("name", str(i))
            assert name not in probe, "duplicate layer name " + name
            inputs = L.get("inputs", [prev])
            xs = [probe[n] for n in inputs]
            mod = self._module(L, xs)
            if mod is not None:
                self.add_module(name, mod)
            self.plan.append((name, L, inputs))
            with torch.no_grad():
                if mod is not None:
                    mod.eval()
                probe[name] = self._layer(name, L, xs)
            prev = name
        self.train()
        self.outputs = spec.get("outputs", [prev])
        self.shapes = {k: tuple(v.shape[1:]) for k, v in probe.items()}

    @staticmethod
    def _module(L, xs):
        t, x = L["type"], xs[0]
        if t == "dense":
            return nn.Linear(x.shape[-1], L["units"], bias=L.get("bias", True))
        if t in ("conv2d", "conv1d", "conv3d"):
            cls, tup = {"conv2d": (nn.Conv2d, pair), "conv1d": (nn.Conv1d, single), "conv3d": (nn.Conv3d, triple)}[t]
            return cls(x.shape[1], L["filters"], tup(L["kernel_size"]), stride=tup(L.get("stride", 1)),
                       padding=L["padding"] if isinstance(L.get("padding"), str) else tup(L.get("padding", 0)),
                       dilation=tup(L.get("dilation", 1)), groups=L.get("groups", 1), bias=L.get("bias", True))
        if t in ("conv_transpose2d", "conv_transpose1d"):
            cls, tup = (nn.ConvTranspose2d, pair) if t == "conv_transpose2d" else (nn.ConvTranspose1d, single)
            return cls(x.shape[1], L["out_channels"], tup(L["kernel_size"]), stride=tup(L.get("stride", 1)),
                       padding=tup(L.get("padding", 0)), output_padding=tup(L.get("output_padding", 0)),
                       groups=L.get("groups", 1), bias=L.get("bias", True), dilation=tup(L.get("dilation", 1)))
        if t == "batchnorm":
            cls = {5: nn.BatchNorm3d, 4: nn.BatchNorm2d}.get(x.dim(), nn.BatchNorm1d)
            return cls(x.shape[1], eps=L.get("eps", 1e-5), momentum=L.get("momentum", 0.1))
        if t == "rnn":
            return nn.RNN(x.shape[-1], L["units"], nonlinearity=L.get("activation", "tanh"), batch_first=True)
        if t == "lstm":
            return nn.LSTM(x.shape[-1], L["units"], batch_first=True)
        if t == "gru":
            return nn.GRU(x.shape[-1], L["units"], batch_first=True)
        if t == "prelu":
            return nn.PReLU(L.get("num_parameters", 1))
        if t == "layernorm":
            return nn.LayerNorm(L["normalized_shape"], eps=L.get("eps", 1e-5),
                                elementwise_affine=L.get("elementwise_affine", True), bias=L.get("bias", True))
        if t == "groupnorm":
            return nn.GroupNorm(L["num_groups"], x.shape[1], eps=L.get("eps", 1e-5), affine=L.get("affine", True))
        if t == "embedding":
            return nn.Embedding(L["num_embeddings"], L["embedding_dim"], padding_idx=L.get("padding_idx"))
        if t == "multihead_attention":
            return nn.MultiheadAttention(L["embed_dim"], L["num_heads"], dropout=L.get("dropout", 0.0),
                                         bias=L.get("bias", True), batch_first=True)
        if t == "transformer_encoder_layer":
            return nn.TransformerEncoderLayer(L["d_model"], L["nhead"], L.get("dim_feedforward", 2048),
                                              L.get("dropout", 0.1), L.get("activation", "relu"),
                                              L.get("layer_norm_eps", 1e-5), batch_first=True,
                                              norm_first=L.get("norm_first", False), bias=L.get("bias", True))
        if t == "instancenorm":
            cls = nn.InstanceNorm2d if x.dim() == 4 else nn.InstanceNorm1d
            return cls(x.shape[1], eps=L.get("eps", 1e-5), affine=L.get("affine", False))
        return None

    def _layer(self, name, L, xs):
        t, x = L["type"], xs[0]
        if t in ("dense", "conv2d", "conv1d", "conv3d"):
            return activation(L.get("activation"), getattr(self, name)(x))
        if t in ("batchnorm", "prelu", "layernorm", "groupnorm", "instancenorm", "transformer_encoder_layer",
                 "conv_transpose2d", "conv_transpose1d"):
            return getattr(self, name)(x)
        if t == "embedding":                  # token ids held as floats
            return getattr(self, name)(x.long())
        if t == "multihead_attention":        # self-attention
            return getattr(self, name)(x, x, x, need_weights=False)[0]
        if t == "upsample":
            sf, size = L.get("scale_factor"), L.get("size")
            return nn.Upsample(size=tuple(size) if isinstance(size, list) else size,
                               scale_factor=tuple(sf) if isinstance(sf, list) else sf, mode=L.get("mode", "nearest"),
                               align_corners=L.get("align_corners"))(x)
        if t == "pixel_shuffle":
            return F.pixel_shuffle(x, L["upscale_factor"])
        if t == "pixel_unshuffle":
            return F.pixel_unshuffle(x, L["downscale_factor"])
        if t in ("rnn", "lstm", "gru"):
            out, _ = getattr(self, name)(x)   # zero initial state
            return out if L.get("return_sequences", False) else out[:, -1]
        if t in ("maxpool2d", "avgpool2d"):
            k = pair(L["pool_size"])
            s = pair(L.get("stride", L["pool_size"]))
            p = pair(L.get("padding", 0))
            ceil = L.get("ceil_mode", False)
            if t == "maxpool2d":
                return F.max_pool2d(x, k, s, p, dilation=pair(L.get("dilation", 1)), ceil_mode=ceil)
            return F.avg_pool2d(x, k, s, p, ceil_mode=ceil, count_include_pad=L.get("count_include_pad", True))
        if t in ("maxpool1d", "avgpool1d"):
            k = single(L["pool_size"])
            s = single(L.get("stride", L["pool_size"]))
            p = single(L.get("padding", 0))
            ceil = L.get("ceil_mode", False)
            if t == "maxpool1d":
                return F.max_pool1d(x, k, s, p, dilation=single(L.get("dilation", 1)), ceil_mode=ceil)
            return F.avg_pool1d(x, k, s, p, ceil_mode=ceil, count_include_pad=L.get("count_include_pad", True))
        if t in ("maxpool3d", "avgpool3d"):
            k = triple(L["pool_size"])
            s = triple(L.get("stride", L["pool_size"]))
            p = triple(L.get("padding", 0))
            ceil = L.get("ceil_mode", False)
            if t == "maxpool3d":
                return F.max_pool3d(x, k, s, p, dilation=triple(L.get("dilation", 1)), ceil_mode=ceil)
            return F.avg_pool3d(x, k, s, p, ceil_mode=ceil, count_include_pad=L.get("count_include_pad", True))
        if t == "global_avgpool3d":
            return F.adaptive_avg_pool3d(x, 1).flatten(1)
        if t == "global_avgpool2d":
            return x.mean(dim=(2, 3))
        if t == "global_avgpool1d":
            return F.adaptive_avg_pool1d(x, 1).flatten(1)
        if t == "flatten":
            return torch.flatten(x, 1)
        if t == "reshape":
            return x.reshape((x.shape[0],) + tuple(L["shape"]))
        if t == "dropout":
            return F.dropout(x, L["rate"], self.training)
        if t == "leaky_relu":
            return F.leaky_relu(x, L.get("alpha", 0.01))
        if t in ("softmax", "log_softmax") and ("dim" in L or "axis" in L):
            d = L["dim"] if "dim" in L else (L["axis"] if L["axis"] < 0 else L["axis"] + 1)
            return (F.softmax if t == "softmax" else F.log_softmax)(x, dim=d)
        if t in ACTIVATIONS:
            return activation(t, x, L=L)
        if t == "add":
            y = xs[0]
            for z in xs[1:]:
                y = y + z
            return y
        if t in BINARY:                       # broadcast per example: the batch stays axis 0
            a, b = xs
            r = max(a.dim(), b.dim())
            a, b = (z if z.dim() == r else z.reshape((z.shape[0],) + (1,) * (r - z.dim()) + tuple(z.shape[1:]))
                    for z in (a, b))
            return BINARY[t](a, b)
        if t == "concat":
            a = L.get("axis", 0)
            return torch.cat(xs, dim=a if a < 0 else a + 1)
        if t == "transpose":
            return x.transpose(L["dim0"], L["dim1"])
        if t == "permute":
            return x.permute(*L["dims"])
        if t == "slice":
            idx = [slice(None)] * x.dim()
            idx[L["dim"]] = slice(L.get("start", 0), L.get("end"), L.get("step", 1))
            return x[tuple(idx)]
        if t == "matmul":                      # leading axes broadcast per example, as the binary ops
            a, b = xs
            r = max(a.dim(), b.dim())
            a, b = (z if z.dim() == r else z.reshape((z.shape[0],) + (1,) * (r - z.dim()) + tuple(z.shape[1:]))
                    for z in (a, b))
            return torch.matmul(a, b)
        if t == "pad":                         # F.pad: pairs from the last dim backward
            mode = L.get("mode", "constant")
            return F.pad(x, L["pad"], mode=mode, value=L.get("value", 0.0) if mode == "constant" else None)
        if t in PAD_MODULES:                   # nn.ZeroPad2d, nn.ReflectionPad1d, ...: padding int or tuple
            p = L["padding"]
            p = [p] * (2 if t.endswith("1d") else 4) if isinstance(p, int) else p
            mode = PAD_MODULES[t]
            return F.pad(x, p, mode=mode, value=L.get("value", 0.0) if mode == "constant" else None)
        if t in REDUCTIONS:
            d = L["dim"]
            return REDUCTIONS[t](x, dim=tuple(d) if isinstance(d, list) else d, keepdim=L.get("keepdim", False))
        raise ValueError("unknown layer type %r" % t)

    def forward(self, x):
        env = {"input": x}
        for name, L, inputs in self.plan:
            env[name] = self._layer(name, L, [env[n] for n in inputs])
        return env

    def output_layer(self):
        name = self.outputs[0]
        for n, L, inputs in self.plan:
            if n == name:
                return L, inputs
        raise KeyError(name)

    def params(self):
        return {k: v for k, v in self.state_dict().items() if not k.endswith("num_batches_tracked")}


def loss_of(net, env, y, loss):
    """The training loss, with the format's fused softmax / sigmoid rules."""
    L, inputs = net.output_layer()
    out = env[net.outputs[0]]
    if loss == "cross_entropy":
        logits = env[inputs[0]] if L["type"] == "softmax" else out
        return F.cross_entropy(logits, y)
    if loss == "mse":
        return F.mse_loss(out, y)
    if loss == "binary_cross_entropy":
        if L["type"] == "sigmoid":
            return F.binary_cross_entropy_with_logits(env[inputs[0]], y)
        return F.binary_cross_entropy(out, y)
    raise ValueError(loss)


def optimizer_of(net, o):
    ps = list(net.parameters())
    if o["type"] == "sgd":
        return torch.optim.SGD(ps, lr=o["lr"], momentum=o.get("momentum", 0.0),
                               weight_decay=o.get("weight_decay", 0.0), nesterov=o.get("nesterov", False))
    if o["type"] == "adam":
        return torch.optim.Adam(ps, lr=o["lr"], betas=tuple(o.get("betas", (0.9, 0.999))),
                                eps=o.get("eps", 1e-8), weight_decay=o.get("weight_decay", 0.0))
    raise ValueError(o["type"])


def load_params(net, tensors):
    sd = net.state_dict()
    for k in sd:
        if k.endswith("num_batches_tracked"):
            continue
        sd[k] = torch.from_numpy(np.asarray(tensors[k]).copy())
    net.load_state_dict(sd)


# ----------------------------------------------------------------------------
# Case definitions

PAD_MODULES = {"zeropad1d": "constant", "zeropad2d": "constant", "constantpad1d": "constant",
               "constantpad2d": "constant", "reflectionpad1d": "reflect", "reflectionpad2d": "reflect",
               "replicationpad1d": "replicate", "replicationpad2d": "replicate", "circularpad1d": "circular",
               "circularpad2d": "circular"}


def D(units, **kw):
    return dict(type="dense", units=units, **kw)


def C(filters, k, **kw):
    return dict(type="conv2d", filters=filters, kernel_size=k, **kw)


def A(t, **kw):
    return dict(type=t, **kw)


SGD = {"type": "sgd", "lr": 0.1}
SGDM = {"type": "sgd", "lr": 0.05, "momentum": 0.9}
NEST = {"type": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 0.001, "nesterov": True}
ADAM = {"type": "adam", "lr": 0.01}
ADAMW = {"type": "adam", "lr": 0.005, "betas": [0.8, 0.99], "eps": 1e-7, "weight_decay": 0.01}

CASES = []


def case(name, shape, layers, loss=None, opt=SGD, bs=5, n_x=5, outputs=None, clip=0, steps=False,
         xscale=1.0, wscale=1.0, identity=(), plant=(), ids=0):
    """xscale scales the inputs and wscale every dense/conv weight (so activations see both sides of
    their kinks); the dense layers named in identity start as y = x (square eye weight, zero bias), and
    plant overwrites the first features of every input example, so exact kink values reach them. ids > 0:
    the inputs are token ids in 0..ids-1 (held as floats) for an embedding."""
    CASES.append(dict(name=name, shape=shape, layers=layers, loss=loss, opt=opt, bs=bs, n_x=n_x,
                      outputs=outputs, clip=clip, steps=steps, xscale=xscale, wscale=wscale,
                      identity=identity, plant=plant, ids=ids))


# -- dense and activations
case("dense_nobias", [13], [D(7, bias=False), A("relu"), D(3, bias=False)], "mse", SGD, bs=5, n_x=1)
for act, loss, opt, bs in [("relu", "cross_entropy", SGD, 3), ("sigmoid", "mse", SGDM, 4),
                           ("tanh", "cross_entropy", NEST, 5), ("softmax", "mse", ADAM, 6),
                           ("log_softmax", "cross_entropy", SGD, 7), ("leaky_relu", "cross_entropy", ADAM, 5),
                           ("gelu", "mse", SGD, 3), ("identity", "mse", SGD, 4)]:
    case("dense_act_" + act, [11], [D(6, activation=act), D(3)], loss, opt, bs=bs)
case("dense_seq", [7, 5], [D(6, activation="tanh"), D(4, bias=False), A("flatten"), D(3)],
     "cross_entropy", SGD, bs=5)
case("act_layers_a", [10], [D(8), A("relu"), D(8), A("sigmoid"), D(8), A("tanh"), D(8), A("gelu"),
                            A("identity"), D(3)], "mse", SGD, bs=5)
case("act_layers_b", [10], [D(8), A("leaky_relu", alpha=0.2), D(8), A("leaky_relu"), D(6), A("log_softmax"),
                            D(6), A("softmax"), D(3)], "cross_entropy", SGDM, bs=6)
case("act_image", [3, 5, 7], [A("leaky_relu", alpha=0.2), C(4, 3, padding=1, activation="gelu"), A("tanh"),
                              A("flatten"), D(3)], "mse", SGD, bs=3)

# -- unary activations. unary_kinks: each behind a dense layer that starts as y = x, on inputs with the kink
# values planted (relu6 at 0 and 6, hardtanh at its bounds, abs and the elus at 0, hardswish and hardsigmoid
# at ±3), so the training step's gradients go through the kinks themselves; the ones whose derivative
# follows from their output fuse into the dense epilogue in training too.
KINKS = [("relu6", {}), ("hardtanh", dict(min_val=-0.5, max_val=2.0)), ("abs", {}), ("hardswish", {}),
         ("hardsigmoid", {}), ("elu", dict(alpha=0.5)), ("celu", dict(alpha=0.7)), ("selu", {})]
case("unary_kinks", [13],
     [L for t, kw in KINKS for L in (D(13, name="d_" + t, inputs=["input"]), A(t, name=t, inputs=["d_" + t], **kw))]
     + [A("concat", axis=-1, name="cat", inputs=[t for t, _ in KINKS]), D(3, name="head")],
     "cross_entropy", SGD, bs=5, xscale=4.0, identity=["d_" + t for t, _ in KINKS],
     plant=[-3.0, 0.0, 3.0, 6.0, -0.5, 2.0, -6.0])
# Dense layers with activations fused (activation field, or a layer after the dense) and standalone (after
# another activation); log, sqrt and reciprocal read positive values (after softplus or exp).
case("unary_dense", [11], [D(13, activation="silu"), D(12), A("mish"), D(11), A("gelu", approximate="tanh"),
                           D(10, activation="softplus"), A("log"), D(9), A("exp"), A("sqrt"), D(9, activation="exp"),
                           A("reciprocal"), D(8), A("softsign"), D(8, activation="erf"), A("neg"), D(7),
                           A("elu", alpha=1.3), A("abs"), D(3)],
     "mse", SGD, bs=5, xscale=2.0, wscale=2.0)
# The conv kernels' epilogues: rows (hardswish), Winograd (celu), implicit GEMM at stride 2 (relu6), narrow
# (selu, mish; at 16 floats a vector); hardsigmoid and silu standalone after a fused conv.
case("unary_conv", [3, 9, 11], [C(16, 3, padding=1, activation="hardswish"), C(16, 3, padding=1, activation="celu"),
                                C(20, 3, stride=2, activation="relu6"), C(12, 1, activation="selu"),
                                A("hardsigmoid"), C(5, 3, activation="mish"), A("silu"), A("flatten"), D(3)],
     "cross_entropy", SGD, bs=3, xscale=2.0, wscale=2.5)

# -- conv2d
case("conv_k32", [2, 7, 11], [C(5, [3, 2]), A("relu"), A("flatten"), D(3)], "cross_entropy", SGD, bs=5)
case("conv_stride2", [3, 13, 5], [C(4, 3, stride=2, padding=1), A("flatten"), D(3)], "cross_entropy", SGD, bs=4)
case("conv_stride21_pad12", [2, 7, 11], [C(3, 3, stride=[2, 1], padding=[1, 2]), A("relu"), A("flatten"), D(4)],
     "mse", SGD, bs=3)
case("conv_same_odd", [3, 7, 11], [C(5, 3, padding="same", activation="relu"), C(3, 5, padding="same"),
                                   A("flatten"), D(3)], "cross_entropy", SGDM, bs=5)
case("conv_same_even", [2, 13, 5], [C(3, 4, padding="same"), C(3, [2, 3], padding="same", activation="tanh"),
                                    A("flatten"), D(3)], "cross_entropy", SGD, bs=3)
case("conv_valid", [3, 7, 11], [C(4, [3, 5], padding="valid"), A("flatten"), D(3)], "mse", SGD, bs=4)
# Strided along the width with fewer filters than a vector: the rows kernel over phase planes (inference).
case("conv_stride2_rows", [3, 19, 37], [C(5, 3, stride=2, padding=1, activation="relu"),
                                        C(6, 3, stride=[2, 3], dilation=[1, 2], padding=[1, 2]), A("flatten"), D(3)],
     "cross_entropy", SGD, bs=3)
case("conv_dilation2", [2, 11, 7], [C(4, 3, dilation=2, padding=2), A("relu"),
                                    C(3, 3, dilation=2, padding="same"), A("flatten"), D(3)],
     "cross_entropy", SGD, bs=5)
case("conv_groups2", [4, 7, 11], [C(6, 3, groups=2, padding=1, activation="relu"), C(4, [1, 3], groups=2),
                                  A("flatten"), D(3)], "cross_entropy", SGD, bs=3)
case("conv_depthwise", [5, 13, 5], [C(5, 3, groups=5, padding=1), A("relu"), C(10, 3, groups=5, stride=2),
                                    C(7, 1), A("flatten"), D(3)], "cross_entropy", ADAM, bs=4)
case("conv_nobias_act", [3, 7, 11], [C(6, 3, bias=False, activation="sigmoid"),
                                     C(4, 2, bias=False, activation="leaky_relu"), A("flatten"), D(3)],
     "mse", SGD, bs=5)
case("conv_winograd", [16, 9, 13], [C(16, 3, padding=1), A("batchnorm"), A("relu"),
                                     C(24, 3, padding=1, activation="tanh"), A("maxpool2d", pool_size=2),
                                     A("flatten"), D(3)],
     "cross_entropy", SGDM, bs=4)  # both convs qualify for Winograd F(2x2,3x3): >= 16 channels and filters
# Depthwise by rows (rows of whole vectors) and strided with 25 taps (7 channels in the vector lanes), a 1x1 per
# image (its pixels fill whole GEMM panels: stride 1, then stride 2); conv_depthwise (5 channels in the lanes) and
# steps_mobilenet_block reach the other depthwise and 1x1 paths.
case("conv_dw_pw_paths", [5, 15, 32], [C(5, 3, groups=5, padding=1), C(7, 1, activation="relu"),
                                       C(7, 5, groups=7, stride=2, padding=2, bias=False), C(6, 1, stride=2),
                                       A("relu"), A("flatten"), D(3)], "cross_entropy", ADAM, bs=4)
# Depthwise (channels in the lanes: 20 = 16 + 4 of AVX-512's lanes, 18 strided) and 1x1 layers in a chain: an
# inference build keeps the images between them channels-last (chooseLayouts), a batchnorm folded into one.
case("conv_channels_last", [6, 9, 5], [C(20, 3, padding=1, activation="relu"),
                                       C(20, 3, groups=20, padding=1, activation="relu"), C(18, 1), A("batchnorm"),
                                       A("relu"), C(18, 3, groups=18, stride=2, padding=1, activation="relu"),
                                       C(12, 1, activation="relu"), A("global_avgpool2d"), D(3)],
     "cross_entropy", SGD, bs=4)
# The same chain read by a flatten: the last 1x1 layer and its input stay NCHW (a depthwise layer from
# channels-last to NCHW), 7 channels in one partial block of lanes.
case("conv_channels_last_flat", [3, 7, 4], [C(7, 3, padding=1, activation="relu"),
                                            C(7, 3, groups=7, padding=1, activation="relu"), C(9, 1, activation="relu"),
                                            C(9, 3, groups=9, padding=1), C(5, 1), A("flatten"), D(3)],
     "cross_entropy", SGD, bs=4)
# Two depthwise layers of one geometry (3x3, stride 1, relu) on images of 9x7 and 5x4 pixels, a strided one
# between: a training build runs both on one function, the image's size an argument (Depthwise.swift).
case("conv_dw_shared", [20, 9, 7], [C(20, 3, groups=20, padding=1, activation="relu"),
                                    C(20, 3, groups=20, stride=2, padding=1),
                                    C(20, 3, groups=20, padding=1, activation="relu"), C(8, 1),
                                    A("global_avgpool2d"), D(3)], "cross_entropy", SGD, bs=4)
case("conv_1x1_image", [3, 1, 1], [C(5, 1, activation="relu"), C(4, 1, bias=False), A("flatten"), D(2)],
     "cross_entropy", SGD, bs=7, n_x=7)
# A 1x1 layer on 5x5 pixels: built for 7 images it runs one GEMM over the batch's pixels, and fewer
# images (1 at every width) on the implicit GEMM from their own copy of the filters.
case("conv_1x1_few_images", [32, 5, 5], [C(32, 1, activation="relu"), A("flatten"), D(3)],
     "cross_entropy", SGD, bs=7, n_x=7)

# -- pooling, flatten, reshape
case("maxpool2", [3, 7, 11], [C(4, 3, padding=1), A("relu"), A("maxpool2d", pool_size=2), A("flatten"), D(3)],
     "cross_entropy", SGD, bs=5)
case("maxpool3_s2_p1", [2, 13, 5], [C(3, 3), A("maxpool2d", pool_size=3, stride=2, padding=1), A("flatten"), D(3)],
     "mse", SGD, bs=3)
case("avgpool2", [3, 7, 11], [C(4, 3), A("avgpool2d", pool_size=2), A("flatten"), D(3)],
     "cross_entropy", SGD, bs=4)
case("avgpool3_s2_p1", [2, 11, 7], [C(3, 3, padding=1), A("avgpool2d", pool_size=3, stride=2, padding=1),
                                    A("flatten"), D(3)], "cross_entropy", SGD, bs=5)
case("pool_rect", [2, 7, 11], [C(4, 3, padding=1, activation="relu"), A("maxpool2d", pool_size=[2, 3]), C(4, 1),
                               A("avgpool2d", pool_size=[2, 3]), A("flatten"), D(3)], "cross_entropy", SGD, bs=3)
# ceil_mode (a partial last window), a dilated max window, average divisors with and without the padding
case("pool_modes", [3, 12, 10], [C(4, 3, padding=1),
                                 A("maxpool2d", pool_size=3, stride=2, padding=1, dilation=[1, 2], ceil_mode=True),
                                 A("avgpool2d", pool_size=2, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
                                 A("avgpool2d", pool_size=3, stride=2, padding=1, ceil_mode=True),
                                 A("flatten"), D(3)], "cross_entropy", SGD, bs=5)
case("global_avgpool", [5, 7, 11], [C(6, 3, padding=1, activation="relu"), A("global_avgpool2d"), D(3)],
     "cross_entropy", SGD, bs=5)
case("reshape_img", [30], [D(30), A("reshape", shape=[2, 3, -1]), C(3, 2), A("flatten"), D(3)], "mse", SGD, bs=4)
case("reshape_seq", [12], [A("reshape", shape=[3, -1]), D(5), A("flatten"), D(2)], "cross_entropy", SGD, bs=3)

# -- 1-D convolution and pooling on [C, L] (Conv1d, MaxPool1d, AvgPool1d, BatchNorm1d over (N, C, L))
def C1(filters, k, **kw):
    return dict(type="conv1d", filters=filters, kernel_size=k, **kw)


case("conv1d_net", [4, 29], [C1(8, 5, padding=2, bias=False), A("batchnorm"), A("relu"),
                             A("maxpool1d", pool_size=3, stride=2, padding=1),
                             C1(6, 3, stride=2, dilation=2, groups=2, activation="tanh"),
                             A("global_avgpool1d"), D(3)], "cross_entropy", SGDM, bs=5)  # a time-series CNN
case("pool1d_modes", [3, 23], [C1(5, 4, padding="same"), A("relu"), A("batchnorm", momentum=0.3),
                               A("maxpool1d", pool_size=3, stride=2, padding=1, dilation=2, ceil_mode=True),
                               A("avgpool1d", pool_size=2, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
                               A("avgpool1d", pool_size=[3], stride=1, padding=[1]),
                               C1(4, 1, padding="valid"), A("flatten"), D(3)], "mse", ADAM, bs=4)
case("conv1d_wide", [16, 37], [C1(32, 3, padding=1, activation="relu"), C1(20, 3, stride=2),
                               A("maxpool1d", pool_size=2), C1(24, [2], dilation=3, padding="same", bias=False),
                               A("avgpool1d", pool_size=3, stride=2), A("flatten"), D(3)],
     "cross_entropy", SGD, bs=3)  # rows, implicit GEMM and by-rows ∂W paths on one row

# -- 3-D convolution and pooling on [C, D, H, W] (Conv3d, MaxPool3d, AvgPool3d, BatchNorm3d over (N, C, D, H, W))
def C3(filters, k, **kw):
    return dict(type="conv3d", filters=filters, kernel_size=k, **kw)


# strided, padded, dilated and grouped conv3d; batchnorm3d (folded at inference, batch statistics in training);
# a ceil-mode dilated max pool, an average pool without the padding, a "same" conv, the global pool, odd sizes
case("conv3d_net", [4, 7, 9, 8], [C3(6, [3, 2, 3], stride=[1, 2, 1], padding=[1, 0, 2], dilation=[2, 1, 1], groups=2,
                                     bias=False), A("batchnorm"), A("relu"),
                                  A("maxpool3d", pool_size=[2, 3, 2], stride=2, padding=[1, 1, 0], dilation=[1, 1, 2],
                                    ceil_mode=True),
                                  C3(5, [2, 3, 4], padding="same", activation="tanh"),
                                  A("avgpool3d", pool_size=2, stride=[1, 2, 2], padding=1, ceil_mode=True,
                                    count_include_pad=False),
                                  A("batchnorm", momentum=0.3), A("avgpool3d", pool_size=[1, 2, 2], padding=[0, 1, 0]),
                                  A("global_avgpool3d"), D(3)], "cross_entropy", SGDM, bs=3)

# -- batchnorm
case("bn_conv_fold", [3, 7, 11], [C(5, 3, padding=1), A("batchnorm"), A("relu"), A("maxpool2d", pool_size=2),
                                  A("flatten"), D(3)], "cross_entropy", SGD, bs=5)
case("bn_dense_fold", [9], [D(7), A("batchnorm"), A("relu"), D(3)], "cross_entropy", SGD, bs=6)
case("bn_after_relu_img", [3, 13, 5], [C(4, 3, bias=False), A("relu"), A("batchnorm", eps=1e-3, momentum=0.3),
                                       A("flatten"), D(3)], "mse", SGDM, bs=4)
case("bn_after_relu_vec", [9], [D(7), A("relu"), A("batchnorm"), D(3)], "cross_entropy", ADAM, bs=7)
case("bn_input", [6], [A("batchnorm", eps=1e-4, momentum=0.5), D(3)], "mse", SGD, bs=5)

# -- dropout
case("dropout_infer", [12], [D(10, activation="relu"), A("dropout", rate=0.5), D(3)], n_x=7)
case("dropout_conv_infer", [3, 7, 11], [C(4, 3), A("dropout", rate=0.5), A("flatten"), D(3)], n_x=3)
case("dropout_zero_train", [10], [D(8, activation="relu"), A("dropout", rate=0.0), D(3)],
     "cross_entropy", SGD, bs=5)

# -- recurrent
case("rnn_tanh_last", [7, 3], [A("rnn", units=5), D(3)], "cross_entropy", SGD, bs=5)
case("rnn_relu_seq", [7, 4], [A("rnn", units=6, activation="relu", return_sequences=True), D(3), A("flatten"), D(2)],
     "mse", SGD, bs=3)
case("rnn_t1", [1, 5], [A("rnn", units=4, activation="tanh"), D(2)], "mse", SGD, bs=4)
case("lstm_last7", [7, 3], [A("lstm", units=5), D(3)], "cross_entropy", ADAM, bs=5)
case("lstm_seq_out", [7, 3], [A("lstm", units=4, return_sequences=True)], "mse", SGD, bs=3)
case("lstm_t1", [1, 6], [A("lstm", units=3, return_sequences=True), A("flatten"), D(2)], "cross_entropy", SGD, bs=4)
case("gru_last7", [7, 4], [A("gru", units=5), D(3)], "cross_entropy", SGDM, bs=5)
case("gru_seq_dense", [7, 3], [A("gru", units=6, return_sequences=True), D(4, activation="relu"), A("flatten"), D(3)],
     "cross_entropy", SGD, bs=6)
case("gru_t1", [1, 3], [A("gru", units=5, return_sequences=False), D(2)], "mse", SGD, bs=3)
case("rnn_stack", [5, 4], [A("lstm", units=6, return_sequences=True), A("gru", units=5, return_sequences=True),
                           A("rnn", units=4), D(3)], "cross_entropy", NEST, bs=4)

# -- graphs (named layers, explicit inputs, fan-out)
case("add2_fanout", [9], [D(6, name="a", inputs=["input"]), D(6, name="b", inputs=["input"]),
                          A("add", name="sum", inputs=["a", "b"]), A("relu", name="act"), D(3, name="logits")],
     "cross_entropy", SGD, bs=5, outputs=["logits"])
case("add3_conv", [3, 7, 11], [C(4, 3, padding=1, activation="relu", name="stem"),
                               C(4, 3, padding="same", name="a", inputs=["stem"]),
                               C(4, 1, name="b", inputs=["stem"]),
                               A("add", name="sum", inputs=["stem", "a", "b"]), A("relu", name="act"),
                               A("global_avgpool2d", name="gap"), D(3, name="head")],
     "cross_entropy", SGD, bs=4, outputs=["head"])
case("resblock", [4, 7, 5], [C(4, 3, padding=1, bias=False, name="c1"), A("batchnorm", name="bn1"),
                             A("relu", name="r1"), C(4, 3, padding=1, bias=False, name="c2"),
                             A("batchnorm", name="bn2"), A("add", name="res", inputs=["bn2", "input"]),
                             A("relu", name="out"), A("flatten", name="flat"), D(3, name="fc")],
     "cross_entropy", SGD, bs=5)
case("concat_channels", [3, 7, 11], [C(2, 3, padding=1, name="a", inputs=["input"]), C(3, 1, name="b", inputs=["input"]),
                                     A("concat", axis=0, name="cat", inputs=["a", "b", "input"]),
                                     A("maxpool2d", pool_size=2, name="pool"), A("flatten", name="flat"),
                                     D(3, name="fc")], "cross_entropy", SGD, bs=3)
case("concat_features", [9], [D(4, activation="tanh", name="a", inputs=["input"]),
                              D(5, activation="relu", name="b", inputs=["input"]),
                              A("concat", axis=-1, name="cat", inputs=["a", "b"]), D(3, name="fc")],
     "mse", SGD, bs=5)
case("concat_seq", [5, 3], [A("lstm", units=4, return_sequences=True, name="l", inputs=["input"]),
                            A("gru", units=3, return_sequences=True, name="g", inputs=["input"]),
                            A("concat", axis=-1, name="cat_f", inputs=["l", "g"]),
                            D(7, name="d", inputs=["input"]),
                            A("concat", axis=0, name="cat_t", inputs=["cat_f", "d"]),
                            A("flatten", name="flat"), D(3, name="fc")], "cross_entropy", ADAM, bs=4)

# -- binary ops with broadcasting, PReLU
case("se_block", [3, 7, 9], [C(6, 3, padding=1, name="c", inputs=["input"]), A("global_avgpool2d", name="gap"),
                             D(3, activation="relu", name="fc1"), D(6, name="fc2"), A("reshape", shape=[6, 1, 1], name="r"),
                             A("sigmoid", name="s"), A("mul", name="se", inputs=["c", "s"]),  # squeeze-excite
                             A("sigmoid", name="sx"), A("mul", name="silu", inputs=["se", "sx"]),  # SiLU, old-exporter style
                             A("flatten", name="flat"), D(3, name="fc")],
     "cross_entropy", SGDM, bs=4)
case("binary_bcast", [4, 5, 7], [C(4, 3, padding=1, name="a", inputs=["input"]),
                                 A("global_avgpool2d", name="gap", inputs=["input"]), D(4, name="pd"),
                                 A("reshape", shape=[4, 1, 1], name="p"),                     # [C, 1, 1]
                                 C(1, [5, 1], name="wc", inputs=["input"]), A("reshape", shape=[1, 7], name="w"),  # [1, W]
                                 A("sub", name="sub", inputs=["a", "p"]), A("sigmoid", name="ws", inputs=["w"]),
                                 A("div", name="div", inputs=["sub", "ws"]), A("maximum", name="mx", inputs=["div", "p"]),
                                 A("minimum", name="mn", inputs=["w", "a"]), A("sigmoid", name="ps", inputs=["mn"]),
                                 A("tanh", name="pt", inputs=["p"]), A("pow", name="pw", inputs=["ps", "pt"]),
                                 A("mul", name="pq", inputs=["p", "w"]),                      # [4, 1, 7]
                                 A("minimum", name="tie", inputs=["pq", "pq"]),  # ties: half the gradient to each side
                                 A("add", name="sum", inputs=["mx", "pw"]), A("mul", name="m2", inputs=["sum", "tie"]),
                                 A("flatten", name="flat"), D(3, name="fc")],
     "mse", SGD, bs=3)
# -- tensor ops. attention: two-head self-attention written out (q·kᵀ on loops, p·v on the GEMM: 17·16·17 >= 4096),
# softmax over the last axis and over the heads (strided), log_softmax over the sequence axis, mean pooling.
case("attention", [17, 12], [D(16, name="q", inputs=["input"]), A("reshape", shape=[17, 2, 8], name="qh"),
                             A("transpose", dim0=1, dim1=2, name="qt"),                           # [2, 17, 8]
                             D(16, name="k", inputs=["input"]), A("reshape", shape=[17, 2, 8], name="kh"),
                             A("permute", dims=[0, 2, 3, 1], name="kt"),                          # [2, 8, 17]
                             A("matmul", name="s", inputs=["qt", "kt"]),                          # [2, 17, 17]
                             A("softmax", dim=-1, name="p", inputs=["s"]),
                             A("softmax", dim=1, name="ph", inputs=["s"]),                        # over the heads
                             A("add", name="pp", inputs=["p", "ph"]),
                             D(32, name="v", inputs=["input"]), A("reshape", shape=[17, 2, 16], name="vh"),
                             A("transpose", dim0=-3, dim1=-2, name="vt"),                         # [2, 17, 16]
                             A("matmul", name="ctx", inputs=["pp", "vt"]),                        # [2, 17, 16]
                             A("permute", dims=[0, 2, 1, 3], name="ct"), A("reshape", shape=[17, 32], name="cr"),
                             A("log_softmax", axis=0, name="ls"),                                 # over the sequence
                             A("mean", dim=1, name="pool"), D(3, name="fc")],
     "cross_entropy", SGD, bs=3)
# ShuffleNet's channel shuffle (reshape to groups, swap, reshape back) and the 2-D tiled transpose of H and W.
case("channel_shuffle", [4, 5, 9], [C(6, 3, padding=1), A("reshape", shape=[2, 3, 5, 9]), A("transpose", dim0=1, dim1=2),
                                    A("reshape", shape=[6, 5, 9]), A("transpose", dim0=-1, dim1=-2),   # [6, 9, 5]
                                    C(4, 1), A("flatten"), D(3)], "cross_entropy", SGD, bs=4)
# Reductions with and without keepdim, amin with ties (relu's zeros: the gradient splits evenly), and a matmul
# whose [7, 7] right operand broadcasts over the leading axis (its gradient sums over it).
case("reductions", [6, 5, 7], [D(7, name="h", inputs=["input"]),
                                A("mean", dim=[1, 3], keepdim=True, name="m"),                  # [1, 5, 1]
                                A("sub", name="hm", inputs=["h", "m"]),
                                A("sum", dim=2, name="s"),                                      # [6, 7]
                                A("amax", dim=-1, name="mx", inputs=["hm"]),                    # [6, 5]
                                A("relu", name="r", inputs=["hm"]),
                                A("amin", dim=[2, 3], name="mn"),                               # [6], ties at 0
                                D(49, name="qd"), A("reshape", shape=[7, 7], name="q"),
                                A("matmul", name="mm", inputs=["hm", "q"]),                     # [6, 5, 7]
                                A("amax", dim=1, keepdim=True, name="mk"),                      # [1, 5, 7]
                                A("flatten", name="f1", inputs=["s"]), A("flatten", name="f2", inputs=["mx"]),
                                A("flatten", name="f3", inputs=["mk"]),
                                A("concat", name="cat", inputs=["f1", "f2", "mn", "f3"]), D(3, name="fc")],
     "mse", {"type": "sgd", "lr": 0.01}, bs=4)   # products of results: a small rate keeps long runs finite
# Slices (a step, a negative start, an open end; overlapping reads of one result add their gradients) and a
# matmul whose left operand has the lower rank (it broadcasts over the right's leading axis).
case("slices", [6, 9, 5], [D(5, name="h", inputs=["input"]),
                           A("slice", dim=2, start=1, end=8, step=3, name="a"),                 # [6, 3, 5]
                           A("slice", dim=-1, start=-3, name="b", inputs=["h"]),               # [6, 9, 3]
                           A("slice", dim=1, end=4, name="c", inputs=["h"]),                    # [4, 9, 5]
                           A("mean", dim=1, name="a2", inputs=["a"]),                           # [3, 5]
                           A("transpose", dim0=2, dim1=3, name="ct", inputs=["c"]),             # [4, 5, 9]
                           A("matmul", name="m", inputs=["a2", "ct"]),                          # [4, 3, 9]
                           A("flatten", name="fb", inputs=["b"]), A("flatten", name="fm", inputs=["m"]),
                           A("concat", name="cat", inputs=["fb", "fm"]), D(3, name="fc")],
     "cross_entropy", ADAM, bs=4)

case("prelu_cnn", [3, 6, 7], [C(5, 3, padding=1), A("prelu", num_parameters=5), A("maxpool2d", pool_size=2),
                              A("flatten"), D(8), A("prelu"), D(3)], "cross_entropy", SGD, bs=5)

# -- pad: every mode on [C, H, W] and [C, L] between convs, uneven and negative (cropping) pads, the module
# aliases, a constant pad of the channel axis; backward adds the copied borders' gradients to their sources.
case("pad_image", [3, 7, 9], [C(4, 3), A("pad", pad=[2, 1, 1, 3], mode="reflect"),                 # [4, 9, 10]
                              C(5, 3, activation="tanh"), A("pad", pad=[1, 2, 0, 1], mode="replicate"),  # [5, 8, 11]
                              A("pad", pad=[2, 1, 1, 2], mode="circular"),                         # [5, 11, 14]
                              A("pad", pad=[1, -1, -2, 1], value=0.5),                             # [5, 10, 14]
                              A("reflectionpad2d", padding=1), A("zeropad2d", padding=[0, 1, 2, 0]),  # [5, 14, 17]
                              C(3, 3, stride=2), A("replicationpad2d", padding=[1, 0, 0, 2]),      # [3, 8, 9]
                              A("flatten"), D(3)], "cross_entropy", SGD, bs=4)
case("pad_seq", [4, 11], [C1(6, 3), A("pad", pad=[3, 2], mode="reflect"),                         # [6, 14]
                          C1(5, 3, activation="relu"), A("pad", pad=[1, 2, 0, 1], value=-0.25),    # [6, 15]
                          A("pad", pad=[2, 0], mode="replicate"), A("pad", pad=[1, 3], mode="circular"),  # [6, 21]
                          A("constantpad1d", padding=[-2, 1], value=1.5), A("circularpad1d", padding=2),  # [6, 24]
                          A("reflectionpad1d", padding=[0, 2]), C1(4, 3, stride=2),               # [4, 12]
                          A("flatten"), D(3)], "mse", SGDM, bs=3)

# -- layernorm, groupnorm, instancenorm: rows longer and shorter than a vector, several axes, no affine or
# no bias; instance norm of [C, L] (InstanceNorm1d) and [C, H, W]; group norm of [C] and of one group; two
# identical instance norms (one shared kernel in the large-model shape)
case("layernorm_seq", [7, 9], [D(37), A("layernorm", normalized_shape=37), A("relu"), D(5),
                               A("layernorm", normalized_shape=[7, 5], bias=False), A("instancenorm", affine=True),
                               A("tanh"), A("layernorm", normalized_shape=5, elementwise_affine=False, eps=1e-3),
                               A("flatten"), D(12), A("groupnorm", num_groups=4), D(3)],
     "cross_entropy", SGD, bs=5)
case("groupnorm_cnn", [3, 9, 7], [C(6, 3, padding=1), A("groupnorm", num_groups=3, eps=1e-4), A("relu"), C(5, 3),
                                  A("instancenorm", affine=True), A("relu"), A("instancenorm", affine=True),
                                  A("groupnorm", num_groups=1),
                                  A("layernorm", normalized_shape=5), A("instancenorm"), A("sigmoid"), A("global_avgpool2d"), D(3)],
     "cross_entropy", SGDM, bs=4)

# -- losses
case("ce_softmax", [11], [D(8, activation="relu"), D(5), A("softmax")], "cross_entropy", SGDM, bs=6)
case("ce_softmax_conv", [2, 5, 7], [C(3, 3, activation="tanh"), A("flatten"), D(4), A("softmax")],
     "cross_entropy", ADAMW, bs=5)
case("bce_sigmoid", [7], [D(6, activation="tanh"), D(4), A("sigmoid")], "binary_cross_entropy", SGD, bs=5)
case("bce_dense_sigmoid", [7], [D(6, activation="relu"), D(4, activation="sigmoid")], "binary_cross_entropy", SGD, bs=6)

# -- optimizers
case("opt_sgd_nesterov_wd", [10], [D(8, activation="tanh"), D(3)], "cross_entropy", NEST, bs=5)
case("opt_adam", [10], [D(8, activation="tanh"), D(3)], "mse", ADAM, bs=4)
case("opt_adam_wd_betas", [10], [D(8, activation="tanh"), D(3)], "cross_entropy", ADAMW, bs=7)
case("clip_norm", [10], [D(8, activation="relu"), D(3)], "mse", {"type": "sgd", "lr": 0.2}, bs=5, clip=0.5)

# -- multi-step training (losses.npy over 10 steps, 4 batches cycled)
case("steps_lenet", [1, 13, 13], [C(4, 3, padding=1), A("relu"), A("maxpool2d", pool_size=2), C(6, 3), A("relu"),
                                  A("maxpool2d", pool_size=2), A("flatten"), D(12), A("relu"), D(4)],
     "cross_entropy", {"type": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 0.0001}, bs=5, steps=True)
case("steps_winograd", [16, 7, 8], [C(16, 3, padding=1, activation="relu"), C(16, 3, padding=1), A("flatten"), D(3)],
     "cross_entropy", {"type": "sgd", "lr": 0.05, "momentum": 0.9}, bs=3, steps=True)  # Winograd ∂x, repacked each step
case("steps_lstm", [7, 3], [A("lstm", units=6), D(3)], "cross_entropy", {"type": "adam", "lr": 0.02},
     bs=3, steps=True)
# The architectures of issue 11, each also one step on its whole training set (the one-step and sanitizer checks).
# A 1-D CNN on a time series: conv1d, BatchNorm1d, both 1-D pools.
case("steps_cnn1d", [3, 41], [C1(8, 5, padding=2, bias=False), A("batchnorm"), A("relu"), A("maxpool1d", pool_size=2),
                              C1(12, 3, padding=1, bias=False), A("batchnorm"), A("relu"), A("avgpool1d", pool_size=2),
                              C1(12, 3, dilation=2), A("relu"), A("global_avgpool1d"), D(4)],
     "cross_entropy", {"type": "adam", "lr": 0.01}, bs=5, steps=True)
# A transformer encoder classifier on token ids: an embedding with a padding row, a post-norm relu layer, a
# pre-norm gelu layer, a bias-free self-attention, mean over the tokens, a dense head. SGD: the keys' in_proj_bias
# gets no gradient but rounding (softmax cancels it), which Adam would scale up to a step.
case("steps_transformer", [7], [A("embedding", num_embeddings=11, embedding_dim=12, padding_idx=0),
                                 A("transformer_encoder_layer", d_model=12, nhead=3, dim_feedforward=20, dropout=0.0),
                                 A("transformer_encoder_layer", d_model=12, nhead=2, dim_feedforward=16, dropout=0.0,
                                   activation="gelu", norm_first=True, layer_norm_eps=1e-4),
                                 A("multihead_attention", embed_dim=12, num_heads=4, bias=False),
                                 A("mean", dim=1), D(3)],
     "cross_entropy", SGDM, bs=4, steps=True, ids=11)
# A MobileNetV2 inverted residual block after a stem: 1x1 expand, relu6, depthwise 3x3, 1x1 project, batchnorms,
# the residual add.
case("steps_mobilenet_block", [3, 9, 11], [C(8, 3, padding=1, bias=False, name="stem"), A("batchnorm", name="stem_bn"),
                                           A("relu6", name="stem_act"),
                                           C(24, 1, bias=False, name="expand"), A("batchnorm", name="expand_bn"),
                                           A("relu6", name="expand_act"),
                                           C(24, 3, padding=1, groups=24, bias=False, name="dw"), A("batchnorm", name="dw_bn"),
                                           A("relu6", name="dw_act"),
                                           C(8, 1, bias=False, name="project"), A("batchnorm", name="project_bn"),
                                           A("add", name="residual", inputs=["stem_act", "project_bn"]),
                                           A("global_avgpool2d", name="pool"), D(3, name="fc")],
     "cross_entropy", {"type": "sgd", "lr": 0.05, "momentum": 0.9}, bs=4, steps=True)

# -- upsampling: conv_transpose (stride 2 with output_padding and groups, then asymmetric stride, padding and
# dilation), nearest upsample by scale and by size, bilinear with and without align_corners, pixel_shuffle
# and pixel_unshuffle; a 1-D decoder with linear upsampling and conv_transpose1d.
def CT(out, k, **kw):
    return dict(type="conv_transpose2d", out_channels=out, kernel_size=k, **kw)


def UP(**kw):
    return dict(type="upsample", **kw)


case("upsample_decoder", [4, 3, 5], [CT(6, 3, stride=2, padding=1, output_padding=1, groups=2), A("relu"),
                                     UP(scale_factor=2), CT(4, [2, 3], stride=[1, 2], padding=[0, 1], dilation=[2, 1],
                                                             bias=False),
                                     UP(size=[9, 13], mode="bilinear"), A("tanh"),
                                     UP(scale_factor=[1.5, 0.5], mode="bilinear", align_corners=True),
                                     UP(size=[8, 10], mode="nearest"),
                                     A("pixel_unshuffle", downscale_factor=2), A("pixel_shuffle", upscale_factor=2),
                                     UP(scale_factor=[0.6, 1.7], mode="bilinear"),
                                     A("flatten"), D(3)], "cross_entropy", SGDM, bs=3)
case("upsample_1d", [3, 7], [dict(type="conv_transpose1d", out_channels=5, kernel_size=4, stride=3, padding=1,
                                  output_padding=2, dilation=1),
                             UP(scale_factor=1.5, mode="linear"), A("relu"),
                             dict(type="conv_transpose1d", out_channels=4, kernel_size=[3], dilation=2, groups=1),
                             UP(size=11, mode="linear", align_corners=True), UP(scale_factor=3),
                             UP(size=17), A("flatten"), D(3)], "mse", ADAM, bs=4)
# 3-D: trilinear, nearest-exact (PyTorch cannot export it to ONNX), nearest by size after a channel-mixing dense.
case("upsample_3d", [2, 3, 4, 5], [UP(scale_factor=[2, 1.5, 0.7], mode="trilinear"), A("tanh"),
                                   UP(scale_factor=1.5, mode="nearest-exact"), A("permute", dims=[0, 2, 3, 4, 1]), D(3),
                                   A("permute", dims=[0, 4, 1, 2, 3]), UP(size=[5, 4, 3]), A("flatten"), D(3)],
     "cross_entropy", SGD, bs=3)


# ----------------------------------------------------------------------------
# Generation

def model_json(c):
    m = {"format": 1, "name": c["name"], "input": {"shape": c["shape"]}, "layers": c["layers"]}
    if c["outputs"]:
        m["outputs"] = c["outputs"]
    if c["loss"]:
        t = {"loss": c["loss"], "optimizer": c["opt"], "batch_size": c["bs"],
             "epochs": math.ceil(STEPS / STEP_BATCHES) if c["steps"] else 1, "shuffle": False}
        if c["clip"]:
            t["clip_grad_norm"] = c["clip"]
        m["train"] = t
    m["weights"] = "weights.safetensors"
    return m


def init_net(spec, g, c):
    """PyTorch default init, then random batchnorm affine/running stats so
    that inference through batchnorm is not the identity; then the case's
    wscale and identity layers."""
    net = Net(spec)
    with torch.no_grad():
        for mod in net.modules():
            if isinstance(mod, (nn.Linear, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d)):
                mod.weight.mul_(c["wscale"])
        for name in c["identity"]:
            mod = getattr(net, name)
            mod.weight.copy_(torch.eye(mod.weight.shape[0]))
            mod.bias.zero_()
        for mod in net.modules():
            if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
                n = mod.num_features
                mod.weight.copy_(0.5 + torch.rand(n, generator=g))
                mod.bias.copy_(0.2 * torch.randn(n, generator=g))
                mod.running_mean.copy_(0.2 * torch.randn(n, generator=g))
                mod.running_var.copy_(0.5 + torch.rand(n, generator=g))
            if isinstance(mod, (nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm1d, nn.InstanceNorm2d)):
                if mod.weight is not None:      # not the identity affine PyTorch starts with
                    mod.weight.copy_(0.5 + torch.rand(mod.weight.shape, generator=g))
                if mod.bias is not None:
                    mod.bias.copy_(0.2 * torch.randn(mod.bias.shape, generator=g))
            if isinstance(mod, nn.MultiheadAttention) and mod.in_proj_bias is not None:   # not PyTorch's zeros
                mod.in_proj_bias.copy_(0.2 * torch.randn(mod.in_proj_bias.shape, generator=g))
                mod.out_proj.bias.copy_(0.2 * torch.randn(mod.out_proj.bias.shape, generator=g))
            if isinstance(mod, nn.PReLU):       # distinct slopes, some negative, not PyTorch's 0.25 everywhere
                mod.weight.copy_(torch.rand(mod.weight.shape, generator=g) - 0.3)
    return net


def inputs(c, n, g):
    """n input examples of the case: normal (scaled, with planted values), or token ids."""
    shape = (n,) + tuple(c["shape"])
    if c["ids"]:
        return torch.randint(0, c["ids"], shape, generator=g).float()
    return plant(c, c["xscale"] * torch.randn(shape, generator=g))


def plant(c, x):
    flat = x.reshape(x.shape[0], -1)
    flat[:, :len(c["plant"])] = torch.tensor(c["plant"], dtype=x.dtype)
    return x


def targets(net, loss, n, g):
    out_shape = net.shapes[net.outputs[0]]
    if loss == "cross_entropy":
        assert len(out_shape) == 1, "cross_entropy needs [classes] outputs"
        return torch.randint(0, out_shape[0], (n,), generator=g, dtype=torch.int64)
    if loss == "mse":
        return 0.5 * torch.randn((n,) + out_shape, generator=g)
    return torch.rand((n,) + out_shape, generator=g)


def forward_out(net, x):
    return net(x)[net.outputs[0]]


def warn_adam(name, opt_spec, grads):
    """Adam's first step is lr * g / (|g| + eps): a gradient that is ~0 only by
    rounding would make the expected update depend on rounding noise."""
    if opt_spec["type"] != "adam":
        return
    small = [k for k, v in grads.items() if ((v.abs() < 1e-7) & (v != 0)).any()]
    if small:
        print("  warning: %s: adam with near-zero gradients in %s" % (name, small), file=sys.stderr)


def make_case(c, out_dir):
    name = c["name"]
    seed = zlib.crc32(name.encode()) & 0x7FFFFFFF
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed + 1)
    spec = model_json(c)
    net = init_net(spec, g, c)
    d = os.path.join(out_dir, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    with open(os.path.join(d, "model.json"), "w") as f:
        json.dump(spec, f, indent=1)
        f.write("\n")
    w0 = {k: v.clone() for k, v in net.params().items()}
    save_safetensors(os.path.join(d, "weights.safetensors"), w0)

    x = inputs(c, c["n_x"], g)
    net.eval()
    with torch.no_grad():
        y = forward_out(net, x)
    np.save(os.path.join(d, "x.npy"), f32(x))
    np.save(os.path.join(d, "y.npy"), f32(y))
    info = {"y": f32(y)}
    if not c["loss"]:
        return info

    opt_spec = spec["train"]["optimizer"]
    n_train = c["bs"] * (STEP_BATCHES if c["steps"] else 1)
    xt = inputs(c, n_train, g)
    yt = targets(net, c["loss"], n_train, g)
    np.savez(os.path.join(d, "train.npz"), x=f32(xt), y=yt.numpy() if yt.dtype == torch.int64 else f32(yt))
    net.train()
    if c["steps"]:
        # First one step on the whole set from a copy, for the one-step checks (TrainingTests, TrainSanitizerTests).
        info.update(one_step(c, d, copy.deepcopy(net), opt_spec, xt, yt))
        opt = optimizer_of(net, opt_spec)
        losses = []
        for s in range(STEPS):
            b = s % STEP_BATCHES
            xb, yb = xt[b * c["bs"]:(b + 1) * c["bs"]], yt[b * c["bs"]:(b + 1) * c["bs"]]
            opt.zero_grad()
            loss = loss_of(net, net(xb), yb, c["loss"])
            loss.backward()
            if s == 0:
                warn_adam(name, opt_spec, {k: p.grad for k, p in net.named_parameters()})
            if c["clip"]:
                nn.utils.clip_grad_norm_(net.parameters(), c["clip"])
            opt.step()
            losses.append(loss.item())
        np.save(os.path.join(d, "losses.npy"), np.array(losses, np.float32))
        save_safetensors(os.path.join(d, "after_steps.safetensors"), net.params())
        info.update(losses=np.array(losses))
        return info
    info.update(one_step(c, d, net, opt_spec, xt, yt))
    return info


def one_step(c, d, net, opt_spec, xt, yt):
    """One optimizer step on all of xt: loss.txt, grads.safetensors, dx.npy (not for token ids), after.safetensors."""
    name = c["name"]
    opt = optimizer_of(net, opt_spec)
    xg = xt.clone().requires_grad_(not c["ids"])
    opt.zero_grad()
    loss = loss_of(net, net(xg), yt, c["loss"])
    loss.backward()
    grads = {k: (p.grad.clone() if p.grad is not None else torch.zeros_like(p)) for k, p in net.named_parameters()}
    gnorm = math.sqrt(sum(float((v.double() ** 2).sum()) for v in grads.values()))
    if c["clip"]:
        assert gnorm > c["clip"] * 1.5, "clip case does not clip (norm %g)" % gnorm
        nn.utils.clip_grad_norm_(net.parameters(), c["clip"])
    opt.step()
    save_safetensors(os.path.join(d, "grads.safetensors"), grads)
    if not c["ids"]:
        np.save(os.path.join(d, "dx.npy"), f32(xg.grad))
    save_safetensors(os.path.join(d, "after.safetensors"), net.params())
    with open(os.path.join(d, "loss.txt"), "w") as f:
        f.write("%.8g\n" % loss.item())
    warn_adam(name, opt_spec, grads)
    return dict(loss=loss.item(), gnorm=gnorm, dx=None if c["ids"] else f32(xg.grad),
                grads={k: f32(v) for k, v in grads.items()}, after={k: f32(v) for k, v in net.params().items()})


# ----------------------------------------------------------------------------
# Checks

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def check_case(d, name):
    """Re-read the written files and check them for consistency."""
    errs = []
    m = json.load(open(os.path.join(d, "model.json")))
    if m.get("format") != 1:
        errs.append("format")
    if m.get("name") != name or not NAME_RE.match(name):
        errs.append("name")
    for f in os.listdir(d):
        p = os.path.join(d, f)
        if f.endswith(".npy"):
            a = np.load(p)
            if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
                errs.append("non-finite " + f)
        elif f.endswith(".safetensors"):
            for k, v in load_safetensors(p).items():
                if not np.all(np.isfinite(v)):
                    errs.append("non-finite %s:%s" % (f, k))
        elif f == "train.npz":
            t = np.load(p)
            if not np.all(np.isfinite(t["x"])):
                errs.append("non-finite train x")
    # inference from the saved files reproduces y.npy
    net = Net(m)
    load_params(net, load_safetensors(os.path.join(d, m["weights"])))
    net.eval()
    with torch.no_grad():
        y = forward_out(net, torch.from_numpy(np.load(os.path.join(d, "x.npy"))))
    if not np.allclose(y.numpy(), np.load(os.path.join(d, "y.npy")), atol=1e-6, rtol=1e-6):
        errs.append("y.npy not reproducible")
    if not np.all(np.abs(np.load(os.path.join(d, "y.npy"))) < 1e3):
        errs.append("large outputs")
    return errs


def replay_golden(gdir):
    """Reproduce the golden cases with this interpreter (y, after-weights, loss)."""
    bad = 0
    for n in sorted(os.listdir(gdir)):
        d = os.path.join(gdir, n)
        if not os.path.isdir(d):
            continue
        m = json.load(open(os.path.join(d, "model.json")))
        net = Net(m)
        load_params(net, load_safetensors(os.path.join(d, m["weights"])))
        net.eval()
        with torch.no_grad():
            y = forward_out(net, torch.from_numpy(np.load(os.path.join(d, "x.npy")))).numpy()
        msg = ["y err %.1e" % np.abs(y - np.load(os.path.join(d, "y.npy"))).max()]
        ok = np.allclose(y, np.load(os.path.join(d, "y.npy")), atol=1e-5, rtol=1e-4)
        if os.path.exists(os.path.join(d, "after.safetensors")):
            t = np.load(os.path.join(d, "train.npz"))
            net.train()
            opt = optimizer_of(net, m["train"]["optimizer"])
            yt = torch.from_numpy(t["y"])
            loss = loss_of(net, net(torch.from_numpy(t["x"])), yt, m["train"]["loss"])
            loss.backward()
            if m["train"].get("clip_grad_norm", 0):
                nn.utils.clip_grad_norm_(net.parameters(), m["train"]["clip_grad_norm"])
            opt.step()
            exp = load_safetensors(os.path.join(d, "after.safetensors"))
            got = {k: f32(v) for k, v in net.params().items()}
            werr = max(float(np.abs(got[k] - exp[k]).max()) for k in exp)
            lerr = abs(loss.item() - float(open(os.path.join(d, "loss.txt")).read()))
            ok = ok and werr < 1e-5 and lerr < 1e-5 and set(got) == set(exp)
            msg += ["after err %.1e" % werr, "loss err %.1e" % lerr]
        bad += not ok
        print("%-4s golden %s: %s" % ("ok" if ok else "FAIL", n, ", ".join(msg)))
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--only", help="comma list of case names")
    ap.add_argument("--check-golden", metavar="DIR",
                    help="first replay the golden cases in DIR with this interpreter")
    a = ap.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message="Using padding='same'")
    if a.check_golden and replay_golden(a.check_golden):
        sys.exit("golden replay failed")
    names = [c["name"] for c in CASES]
    assert len(set(names)) == len(names), "duplicate case names"
    only = set(a.only.split(",")) if a.only else None
    os.makedirs(a.out, exist_ok=True)
    failed = 0
    for c in CASES:
        if only and c["name"] not in only:
            continue
        assert NAME_RE.match(c["name"]), c["name"]
        info = make_case(c, a.out)
        d = os.path.join(a.out, c["name"])
        errs = check_case(d, c["name"])
        size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
        if size > 200_000:
            errs.append("folder is %d bytes" % size)
        kind = "steps" if c["steps"] else ("train" if c["loss"] else "infer")
        extra = ""
        if "loss" in info:
            extra = " loss %.4f |g| %.3f" % (info["loss"], info["gnorm"])
        if "losses" in info:
            extra = " losses %.4f -> %.4f" % (info["losses"][0], info["losses"][-1])
        print("%-4s %-22s %-5s %6.1f KB%s%s" % ("ok" if not errs else "FAIL", c["name"], kind, size / 1024, extra,
                                                 (" " + "; ".join(errs)) if errs else ""))
        failed += bool(errs)
    if failed:
        sys.exit("%d case(s) failed their checks" % failed)


if __name__ == "__main__":
    main()
