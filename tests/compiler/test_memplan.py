"""Memory plan v2 (issue 7): the plan as JSON, the baselines, L3 streaming and the fit errors.

The training runs are on ``host`` (native, fast): the small CCT of codegen_helpers with an L2
budget small enough that weights and momentum land in L3, and one smaller still, where the
arena's activations and gradients spill to L3 too. Streaming on/off and spilling must not change
a single bit of the losses and trained parameters; the L1 size (32K, 64K, 128K, default) changes
the kernels' tiling, so results agree within the compiler's tolerances.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from codegen_helpers import LOSS_TOL, PARAM_TOL, small_cct
from compiler_helpers import err
from et.compiler.codegen import GenSpec, compile_model, generate
from et.compiler.ir import DoesNotFitError
from et.compiler.trainrun import run_training

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CCT = os.path.join(ROOT, "apps", "cct_lora", "model.onnx")
KIB = 1024
# the small CCT, full backprop (~180 kernel calls: an L2 reserve of 150-190 KiB for its code):
L2_SMALL = 210 * KIB     # ~26 KB of weights and momentum in L3
L2_SPILL = 204 * KIB     # ... and an L2 arena too small: activations and gradients spill to L3


@pytest.fixture(scope="module")
def cct(tmp_path_factory):
    return small_cct(str(tmp_path_factory.mktemp("cct")))


def _spec(cct, **kw) -> GenSpec:
    model, data = cct
    base = dict(model=model, data=data, strategy="all", lr=0.05, momentum=0.9, batch=1,
                steps=3, target="host", capacities={"L2": L2_SMALL}, dump="full")
    base.update(kw)
    return GenSpec(**base)


def test_memplan_json_schema(cct, tmp_path):
    spec = _spec(cct)
    generate(spec, str(tmp_path))
    mp = json.load(open(tmp_path / "memplan.json"))
    assert mp["version"] == 1 and mp["stream_l3"] is True
    b = mp["baselines"]
    assert b["planner"] <= b["naive_topological"] and b["planner"] <= b["no_reuse"]
    assert mp["arena"]["peak"] == b["planner"]
    levels = {t["level"] for t in mp["tensors"]}
    assert levels == {"L2", "L3"}
    for t in mp["tensors"]:
        assert {"name", "level", "offset", "size", "first", "last"} <= set(t)
        if t["level"] == "L2" and t["first"] >= 0:
            assert t["offset"] + t["size"] <= mp["arena"]["peak"]
    staged = [x for n in mp["nodes"] for x in n["transfers"]]
    assert staged and all(x["from"] in ("L2", "L3") for x in staged)
    assert sum(x["bytes"] for x in staged if x["from"] == "L3") + \
        mp["traffic_per_step"]["data"] == mp["traffic_per_step"]["l3_to_l2"]
    # the kernels never see an L3 tensor: every L3 tensor a kernel node touches is staged
    l3 = {t["name"] for t in mp["tensors"] if t["level"] == "L3"}
    for n in mp["nodes"]:
        if n.get("view"):
            continue
        touched = (set(n["inputs"]) | set(n["outputs"])) & l3
        assert touched <= set(n["staged"]), n["name"]
        assert {x["tensor"] for x in n["transfers"]} <= set(n["staged"]), n["name"]
    tot = mp["totals"]["L2"]
    assert tot["used"] <= tot["capacity"]
    # the kernels that do not tile themselves run on L1 tiles: every one has its tiling
    tiled = {n["op"] for n in mp["nodes"] if n.get("l1_tiles")}
    assert {"relu", "gelu", "add", "softmax", "layernorm", "sgd", "maxpool2d"} <= tiled, tiled
    for n in mp["nodes"]:
        t = n.get("l1_tiles")
        if t:
            assert t["tiles"] * t["tile_rows"] >= t["rows"] > (t["tiles"] - 1) * t["tile_rows"]
            assert t["l1_bytes"] <= mp["totals"]["L1"]["scratch"], n["name"]
    # GEMM/conv calls: the tiles their own planners pick for the scratch they get
    kt = [t for n in mp["nodes"] for t in n.get("kernel_tiles", [])]
    assert {t["kernel"] for t in kt} >= {"et_conv2d_fwd_f32", "et_linear_fwd_f32",
                                         "et_gemm_fwd_f32", "et_conv2d_bwd_igrad_f32"}
    for t in kt:
        assert t.get("mt", 0) > 0 or t.get("tc", 0) > 0, t
        assert t.get("l1_bytes", 0) <= mp["totals"]["L1"]["scratch"]
    modes = {n["l1"] for n in mp["nodes"]}
    assert modes <= {"view", "kernel tiles", "row tiles", "L2 direct"}
    direct = {n["op"] for n in mp["nodes"] if n["l1"] == "L2 direct"}
    assert direct <= {"transpose", "layernorm", "reduce_sum", "softmax_ce", "mse"}, direct


def test_planner_beats_baselines_on_cct():
    for strategy in ("last", "lora:r=4", "blocks:1"):
        g, plan, _ = compile_model(GenSpec(model=CCT, strategy=strategy, target="siracusa"),
                                   strict=False)
        assert plan.arena_peak <= plan.naive_peak <= plan.no_reuse, strategy
        assert plan.arena_peak < plan.no_reuse / 4


def test_does_not_fit_names_the_numbers(cct):
    with pytest.raises(DoesNotFitError) as e:
        compile_model(_spec(cct, capacities={"L2": 150 * KIB}))
    msg = str(e.value)
    assert "needs" in msg and "available" in msg and "at step" in msg and "reserve" in msg
    with pytest.raises(DoesNotFitError, match="of L3, 4096 available"):
        compile_model(_spec(cct, capacities={"L2": L2_SMALL, "L3": 4096}))


def test_stream_l3_option_checked(cct):
    from et.compiler.ir import CompileError
    with pytest.raises(CompileError, match="stream_l3"):
        compile_model(_spec(cct, stream_l3="maybe"))


def _run(spec):
    res = run_training(spec, "", timeout=300)
    dma = [line for line in open(res["log"]) if line.startswith("@dma")]
    return res["arrays"], dma


def test_bit_identical_streaming_and_l1_sizes(cct):
    """Streaming on/off, activations spilled to L3 and L1 32K/128K/default: the same bits
    (losses and parameters) whatever the copies; within tolerance across L1 sizes."""
    runs = {
        "stream": _spec(cct),
        "nostream": _spec(cct, stream_l3="off"),
        "spill": _spec(cct, capacities={"L2": L2_SPILL}),
        "untiled": _spec(cct, l1_tiling="off"),
        "l1_32K": _spec(cct, capacities={"L2": L2_SMALL, "L1": 32 * KIB}),
        "l1_128K": _spec(cct, capacities={"L2": L2_SMALL, "L1": 128 * KIB}),
    }
    out = {k: _run(s) for k, s in runs.items()}
    ref = out["stream"][0]
    for k, (arrays, _) in out.items():
        assert set(arrays) == set(ref)
        diff = [n for n in ref if not np.array_equal(arrays[n].view(np.uint32),
                                                     ref[n].view(np.uint32))]
        if k in ("nostream", "spill", "untiled"):   # same kernels, same L1: copies change no bit
            assert not diff, diff
            continue
        # another L1 size changes the kernels' tiling, hence the summation order: within the
        # compiler's tolerances (the kernels tile the reduction over k through L1)
        assert err(arrays["loss"], ref["loss"]) <= LOSS_TOL, k
        for n in ref:
            if n != "loss":
                assert err(arrays[n], ref[n]) <= PARAM_TOL, (k, n)
        print(f"{k}: {len(diff)} of {len(ref)} arrays differ in some bit from the default L1")
    # @dma records: one per step; with streaming the L3 -> L2 bytes are the plan's
    _, plan, _ = compile_model(runs["stream"])
    dma = out["stream"][1]
    assert len(dma) == runs["stream"].steps
    f = dict(kv.split("=") for kv in dma[-1].split()[1:])
    assert int(f["l3_l2"]) == plan.traffic["l3_to_l2"] == int(f["plan_l3_l2"])
    assert int(f["other"]) >= plan.traffic["l2_to_l3"] > 0
    f0 = dict(kv.split("=") for kv in out["nostream"][1][-1].split()[1:])
    assert int(f0["l3_l2"]) == plan.traffic["data"]
    # spilled activations and gradients: staged in and written back as planned
    _, plan, _ = compile_model(runs["spill"])
    assert plan.spilled and plan.l3_arena_peak > 0
    f = dict(kv.split("=") for kv in out["spill"][1][-1].split()[1:])
    assert int(f["l3_l2"]) == plan.traffic["l3_to_l2"] == int(f["plan_l3_l2"])
    assert int(f["other"]) >= plan.traffic["l2_to_l3"] > 0


def test_plan_all_strategies_table():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "edgetune.py"), "plan",
                        "--model", CCT, "--all-strategies"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    for s in ("last", "blocks:1", "blocks:2", "lora:r=4,blocks=1", "lora:r=4", "all"):
        assert s in r.stdout
    assert "LoRA / full backprop" in r.stdout and "naive" in r.stdout
