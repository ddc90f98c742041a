"""The full-size apps (their model.onnx, data.npz and train.json) trained for 10 steps on qemu
against the numpy reference (reference.py) of the same compiled graph.

Each case builds ``app=train`` for qemu from the app's settings with ``steps=10``, no profiling
(``profile_steps=""``), and runs the ELF with ``QemuBoard.run_elf`` (loaded with -kernel: no
serial upload). Checked:
- the loss of every step: relative error <= LOSS_TOL (1e-4);
- small trained sets (cct_lora: 9,482 values, cct_lastlayer: 1,290) dumped in full (@tensor):
  every value within PARAM_TOL (1e-5) of the tensor's largest magnitude (err in compiler_helpers);
- large trained sets (cct_finetune blocks:2: 200,843 values, deep_ae all: 265,864) as @tsum
  checksums computed on the device: the change of the sum and of the sum of squares over
  training (device minus the initial value, against reference minus the initial value) within
  DELTA_TOL (1e-3) of sum|p - p0| and sum|p^2 - p0^2| respectively, and the sampled elements
  within PARAM_TOL of the tensor's largest magnitude. Comparing the change (not the raw sums)
  keeps the check sensitive to the update itself, which is small next to the weights.
"""
from __future__ import annotations

import time

import numpy as np
import pytest

from codegen_helpers import build_train_app, reference_run
from compiler_helpers import err
from et.compiler.appbuild import app_spec
from et.compiler.codegen import compile_model
from et.compiler.trainrun import parse_log
from et.qemu import QemuBoard

LOSS_TOL, PARAM_TOL, DELTA_TOL = 1e-4, 1e-5, 1e-3
STEPS = 10


def build_and_run(spec, scons, raw: bool = False):
    """Build app=train for qemu from ``spec``, run it; the parsed log (raw: the console lines)."""
    res = QemuBoard(timeout=300, echo=False).run_elf(build_train_app(spec, scons))
    assert res.exit_code == 0 and not res.timed_out, "\n".join(res.lines[-20:])
    log = parse_log(res.lines)
    assert log["done"] == 0
    if raw:
        return res.lines
    assert not any(line.startswith("@perf") for line in res.lines)   # profile_steps=""
    return log


@pytest.mark.qemu
@pytest.mark.parametrize("app,dump", [("cct_lora", "full"), ("cct_lastlayer", "full"),
                                      ("cct_finetune", "sums"), ("deep_ae", "sums")])
def test_app_10_steps_on_qemu(app, dump, scons):
    t0 = time.monotonic()
    spec = app_spec(app, steps=STEPS, target="qemu", profile_steps="", dump=dump)
    log = build_and_run(spec, scons)
    ref = reference_run(spec)
    g, _, _ = compile_model(spec)
    assert len(log["loss"]) == STEPS
    lerr = max(abs(a - b) / max(abs(b), 1e-6) for a, b in zip(log["loss"], ref["loss"]))
    assert lerr <= LOSS_TOL, (log["loss"], ref["loss"])
    worst = {"loss": lerr, "param": 0.0, "dsum": 0.0, "dsumsq": 0.0}
    for p in ref["trainable"]:
        r = np.asarray(ref["params"][p], np.float64).ravel()
        if dump == "full":
            e = err(log["tensors"][p], r)
            assert e <= PARAM_TOL, (p, e)
            worst["param"] = max(worst["param"], e)
            continue
        s = log["sums"][p]
        p0 = np.asarray(g[p].data, np.float64).ravel()
        assert s["n"] == r.size
        e = err(s["vals"], r[s["at"]], floor=max(float(np.abs(r).max()), 1e-5))
        assert e <= PARAM_TOL, (p, "sampled", e)
        d_sum = abs((s["sum"] - p0.sum()) - (r.sum() - p0.sum())) / max(np.abs(r - p0).sum(), 1e-12)
        d_sq = abs((s["sumsq"] - (p0 * p0).sum()) - ((r * r).sum() - (p0 * p0).sum())) \
            / max(np.abs(r * r - p0 * p0).sum(), 1e-12)
        assert d_sum <= DELTA_TOL and d_sq <= DELTA_TOL, (p, d_sum, d_sq)
        worst.update(param=max(worst["param"], e), dsum=max(worst["dsum"], d_sum),
                     dsumsq=max(worst["dsumsq"], d_sq))
    print(f"{app}: loss {log['loss'][0]:.6g} -> {log['loss'][-1]:.6g}; worst {worst}; "
          f"{time.monotonic() - t0:.1f} s")


