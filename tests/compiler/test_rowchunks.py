"""Row chunks (issue 14): a row-separable node whose L3 operands would take more than an eighth
of the L2 arena streams them through L2 in chunks of rows (copy in, run, write back, chunk after
chunk), so no such call needs its whole operand in L2.

The planner chunks only when the plan without row chunks does not fit or spills to L3, and only
if chunks make it fit or spill less (a chunked node loses the prefetch overlap and the reuse of
the node before's copy). MobileNet (the test's small MLPerf Tiny stack, depthwise separable
convolutions) at batch 4 with an L2 too small for it without row chunks: the plan chunks the
spilled ReLUs forward and backward, and the generated program, with and without the L1 row tiles inside each chunk,
matches the numpy reference on host and on qemu's 8 harts.

The kernels that tile themselves through L1 (conv2d, the GEMMs of linear and matmul, permute,
layernorm's weight gradient) chunk the same way by their leading items (images, matrix rows,
batch items); the operands they need whole (weights) are staged once, and the gradients of the
weights, sums over the items, add chunk after chunk. A small CCT at batch 4 with an L2 that
fits only with chunks trains like the reference (full backprop and LoRA, whose adapters run on
the plain GEMM)."""
from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
import torch

from codegen_helpers import assert_runs_in_c
from compiler_helpers import export
from et.compiler import memory
from et.compiler.codegen import GenSpec, compile_model
from et.compiler.memory import ROW_CHUNK, ArenaPlanner, row_chunking
from et.models.cct import CCT
from test_edge_cnns import _model

KIB = 1024
L2 = 240 * KIB   # too small for the batch of 4 without row chunks


def _spec(tmp_path, target="host", l2=L2, **kw) -> GenSpec:
    model, x, y = _model("mobilenet")
    path, data = str(tmp_path / "m.onnx"), str(tmp_path / "m.npz")
    onnx.save(export(model, torch.zeros((1,) + x.shape[1:])), path)
    np.savez(data, input=np.concatenate([x, x[:1]]), labels=np.concatenate([y, y[:1]]))
    return GenSpec(model=path, data=data, strategy="all", lr=0.05, momentum=0.9, batch=4,
                   steps=2, target=target, capacities={"L2": l2}, **kw)


def test_plan_streams_large_row_nodes_in_chunks(tmp_path, monkeypatch):
    g, plan, tgt = compile_model(_spec(tmp_path))
    assert plan.spilled
    stage_max, chunk = row_chunking(L2 - plan.l2_reserve - ArenaPlanner._pinned(g))
    assert chunk <= ROW_CHUNK
    rows = [e for e in plan.stream_nodes if e["chunk"] and g.nodes[e["node"]].op != "sgd"]
    assert {(g.nodes[e["node"]].op, g.nodes[e["node"]].phase) for e in rows} >= {
        ("relu", "fwd"), ("relu", "bwd")}
    for e in rows:
        assert 0 < e["chunk"] < e["rows"]
        split = [t for t in e["tensors"] if t["row_bytes"]]
        assert sum(t["size"] for t in split) > stage_max
        for t in split:
            # a chunk of rows per staging buffer, the rows make up the tensor
            assert t["stage_bytes"] == e["chunk"] * t["row_bytes"] <= max(chunk, t["row_bytes"])
            assert e["rows"] * t["row_bytes"] == t["size"]
        for t in e["tensors"]:
            if not t["row_bytes"]:     # an operand the call needs whole (weights): staged whole
                assert t["stage_bytes"] == t["size"]
    # nodes that stage little stay whole (and are prefetched as before)
    assert any(not e["chunk"] for e in plan.stream_nodes)
    # the planner chunks only because the plan without row chunks (same graph, same L2
    # reserve) does not fit (it would have to move the samples to L3) or spills more
    monkeypatch.setattr(memory, "row_chunking", lambda limit: (0, 0))
    whole = ArenaPlanner(l2_reserve=plan.l2_reserve).plan(g, tgt, strict=False)
    assert plan.placements[g.inputs[0]].level == "L2"
    assert whole.error or whole.l3_arena_peak > plan.l3_arena_peak or \
        whole.placements[g.inputs[0]].level == "L3"
    assert not [e for e in whole.stream_nodes if e["chunk"] and g.nodes[e["node"]].op != "sgd"]


@pytest.mark.parametrize("target,tiling", [("host", "on"), ("host", "off"),
                                           pytest.param("qemu", "on", marks=pytest.mark.qemu),
                                           pytest.param("siracusa", "on",
                                                        marks=pytest.mark.gvsoc)])
def test_row_chunks_train_like_the_reference(tmp_path, target, tiling):
    """On siracusa in GVSoC's Siracusa model, L3 in HyperRAM (skipped without GVSoC)."""
    if target == "siracusa":
        from gvsoc_util import require_gvsoc
        require_gvsoc()
    model, x, y = _model("mobilenet")
    x4, y4 = np.concatenate([x, x[:1]]), np.concatenate([y, y[:1]])
    spec = _spec(tmp_path, l1_tiling=tiling, target=target)
    g, plan, _ = compile_model(spec)
    assert any(e["chunk"] and g.nodes[e["node"]].op == "relu" for e in plan.stream_nodes)
    assert_runs_in_c(tmp_path, model, torch.zeros((1,) + x.shape[1:]), x4, y4, target=target,
                     name="mobilenet", batch=4, timeout=1200, capacities={"L2": L2},
                     l1_tiling=tiling)
    assert os.path.exists(tmp_path / "mobilenet_out.npz")


