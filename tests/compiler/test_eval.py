"""Held-out evaluation on the device (GenSpec eval / eval_every, @eval records) vs the numpy reference.

The generated program evaluates the data set's eval_input before the first step, every
eval_every steps and after the last, forward only, and never trains on it. Here the reference
(et.compiler.reference: the same graph in numpy) trains on the same batches and evaluates at the
same steps: the accuracy must be the same count and the loss equal within float32 rounding.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from codegen_helpers import small_ae, small_cct
from et.compiler.codegen import GenSpec, compile_model, load_data
from et.compiler.ir import CompileError
from et.compiler.reference import Reference
from et.compiler.trainrun import eval_steps, run_training

EVAL_LOSS_TOL = 1e-5     # relative: float32 forward passes in another summation order


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("eval"))
    out = {}
    for name, (model, data) in {"cct": small_cct(tmp), "ae": small_ae(tmp)}.items():
        d = dict(np.load(data))
        rng = np.random.default_rng(11)
        # 5 held-out samples: with batch 2 the last forward pass holds one new sample
        ex = rng.standard_normal((5,) + d["input"].shape[1:]).astype(np.float32)
        if "labels" in d:
            extra = {"eval_input": ex, "eval_labels": rng.integers(0, 5, 5).astype(np.int64)}
        else:
            extra = {"eval_input": ex, "eval_target": ex}
        path = os.path.join(tmp, f"{name}_eval.npz")
        np.savez(path, **d, **extra)
        out[name] = (model, path)
    return out


def reference_evals(spec: GenSpec) -> list[dict]:
    """The reference trained on the device's batches, evaluated after the same steps."""
    g, _, _ = compile_model(spec)
    ref = Reference(g)
    data = load_data(spec, g, g.meta["loss"])
    when = eval_steps(spec.steps, spec.eval_every)
    per = spec.batch * spec.accumulate
    res = [dict(ref.evaluate(data["ex"], data["ey"]), step=0)]
    for s in range(1, spec.steps + 1):
        idx = [((s - 1) * per + j) % data["n"] for j in range(per)]
        ref.step(data["x"][idx], data["y"][idx])
        if s in when:
            res.append(dict(ref.evaluate(data["ex"], data["ey"]), step=s))
    return res


def check_evals(spec: GenSpec, res: dict) -> None:
    want = reference_evals(spec)
    got = res["eval"]
    assert [e["step"] for e in got] == [w["step"] for w in want]
    for e, w in zip(got, want):
        assert e["n"] == w["n"]
        assert abs(e["loss"] - w["loss"]) <= EVAL_LOSS_TOL * max(abs(w["loss"]), 1e-6), (e, w)
        if "correct" in w:
            assert e["correct"] == w["correct"], (e, w)
    arrays = res["arrays"]
    np.testing.assert_array_equal(arrays["eval_step"], [w["step"] for w in want])
    if "correct" in want[0]:
        np.testing.assert_allclose(arrays["eval_accuracy"], [w["correct"] / w["n"] for w in want])


@pytest.mark.parametrize("model,strategy,every", [("cct", "lora:r=2", 1), ("cct", "last", 0),
                                                  ("ae", "all", 2)])
def test_host_eval_matches_reference(models, model, strategy, every):
    path, data = models[model]
    spec = GenSpec(model=path, data=data, strategy=strategy, lr=0.05, momentum=0.9, batch=2,
                   steps=3, target="host", eval_every=every)
    res = run_training(spec, "")
    check_evals(spec, res)


def test_eval_count_and_off(models):
    """eval N takes the first N held-out samples; eval 0 runs none (no @eval record)."""
    path, data = models["cct"]
    spec = GenSpec(model=path, data=data, strategy="last", lr=0.05, batch=2, steps=1,
                   target="host", eval=3)
    res = run_training(spec, "")
    assert [e["n"] for e in res["eval"]] == [3, 3]
    check_evals(spec, res)
    res = run_training(GenSpec(model=path, data=data, strategy="last", lr=0.05, batch=2, steps=1,
                               target="host", eval=0), "")
    assert res["eval"] == [] and "eval_step" not in res["arrays"]


@pytest.mark.qemu
def test_qemu_eval_matches_reference(models):
    """On the board (8 harts, L3 streaming of the eval inputs): the same counts as numpy."""
    path, data = models["cct"]
    spec = GenSpec(model=path, data=data, strategy="lora:r=2", lr=0.05, momentum=0.9, batch=2,
                   steps=2, target="qemu", eval_every=1)
    res = run_training(spec, "", timeout=300)
    check_evals(spec, res)


@pytest.mark.parametrize("change,message", [
    (lambda d: d.pop("eval_labels"), "has no 'eval_labels' array"),
    (lambda d: d.update(eval_input=d["eval_input"][:, :1]), "data set eval_input"),
    (lambda d: d.update(eval_labels=d["eval_labels"].astype(np.float32)), "eval_labels: dtype"),
    (lambda d: d.update(eval_labels=d["eval_labels"] + 9), "eval_labels: values"),
    (lambda d: d.update(eval_input=d["eval_input"].astype(np.uint8)), "eval_input: dtype uint8"),
])
def test_bad_held_out_set_is_named(models, tmp_path, change, message):
    path, data = models["cct"]
    d = dict(np.load(data))
    change(d)
    bad = str(tmp_path / "bad.npz")
    np.savez(bad, **d)
    with pytest.raises(CompileError, match=message):
        run_training(GenSpec(model=path, data=bad, strategy="last", target="host"), "")


@pytest.mark.parametrize("field,value,message", [("eval", -2, "eval -2"),
                                                 ("eval_every", -1, "eval_every -1"),
                                                 ("eval", 4, "has no 'eval_input'")])
def test_bad_eval_settings_are_named(models, field, value, message):
    path, _ = models["cct"]
    _, plain = small_cct_data(models)
    with pytest.raises(CompileError, match=message):
        run_training(GenSpec(model=path, data=plain, strategy="last", target="host",
                             **{field: value}), "")


def small_cct_data(models) -> tuple[str, str]:
    """The cct model and a copy of its data set without the held-out arrays."""
    path, data = models["cct"]
    d = dict(np.load(data))
    plain = data.replace("_eval.npz", "_plain.npz")
    np.savez(plain, input=d["input"], labels=d["labels"])
    return path, plain