# One step on qemu with the gradients dumped (full tensors), and the strategies the apps do not
# use by default: checked against the reference like the host tests (check_against_reference).
@pytest.mark.qemu
@pytest.mark.parametrize("app,over", [
    ("cct_lora", {"grads": True, "steps": 1, "dump": "full"}),
    ("cct_lastlayer", {"grads": True, "steps": 1, "dump": "full"}),
    ("cct_lastlayer", {"strategy": "attention_pool.weight,attention_pool.bias,fc.weight,fc.bias",
                       "grads": True, "steps": 2, "dump": "full"}),
], ids=["lora-grads", "last-grads", "names-list"])
def test_app_gradients_and_strategies_on_qemu(app, over, scons):
    from codegen_helpers import check_against_reference

    spec = app_spec(app, target="qemu", profile_steps="", **over)
    log = build_and_run(spec, scons)
    g, _, _ = compile_model(spec)
    arrays = {"loss": log["loss"]}
    for p in g.meta["trainable"]:
        arrays[p] = np.asarray(log["tensors"][p]).reshape(g[p].shape)
        if spec.grads:
            arrays[p + "_grad"] = np.asarray(log["tensors"][p + "_grad"]).reshape(g[p].shape)
    errs = check_against_reference(spec, arrays)
    assert any(k.endswith("_grad") for k in errs) == spec.grads
    print(f"{app} {spec.strategy}: worst {max(errs.items(), key=lambda kv: kv[1])}")


@pytest.mark.qemu
@pytest.mark.parametrize("strategy,lr", [("blocks:1", 0.01), ("all", 0.005)])
def test_large_strategies_on_qemu_checksums(strategy, lr, scons):
    """blocks:1 (101,259 trained values) and full backprop (284,491; its L2 arena does not fit:
    activations spill to the L3 arena) for 2 steps: loss per step, @tsum checksums, and the
    @dma bytes of the step are the plan's."""
    spec = app_spec("cct_lora", strategy=strategy, lr=lr, steps=2, target="qemu",
                    profile_steps="", dump="sums")
    lines = build_and_run(spec, scons, raw=True)
    log = parse_log(lines)
    ref = reference_run(spec)
    _, plan, _ = compile_model(spec)
    assert bool(plan.spilled) == (strategy == "all")
    assert len(log["loss"]) == 2
    for a, b in zip(log["loss"], ref["loss"]):
        assert abs(a - b) / max(abs(b), 1e-6) <= LOSS_TOL, (log["loss"], ref["loss"])
    for p in ref["trainable"]:
        r = np.asarray(ref["params"][p], np.float64).ravel()
        s = log["sums"][p]
        assert s["n"] == r.size
        assert err(s["vals"], r[s["at"]], floor=max(float(np.abs(r).max()), 1e-5)) <= PARAM_TOL, p
    dma = [dict(kv.split("=") for kv in ln.split()[1:]) for ln in lines if ln.startswith("@dma")]
    assert len(dma) == 2
    assert int(dma[-1]["l3_l2"]) == int(dma[-1]["plan_l3_l2"]) == plan.traffic["l3_to_l2"]
    assert int(dma[-1]["other"]) >= plan.traffic["l2_to_l3"]


@pytest.mark.qemu
def test_profiled_step_flop_and_dma_are_the_plans(scons):
    """deep_ae (full backprop, weights and momentum streamed from L3, SGD updates in 16 KiB
    chunks), one profiled step: the @perf FLOP per phase add up to the compiler's count (each
    chunk of a streamed update carries its share) and the @dma bytes are the plan's."""
    from et.compiler.training import stats
    from et.devlog import parse_line

    spec = app_spec("deep_ae", steps=1, target="qemu", profile_steps="1", dump="sums")
    lines = build_and_run(spec, scons, raw=True)
    g, plan, _ = compile_model(spec)
    st = stats(g)
    flop = {"fwd": 0, "bwd": 0, "update": 0}
    for rec in filter(None, (parse_line(ln) for ln in lines)):
        if rec.type == "perf" and "flop" in rec.fields:
            flop[rec["phase"]] += rec.int("flop")
    assert flop == {"fwd": st["flop_fwd"], "bwd": st["flop_bwd"], "update": st["flop_update"]}
    (dma,) = [dict(kv.split("=") for kv in ln.split()[1:]) for ln in lines if ln.startswith("@dma")]
    assert int(dma["l3_l2"]) == int(dma["plan_l3_l2"]) == plan.traffic["l3_to_l2"] > 0
