"""Helpers of the code-generator tests: small models, data sets, and the reference run to compare.

Tolerances (err as in compiler_helpers.err, relative to the tensor's largest magnitude):
loss 1e-5 relative per step; parameters after training 1e-5 (floor 1e-5); gradients of the last
step 1e-4 with a floor of 1e-3 times the step's largest gradient (rounding noise on gradients
that are zero in exact arithmetic). The C kernels use fast exp/erf (~3e-7) and another
summation order than numpy, so bit equality is not expected.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict

import numpy as np
import onnx
import torch

from compiler_helpers import err, export
from et.compiler.codegen import GenSpec, compile_model
from et.compiler.reference import Reference
from et.models.cct import CCT

LOSS_TOL, PARAM_TOL, GRAD_TOL = 1e-5, 1e-5, 1e-4
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build_train_app(spec: GenSpec, scons) -> str:
    """Build ``app=train`` for ``spec.target`` from ``spec`` (through ET_TRAIN_SPEC, as
    ``edgetune.py train`` does); returns the program's path. Fails the test on a build error."""
    spec_dir = os.path.join(ROOT, "build", "train_specs")
    os.makedirs(spec_dir, exist_ok=True)
    path = os.path.join(spec_dir, f"{spec.key()}.json")
    with open(path, "w") as f:
        json.dump({k: v for k, v in asdict(spec).items() if k != "capacities"}, f)
    os.environ["ET_TRAIN_SPEC"] = path
    try:
        p = scons(f"target={spec.target}", "app=train")
    finally:
        del os.environ["ET_TRAIN_SPEC"]
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    name = "train.elf" if spec.target != "host" else "train"
    return os.path.join(ROOT, "build", spec.target, "train", name)


CCT2 = os.path.join(ROOT, "apps", "cct_lora", "model.onnx")      # CCT-2 as the apps train it
CCT2_DATA = os.path.join(ROOT, "apps", "cct_lora", "data.npz")


def small_cct_model() -> CCT:
    """A CCT with shapes the apps do not use (12x12 RGB, channels 4/16, 2 blocks, 2 heads,
    5 classes), fixed-seed weights."""
    torch.manual_seed(3)
    return CCT(img=12, in_ch=3, channels=(4, 16), blocks=2, heads=2, mlp_ratio=2.0,
               classes=5).eval()


def small_cct(tmp: str) -> tuple[str, str]:
    """small_cct_model() exported (TorchScript) and a data set of 8 samples."""
    m = small_cct_model()
    path = os.path.join(tmp, "cct_small.onnx")
    onnx.save(export(m, torch.zeros(1, 3, 12, 12)), path)
    rng = np.random.default_rng(5)
    data = os.path.join(tmp, "cct_small.npz")
    np.savez(data, input=rng.standard_normal((8, 3, 12, 12)).astype(np.float32),
             labels=rng.integers(0, 5, 8).astype(np.int64))
    return path, data


def small_ae(tmp: str) -> tuple[str, str]:
    """An autoencoder 48-24-6-24-48 (ReLU), MSE."""
    torch.manual_seed(4)
    layers = []
    widths = (48, 24, 6, 24, 48)
    for i in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(torch.nn.ReLU())
    m = torch.nn.Sequential(*layers).eval()
    path = os.path.join(tmp, "ae_small.onnx")
    onnx.save(export(m, torch.zeros(1, 48)), path)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((6, 48)).astype(np.float32)
    data = os.path.join(tmp, "ae_small.npz")
    np.savez(data, input=x, target=x)
    return path, data


def reference_run(spec: GenSpec) -> dict:
    """The numpy reference of the same compiled graph on the same batches as the device."""
    g, _, _ = compile_model(spec)
    ref = Reference(g)
    d = np.load(spec.data)
    lab = "labels" if "labels" in d else "target"
    per = spec.batch * spec.accumulate       # samples per step
    n = min(d["input"].shape[0], spec.samples or per * spec.steps)
    losses, grads = [], {}
    for s in range(spec.steps):
        idx = [(s * per + j) % n for j in range(per)]
        r = ref.step(d["input"][idx], d[lab][idx])
        losses.append(r["loss"])
        grads = r["grads"]
    updated = list(g.meta["trainable"]) + list(g.meta.get("buffers", []))
    return {"loss": losses, "grads": grads, "params": {p: ref.state[p] for p in updated},
            "trainable": updated}


def check_against_reference(spec: GenSpec, arrays: dict, exactly_zero=()) -> dict:
    """Assert loss, every trained parameter and (if present) every gradient; returns the errors.
    ``exactly_zero``: tensors whose gradient is zero in exact arithmetic (the bias of a layer
    followed by a BatchNorm with batch statistics) are rounding noise on both sides, held to
    |grad| <= 1e-5 of the step's largest gradient instead."""
    ref = reference_run(spec)
    errs = {"loss": max(abs(a - b) / max(abs(b), 1e-6) for a, b in zip(arrays["loss"], ref["loss"]))}
    assert len(arrays["loss"]) == spec.steps
    assert errs["loss"] <= LOSS_TOL, (arrays["loss"], ref["loss"])
    gmax = max(float(np.abs(v).max()) for v in ref["grads"].values())
    for p in ref["trainable"]:
        e = err(arrays[p], ref["params"][p])
        assert e <= PARAM_TOL, (p, e)
        errs[p] = e
        if p + "_grad" in arrays and p in exactly_zero:
            assert max(np.abs(arrays[p + "_grad"]).max(), np.abs(ref["grads"][p]).max()) \
                <= 1e-5 * gmax, p + "_grad"
        elif p + "_grad" in arrays:
            e = err(arrays[p + "_grad"], ref["grads"][p], floor=1e-3 * gmax)
            assert e <= GRAD_TOL, (p + "_grad", e)
            errs[p + "_grad"] = e
    return errs


def assert_runs_in_c(tmp_dir, model, example, x, y, loss="ce", target="host", name="model",
                     timeout=600, batchnorm="export", batch=2, strategy="all",
                     exactly_zero=(), **spec_kw) -> dict:
    """Export ``model`` (TorchScript), train it 2 steps of ``batch`` on ``target`` with the
    generated program and check loss, parameters (and BatchNorm's running statistics) and
    gradients against the reference; returns run_training's result (``arrays``: the tensors
    OUT.npz holds, ``modules``: its ``_modules``); OUT.npz is ``<name>_out.npz`` in tmp_dir.
    ``spec_kw``: further GenSpec fields (capacities, l1_tiling, ...)."""
    from et.compiler.trainrun import run_training

    path = os.path.join(str(tmp_dir), f"{name}.onnx")
    onnx.save(export(model, example), path)
    data = os.path.join(str(tmp_dir), f"{name}.npz")
    np.savez(data, input=x, **({"labels": y} if loss == "ce" else {"target": y}))
    spec = GenSpec(model=path, data=data, strategy=strategy, lr=0.05, momentum=0.9,
                   batch=batch, steps=2, target=target, grads=True, batchnorm=batchnorm,
                   **spec_kw)
    res = run_training(spec, os.path.join(str(tmp_dir), f"{name}_out.npz"), timeout=timeout)
    check_against_reference(spec, res["arrays"], exactly_zero)
    return res
