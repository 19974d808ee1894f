#!/usr/bin/env python3
"""Golden learning rates of torch.optim.lr_scheduler for nncc's lr_schedule
(Tests/NNCCTests/LRScheduleTests.swift). Each case names nncc's schedule (as the
JSON of train.lr_schedule), the base lr, epochs and steps per epoch, and lists
the lr PyTorch gives every optimizer step. Epoch schedules step once per epoch,
cosine and one_cycle once per optimizer step, reduce_on_plateau on a made-up
validation-loss curve (also in the case).

    python3 scripts/make_lr_schedules.py   # writes Tests/NNCCTests/Fixtures/schedules/lr_schedules.json
"""
import json
import math
import os

import torch
from torch.optim import lr_scheduler as S

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "NNCCTests", "Fixtures", "schedules", "lr_schedules.json")


def optimizer(lr):
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr, momentum=0.9)


def lr_of(opt):
    return opt.param_groups[0]["lr"]


def per_epoch(name, schedule, make, lr, epochs, steps):
    opt = optimizer(lr)
    sched = make(opt)
    lrs = []
    for _ in range(epochs):
        for _ in range(steps):
            lrs.append(lr_of(opt))
            opt.step()
        sched.step()
    return dict(name=name, schedule=schedule, lr=lr, epochs=epochs, steps_per_epoch=steps, lrs=lrs)


def per_step(name, schedule, make, lr, epochs, steps):
    opt = optimizer(lr)
    sched = make(opt, epochs * steps)
    lrs = []
    for _ in range(epochs * steps):
        lrs.append(lr_of(opt))
        opt.step()
        if len(lrs) < epochs * steps:  # OneCycleLR refuses to step past its last step
            sched.step()
    return dict(name=name, schedule=schedule, lr=lr, epochs=epochs, steps_per_epoch=steps, lrs=lrs)


def cosine_with_warmup(warmup, start, eta_min):
    def make(opt, total):
        cos = S.CosineAnnealingLR(opt, T_max=total - warmup, eta_min=eta_min)
        if warmup == 0:
            return cos
        lin = S.LinearLR(opt, start_factor=start, end_factor=1.0, total_iters=warmup)
        return S.SequentialLR(opt, [lin, cos], milestones=[warmup])
    return make


def plateau(name, schedule, kwargs, lr, losses, steps):
    opt = optimizer(lr)
    sched = S.ReduceLROnPlateau(opt, mode="min", **kwargs)
    lrs = []
    for loss in losses:
        for _ in range(steps):
            lrs.append(lr_of(opt))
            opt.step()
        sched.step(loss)
    return dict(name=name, schedule=schedule, lr=lr, epochs=len(losses), steps_per_epoch=steps, lrs=lrs, val_losses=losses)


def main():
    cases = [
        per_epoch("step", {"type": "step", "step_size": 3, "gamma": 0.5},
                  lambda o: S.StepLR(o, step_size=3, gamma=0.5), 0.1, 10, 2),
        per_epoch("step_default_gamma", {"type": "step", "step_size": 2},
                  lambda o: S.StepLR(o, step_size=2), 0.01, 7, 1),
        per_epoch("multi_step", {"type": "multi_step", "milestones": [2, 5, 5, 8], "gamma": 0.3},
                  lambda o: S.MultiStepLR(o, milestones=[2, 5, 5, 8], gamma=0.3), 0.05, 10, 3),
        per_epoch("exponential", {"type": "exponential", "gamma": 0.9},
                  lambda o: S.ExponentialLR(o, gamma=0.9), 1e-3, 12, 2),
        per_step("cosine", {"type": "cosine"}, cosine_with_warmup(0, 0.01, 0.0), 0.1, 5, 7),
        per_step("cosine_warmup", {"type": "cosine", "warmup_steps": 10, "warmup_start_factor": 0.1, "eta_min": 1e-4},
                 cosine_with_warmup(10, 0.1, 1e-4), 0.1, 6, 9),
        per_step("one_cycle", {"type": "one_cycle", "max_lr": 0.2},
                 lambda o, t: S.OneCycleLR(o, max_lr=0.2, total_steps=t, cycle_momentum=False), 0.01, 4, 25),
        per_step("one_cycle_linear_three_phase",
                 {"type": "one_cycle", "pct_start": 0.25, "anneal_strategy": "linear", "three_phase": True,
                  "div_factor": 10, "final_div_factor": 100},
                 lambda o, t: S.OneCycleLR(o, max_lr=0.05, total_steps=t, pct_start=0.25, anneal_strategy="linear",
                                           three_phase=True, div_factor=10, final_div_factor=100, cycle_momentum=False),
                 0.05, 3, 17),
        plateau("reduce_on_plateau", {"type": "reduce_on_plateau", "patience": 2, "factor": 0.5, "cooldown": 1},
                dict(patience=2, factor=0.5, cooldown=1), 0.1,
                [1.0, 0.9, 0.95, 0.92, 0.91, 0.9, 0.85, 0.86, 0.87, 0.88, 0.89, 0.9, 0.84, 0.99, 0.99, 0.99], 2),
        plateau("reduce_on_plateau_abs", {"type": "reduce_on_plateau", "patience": 0, "threshold": 0.05,
                                          "threshold_mode": "abs", "min_lr": 0.004},
                dict(patience=0, threshold=0.05, threshold_mode="abs", min_lr=0.004), 0.1,
                [1.0, 0.97, 0.9, 0.88, 0.8, 0.79, 0.7, 0.69, 0.68, 0.67], 1),
    ]
    for c in cases:
        assert all(math.isfinite(v) for v in c["lrs"])
    with open(OUT, "w") as f:
        json.dump({"torch": torch.__version__, "cases": cases}, f, indent=1)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
