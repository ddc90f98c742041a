"""Import (folding, fusion, shapes), error reporting, strategies, memory plan and the CLI."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from compiler_helpers import export
from et.compiler.ir import DoesNotFitError, StrategyError, UnsupportedOpError
from et.compiler.memory import ArenaPlanner
from et.compiler.onnx_import import import_onnx
from et.compiler.training import Hyper, build_training_graph, stats
from et.targets import get_target

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CCT = os.path.join(ROOT, "apps", "cct_lora", "model.onnx")


def _tiny_onnx(op: str, opset: int = 17, **attrs) -> onnx.ModelProto:
    w = numpy_helper.from_array(np.ones((4, 3), np.float32), "w")
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
             helper.make_node(op, ["h"], ["y"], name="the_bad_node", **attrs)]
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])], [w])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def test_cct_import_is_static_and_fused():
    g = import_onnx(CCT, batch=3)
    ops = [n.op for n in g.nodes]
    assert ops.count("layernorm") == 5 and ops.count("gelu") == 2 and ops.count("conv2d") == 2
    assert ops.count("linear") == 2 * 6 + 2 and ops.count("matmul") == 2 * 2 + 1
    assert all(len(t.shape) == 0 or t.shape[0] == 3 for t in g.tensors.values() if t.kind == "act")
    assert sum(t.size for t in g.params()) == 284_491
    # each Identity-deduplicated LayerNorm weight became its own parameter
    assert {"blocks.0.norm1.weight", "norm.weight", "blocks.1.pre_norm.bias"} <= set(g.tensors)


def test_unsupported_op_names_op_node_and_set():
    with pytest.raises(UnsupportedOpError) as e:
        import_onnx(_tiny_onnx("Tanh"))
    msg = str(e.value)
    assert "'Tanh'" in msg and "the_bad_node" in msg and "LayerNormalization" in msg


def test_unsupported_lstm_from_torch():
    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(4, 5, batch_first=True)

        def forward(self, x):
            return self.lstm(x)[0]
    with pytest.raises(UnsupportedOpError, match="LSTM"):
        import_onnx(export(M(), torch.zeros(1, 3, 4)))


def test_tanh_gelu_imports_and_lone_erf_is_rejected():
    g = import_onnx(_tiny_onnx("Gelu", opset=20, approximate="tanh"))
    (n,) = [n for n in g.nodes if n.op == "gelu"]
    assert n.attrs == {"approximate": "tanh"}
    with pytest.raises(UnsupportedOpError, match="Erf.*erf-GELU"):
        import_onnx(_tiny_onnx("Erf"))


def test_opset_out_of_range():
    with pytest.raises(Exception, match="opset 6 is not supported"):
        import_onnx(_tiny_onnx("Relu", opset=6))


def test_microsoft_gelu_is_accepted():
    m = _tiny_onnx("Relu")
    m.graph.node[1].op_type, m.graph.node[1].domain = "Gelu", "com.microsoft"
    m.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    g = import_onnx(m)
    assert [n.op for n in g.nodes] == ["linear", "gelu"]


@pytest.mark.parametrize("bad,match", [
    ("fc.weight,no.such.weight", "no.such.weight.*valid names: .*blocks.0.attn.q.weight"),
    ("blocks:3", "has 2 blocks"),
    ("lora:r=4,targets=nope", "valid targets: .*q"),
    ("lora:r=4,colour=red", "unknown LoRA option"),
])
def test_strategy_errors(bad, match):
    g = import_onnx(CCT)
    with pytest.raises(StrategyError, match=match):
        build_training_graph(g, bad)


def test_gradients_only_where_needed():
    g = import_onnx(CCT)
    build_training_graph(g, "lora:r=4,blocks=1")
    bwd = [n for n in g.nodes if n.phase == "bwd"]
    # nothing before block 1 is differentiated, and no frozen weight gets a gradient
    assert not any(n.scope.startswith(("tokenizer", "blocks.0")) for n in bwd)
    wgrads = [n for n in bwd if n.variant == "wgrad"]
    assert all(g[o].grad_of in g.meta["trainable"] for n in wgrads for o in n.outputs)
    last = import_onnx(CCT)
    build_training_graph(last, "last")
    assert [(n.op, n.key) for n in last.nodes if n.phase == "bwd"] == \
        [("softmax_ce", "igrad"), ("linear", "wgrad")]


def test_strategy_stats_ordering():
    rows = {}
    for s in ("last", "blocks:1", "blocks:2", "lora:r=4,blocks=1", "lora:r=4", "all"):
        g = import_onnx(CCT)
        build_training_graph(g, s)
        rows[s] = stats(g)
    assert rows["last"]["trainable"] == 1290
    assert rows["all"]["trainable"] == 284_491
    assert rows["lora:r=4"]["trainable"] == 2 * 4 * 2 * 128 * 4 + 1290
    assert rows["last"]["flop_bwd"] < rows["lora:r=4,blocks=1"]["flop_bwd"] \
        < rows["blocks:1"]["flop_bwd"] < rows["blocks:2"]["flop_bwd"] < rows["all"]["flop_bwd"]


def test_memory_plan_reuses_and_is_consistent():
    g = import_onnx(CCT)
    build_training_graph(g, "lora:r=4", hyper=Hyper(momentum=0.9))
    plan = ArenaPlanner().plan(g, "siracusa")
    assert plan.fits and plan.arena_peak < plan.no_reuse / 4
    # no two arena tensors that are alive at the same time overlap
    arena = {}
    for p in plan.placements.values():
        if p.level == "L2" and p.first >= 0:
            arena.setdefault(p.buffer, p)
    items = list(arena.values())
    for i, a in enumerate(items):
        for b in items[i + 1:]:
            if a.first <= b.last and b.first <= a.last:
                assert a.offset + a.size <= b.offset or b.offset + b.size <= a.offset, (a, b)
    # persistent tensors are placed somewhere
    assert all(t.name in plan.placements for t in g.tensors.values())


def test_memory_does_not_fit_gives_numbers():
    g = import_onnx(CCT)
    build_training_graph(g, "blocks:2")
    small = get_target("qemu").with_capacity("L2", 256 * 1024)
    with pytest.raises(DoesNotFitError) as e:
        ArenaPlanner().plan(g, small)
    msg = str(e.value)
    assert "needs" in msg and "available" in msg and "at step" in msg
    assert "tensor '" in msg or "staging buffer '" in msg
    tiny_l3 = get_target("qemu").with_capacity("L3", 1024)
    g = import_onnx(CCT)
    build_training_graph(g, "last")
    with pytest.raises(DoesNotFitError, match="of L3, 1024 available"):
        ArenaPlanner().plan(g, tiny_l3)


def test_cli_plan_table():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "edgetune.py"), "plan",
                        "--model", CCT, "--train", "last", "--train", "lora:r=4"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "arena peak" in r.stdout and "lora:r=4" in r.stdout
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "edgetune.py"), "plan",
                        "--model", CCT, "--train", "fc.weight,bogus"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "bogus" in r.stderr and "valid names" in r.stderr
