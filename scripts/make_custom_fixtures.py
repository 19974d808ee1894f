#!/usr/bin/env python3
"""Fixtures of the custom C operator tests (Tests/NNCCTests/Fixtures/custom, docs/custom-ops.md).

PyTorch runs each model with the built-in layer the C file re-implements (SiLU for ops/swish.c,
avg_pool1d(3, stride=1) for ops/moving_average.c); the model.json written for nncc then names
the C function instead. make_fixtures.py's case machinery writes the files (x.npy, y.npy,
train.npz, loss.txt, grads.safetensors, after.safetensors)."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "NNCCTests", "Fixtures", "custom")

CUSTOM = {
    "swish": dict(type="custom", source="../ops/swish.c", forward="swish", backward="swish_grad", shape="same"),
    "movavg": dict(type="custom", source="../ops/moving_average.c", forward="moving_average",
                   backward="moving_average_grad", shape=[4, 10]),
}
CASES = [
    # A dense layer then Swish: fused into the dense kernel at inference, its own kernel in training.
    dict(name="swish", shape=[11], layers=[mf.D(8, name="d1"), mf.A("silu", name="act"), mf.D(3, name="d2")],
         loss="cross_entropy", opt=mf.SGD, bs=4),
    dict(name="movavg", shape=[3, 12], layers=[mf.C1(4, 1, name="c"), mf.A("avgpool1d", name="act", pool_size=3, stride=1),
                                              mf.A("flatten"), mf.D(3, name="d")], loss="mse", opt=mf.SGD, bs=4),
]


def main():
    mf.torch.set_num_threads(1)
    for spec in CASES:
        c = dict(n_x=4, outputs=None, clip=0, steps=False, xscale=2.0, wscale=1.0, identity=(), plant=(), ids=0)
        c.update(spec)
        info = mf.make_case(c, OUT)
        path = os.path.join(OUT, c["name"], "model.json")
        model = json.load(open(path))
        model["layers"] = [dict(CUSTOM[c["name"]], name="act") if L.get("name") == "act" else L for L in model["layers"]]
        with open(path, "w") as f:
            json.dump(model, f, indent=1)
            f.write("\n")
        print("%-8s loss %.4f" % (c["name"], info["loss"]))


if __name__ == "__main__":
    main()
