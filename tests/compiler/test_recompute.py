"""Recomputation (activation checkpointing, ``--recompute``, GenSpec ``recompute``): the
segments' saved activations are dropped after the forward pass and recomputed before their
backward pass. The results must be those without recomputation (the same kernels on the same
values), the plan must say what it costs (FLOP) and saves (bytes per level), ``auto`` must
recompute only when the plan without it does not fit or spills to L3, and the generated C must
run it (host, qemu).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from codegen_helpers import CCT2, check_against_reference, small_ae, small_cct
from compiler_helpers import compare_training, export
from et.compiler.codegen import GenSpec, compile_model
from et.compiler.ir import CompileError
from et.compiler.reference import Reference
from et.compiler.report import summarize, table
from et.compiler.training import Hyper, stats
from et.compiler.trainrun import run_training
from et.models import zoo



def _train(spec, steps=2):
    g, plan, _ = compile_model(spec)
    d = np.load(spec.data)
    ref = Reference(g)
    out = [ref.step(d["input"][2 * s:2 * s + 2], d["labels"][2 * s:2 * s + 2])
           for s in range(steps)]
    return g, plan, out, ref.state


@pytest.mark.parametrize("strategy", ["all", "lora:r=2", "blocks:1"])
def test_recomputation_changes_nothing_but_memory_and_flop(tmp_path, strategy):
    path, data = small_cct(str(tmp_path))
    base = dict(model=path, data=data, strategy=strategy, lr=0.05, momentum=0.9, batch=2)
    g0, p0, out0, st0 = _train(GenSpec(**base))
    for choice in ("blocks", "stem", "stem,blocks"):
        g, p, out, st = _train(GenSpec(**base, recompute=choice))
        info = g.meta["recompute"]
        assert [o["loss"] for o in out] == [o["loss"] for o in out0]
        for k in st0:
            assert np.array_equal(st[k], st0[k]), (choice, k)
        for name, grad in out0[-1]["grads"].items():
            assert np.array_equal(out[-1]["grads"][name], grad)
        f, f0 = stats(g), stats(g0)
        assert f["flop_recompute"] == info["flop"] and f["flop_bwd"] == f0["flop_bwd"] + info["flop"]
        assert f["flop_fwd"] == f0["flop_fwd"]
        recomputed = [n for n in g.nodes if n.attrs.get("recompute")]
        assert len(recomputed) == info["nodes"]
        assert all(n.phase == "bwd" and n.name.endswith("/recompute") for n in recomputed)
        # the stem saves nothing for the backward pass unless its parameters train
        assert info["nodes"] > 0 or (choice == "stem" and strategy != "all")
        # no backward call reads an activation the recomputed segments saved
        originals = {o for n in recomputed for o in n.outputs}
        assert not any(
            set(n.inputs) & {o.rsplit("/recompute", 1)[0] for o in originals}
            for n in g.nodes if n.phase == "bwd" and not n.attrs.get("recompute"))
        assert info["saved"]["l2_arena"] == p0.arena_peak - p.arena_peak
        if strategy == "all":
            assert p.arena_peak < p0.arena_peak


def test_recomputation_against_torch():
    """The authors' CCT, recomputing both blocks and the stem, against autograd."""
    torch.manual_seed(4)
    model = zoo.AuthorsCCT(16, 2, 2, 4, 8, 8, 2).eval()
    x = np.random.default_rng(5).standard_normal((3, 3, 8, 8)).astype(np.float32)
    y = np.array([0, 2, 1])
    proto = export(model, torch.zeros(1, 3, 8, 8))
    res = compare_training(model, proto, "all", x, y, steps=2, recompute="stem,blocks")
    assert res["loss"] <= 1e-5 and res["grad"] <= 2e-3 and res["param"] <= 1e-5, res


def test_auto_recomputes_only_when_the_plan_spills():
    """CCT-2 on Siracusa: full backprop spills activations to L3 without recomputation, so auto
    recomputes (the blocks: less L3 spill, less L2); LoRA fits in L2, so auto leaves it off."""
    rows = {r["strategy"]: r for r in summarize(CCT2, ["all", "lora:r=4"],
                                                 hyper=Hyper(momentum=0.9), recompute="auto")}
    full = rows["all"]["recompute"]
    assert full["choice"] == "blocks" and full["flop"] > 0
    assert full["saved"]["l3_arena"] > 0 and full["saved"]["l2_arena"] > 0
    assert rows["lora:r=4"]["recompute"]["choice"] == "off"
    text = table(list(rows.values()))
    assert "all: recompute auto -> blocks:" in text and "FLOP per step" in text
    assert "lora:r=4: recompute auto -> off" in text
    g, plan, _ = compile_model(GenSpec(model=CCT2, strategy="all", target="siracusa",
                                       momentum=0.9, recompute="auto"))
    assert plan.l3_arena_peak == rows["all"]["l3_arena"]


def test_recompute_needs_blocks(tmp_path):
    path, data = small_ae(str(tmp_path))
    with pytest.raises(CompileError, match="recompute 'blocks' needs a model with blocks"):
        compile_model(GenSpec(model=path, data=data, strategy="all", recompute="blocks"))
    with pytest.raises(CompileError, match="recompute 'often'"):
        compile_model(GenSpec(model=path, data=data, strategy="all", recompute="often"))
    g, _, _ = compile_model(GenSpec(model=path, data=data, strategy="all", recompute="auto"))
    assert g.meta["recompute"]["choice"] == "off"


@pytest.mark.parametrize("target", ["host", pytest.param("qemu", marks=pytest.mark.qemu)])
def test_recomputation_in_c(tmp_path, target):
    path, data = small_cct(str(tmp_path))
    runs = [("all", "stem,blocks")] + ([("lora:r=2", "blocks")] if target == "host" else [])
    for strategy, choice in runs:
        spec = GenSpec(model=path, data=data, strategy=strategy, lr=0.05, momentum=0.9, batch=2,
                       steps=2, grads=True, recompute=choice, target=target)
        res = run_training(spec, str(tmp_path / "out.npz"))
        check_against_reference(spec, res["arrays"])
        with open(res["log"]) as f:
            layers = {ln.split("layer=")[1].split()[0] for ln in f if ln.startswith("@perf")}
        assert any(name.endswith("/recompute") for name in layers)