L2_TINY = 176 * KIB   # no room for the batch input in L2 even with chunks


@pytest.mark.parametrize("target", ["host", pytest.param("qemu", marks=pytest.mark.qemu),
                                    pytest.param("siracusa", marks=pytest.mark.gvsoc)])
def test_samples_move_to_l3_when_l2_has_no_room(tmp_path, target):
    """The plan pins the batch input in L2 unless that cannot fit: then the samples live in L3
    (copied there from the data set through L2), the first layers stream them, the labels and
    the loss stay in L2; the program trains like the reference."""
    if target == "siracusa":
        from gvsoc_util import require_gvsoc
        require_gvsoc()
    g, plan, _ = compile_model(_spec(tmp_path, l2=L2_TINY))
    assert plan.placements[g.inputs[0]].level == "L3"
    assert plan.placements[g.inputs[1]].level == plan.placements["loss"].level == "L2"
    assert any(t["tensor"] == g.inputs[0] for e in plan.stream_nodes for t in e["tensors"])
    g, roomy, _ = compile_model(_spec(tmp_path))
    assert roomy.placements[g.inputs[0]].level == "L2"
    model, x, y = _model("mobilenet")
    x4, y4 = np.concatenate([x, x[:1]]), np.concatenate([y, y[:1]])
    assert_runs_in_c(tmp_path, model, torch.zeros((1,) + x.shape[1:]), x4, y4, target=target,
                     name="mobilenet", batch=4, timeout=1200, capacities={"L2": L2_TINY})


# --- chunks of items: the kernels that tile themselves ------------------------------------------
CCT_L2 = {"all": 384 * KIB, "lora:r=2": 320 * KIB}   # fits only with chunks
SELF_TILING = {("conv2d", ""), ("conv2d", "igrad"), ("conv2d", "wgrad"), ("linear", ""),
               ("linear", "igrad"), ("linear", "wgrad"), ("matmul", ""), ("matmul", "igrad"),
               ("transpose", ""), ("layernorm", "wgrad")}


def _cct():
    torch.manual_seed(0)
    model = CCT(img=32, channels=(16, 64), blocks=1, heads=2, classes=4).eval()
    rng = np.random.default_rng(3)
    return model, rng.standard_normal((4, 3, 32, 32)).astype(np.float32), rng.integers(0, 4, 4)


def _cct_spec(tmp_path, strategy, target="host") -> GenSpec:
    model, x, y = _cct()
    path, data = str(tmp_path / "cct.onnx"), str(tmp_path / "cct.npz")
    onnx.save(export(model, torch.zeros((1,) + x.shape[1:])), path)
    np.savez(data, input=x, labels=y)
    return GenSpec(model=path, data=data, strategy=strategy, batch=4, target=target,
                   capacities={"L2": CCT_L2[strategy]})


@pytest.mark.parametrize("strategy", sorted(CCT_L2))
def test_plan_chunks_the_kernels_that_tile_themselves(tmp_path, monkeypatch, strategy):
    g, plan, _ = compile_model(_cct_spec(tmp_path, strategy))
    chunked = [e for e in plan.stream_nodes if e["chunk"]]
    kinds = {(g.nodes[e["node"]].op, g.nodes[e["node"]].variant) for e in chunked}
    want = SELF_TILING if strategy == "all" else {
        k for k in SELF_TILING if k[0] not in ("conv2d",) and k != ("layernorm", "wgrad")}
    assert kinds >= want, want - kinds
    whole = 0
    for e in chunked:
        assert 0 < e["chunk"] <= e["rows"]
        for t in e["tensors"]:
            if t["row_bytes"]:     # a chunk of items per staging buffer
                assert t["stage_bytes"] == min(t["size"], e["chunk"] * t["row_bytes"])
                assert e["rows"] * t["row_bytes"] == t["size"]
            else:                  # an operand the kernel needs whole: staged once, whole
                whole += 1
                assert t["stage_bytes"] == t["size"]
    assert whole
    # only because the plan without chunks does not fit
    monkeypatch.setattr(memory, "row_chunking", lambda limit: (0, 0))
    g, flat, _ = compile_model(_cct_spec(tmp_path, strategy), strict=False)
    assert flat.error


@pytest.mark.parametrize("strategy,target", [
    ("all", "host"), ("lora:r=2", "host"),
    pytest.param("all", "qemu", marks=pytest.mark.qemu),
    # on qemu too, but left to -m long (51 s; CI time): the all-qemu case runs the same chunking
    pytest.param("lora:r=2", "qemu", marks=[pytest.mark.qemu, pytest.mark.long]),
    pytest.param("all", "siracusa", marks=pytest.mark.gvsoc)])
def test_item_chunks_train_like_the_reference(tmp_path, strategy, target):
    """On siracusa in GVSoC's Siracusa model, L3 in HyperRAM (skipped without GVSoC)."""
    if target == "siracusa":
        from gvsoc_util import require_gvsoc
        require_gvsoc()
    model, x, y = _cct()
    # the sequence pooling's bias shifts every token's score alike, which the softmax cancels:
    # its gradient is 0 up to rounding (compared as such)
    assert_runs_in_c(tmp_path, model, torch.zeros((1,) + x.shape[1:]), x, y, target=target,
                     name="cct", batch=4, timeout=1200, strategy=strategy,
                     capacities={"L2": CCT_L2[strategy]}, exactly_zero=["attention_pool.bias"])
