"""Row chunks (issue 14): a row-separable node whose L3 operands would take more than an eighth
of the L2 arena streams them through L2 in chunks of rows (copy in, run, write back, chunk after
chunk), so no such call needs its whole operand in L2.

The planner chunks only when the plan without row chunks does not fit or spills to L3, and only
if chunks make it fit or spill less (a chunked node loses the prefetch overlap and the reuse of
the node before's copy). MobileNet (the test's small MLPerf Tiny stack, depthwise separable
convolutions) at batch 4 with an L2 too small for it without row chunks: the plan chunks the
spilled ReLUs forward and backward, and the generated program, with and without the L1 row tiles inside each chunk,
matches the numpy reference on host and on qemu's 8 harts."""
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
from test_edge_cnns import _model

KIB = 1024
L2 = 240 * KIB   # too small for the batch of 4 without row chunks


def _spec(tmp_path, target="host", **kw) -> GenSpec:
    model, x, y = _model("mobilenet")
    path, data = str(tmp_path / "m.onnx"), str(tmp_path / "m.npz")
    onnx.save(export(model, torch.zeros((1,) + x.shape[1:])), path)
    np.savez(data, input=np.concatenate([x, x[:1]]), labels=np.concatenate([y, y[:1]]))
    return GenSpec(model=path, data=data, strategy="all", lr=0.05, momentum=0.9, batch=4,
                   steps=2, target=target, capacities={"L2": L2}, **kw)


def test_plan_streams_large_row_nodes_in_chunks(tmp_path, monkeypatch):
    g, plan, _ = compile_model(_spec(tmp_path))
    assert plan.spilled
    stage_max, chunk = row_chunking(L2 - plan.l2_reserve - ArenaPlanner._pinned(g))
    assert chunk <= ROW_CHUNK
    rows = [e for e in plan.stream_nodes if e["chunk"] and g.nodes[e["node"]].op != "sgd"]
    assert {(g.nodes[e["node"]].op, g.nodes[e["node"]].phase) for e in rows} >= {
        ("relu", "fwd"), ("relu", "bwd")}
    for e in rows:
        assert 0 < e["chunk"] < e["rows"]
        assert sum(t["size"] for t in e["tensors"]) > stage_max
        for t in e["tensors"]:
            # a chunk of rows per staging buffer, the rows make up the tensor
            assert t["stage_bytes"] == e["chunk"] * t["row_bytes"] <= max(chunk, t["row_bytes"])
            assert e["rows"] * t["row_bytes"] == t["size"]
    # nodes that stage little stay whole (and are prefetched as before)
    assert any(not e["chunk"] for e in plan.stream_nodes)
    # the planner chunks only because the plan without row chunks does not fit or spills more
    monkeypatch.setattr(memory, "row_chunking", lambda limit: (0, 0))
    g, whole, _ = compile_model(_spec(tmp_path), strict=False)
    assert whole.error or whole.l3_arena_peak > plan.l3_arena_peak
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
