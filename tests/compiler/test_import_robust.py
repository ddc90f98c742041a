"""Import fixes that need no new kernel (issue 17): 0-d float initializers are constants,
division by a constant, the tanh GELU, unsorted graphs, INT-valued axes, and `plan` refusing
what `train` refuses with the same words. Models are exported here with both of torch's
exporters and trained against PyTorch autograd (tolerances as test_training_vs_torch's ten
steps: loss 1e-4, gradients 1e-3, parameters 1e-5)."""
from __future__ import annotations

import math

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from compiler_helpers import compare_training, export, export_dynamo
from et.compiler.codegen import GenSpec, compile_model
from et.compiler.ir import CompileError
from et.compiler.onnx_import import import_onnx
from et.compiler.report import summarize

EXPORTERS = {"torchscript": lambda m, x: export(m, x, opset=20), "dynamo": export_dynamo}


class ScaledGelu(torch.nn.Module):
    """An MLP with what ViT code writes: a scale by 1/sqrt(d) as a division, the tanh GELU."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = torch.nn.Linear(12, 16), torch.nn.Linear(16, 4)

    def forward(self, x):
        h = self.fc1(x) / math.sqrt(16.0) / 1.7   # 4 (exact reciprocal) and 1.7 (rounded)
        return self.fc2(torch.nn.functional.gelu(h, approximate="tanh"))


@pytest.mark.parametrize("exporter", sorted(EXPORTERS))
def test_scaled_tanh_gelu_trains_like_torch(exporter):
    torch.manual_seed(11)
    model = ScaledGelu().eval()
    proto = EXPORTERS[exporter](model, torch.zeros(2, 12))
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 12)).astype(np.float32)
    res = compare_training(model, proto, "all", x, np.array([0, 1, 2, 3, 1]), "ce", 10)
    assert res["loss"] <= 1e-4 and res["grad"] <= 1e-3 and res["param"] <= 1e-5, res
    g = res["graph"]
    assert len(g.meta["trainable"]) == 4          # no scalar constant among them
    assert sum(g[p].size for p in g.meta["trainable"]) == 12 * 16 + 16 + 16 * 4 + 4
    ops = [n.op for n in g.nodes if n.phase == "fwd"]
    assert "div" not in ops and ops.count("mul") >= 1
    assert [n.attrs for n in g.nodes if n.op == "gelu" and n.phase == "fwd"] == [{"approximate": "tanh"}]


def _decomposed_layernorm() -> onnx.ModelProto:
    """Linear 6 -> 8, then LayerNorm written out with 0-d float initializers for the exponent
    (2.0) and epsilon, as ONNX Runtime's optimizer stores them, and a 0-d scale; unsorted."""
    rng = np.random.default_rng(4)
    inits = [numpy_helper.from_array(rng.standard_normal((6, 8)).astype(np.float32), "W"),
             numpy_helper.from_array(np.ones(8, np.float32), "gamma"),
             numpy_helper.from_array(np.zeros(8, np.float32), "beta"),
             numpy_helper.from_array(np.array(2.0, np.float32), "two"),
             numpy_helper.from_array(np.array(1e-5, np.float32), "eps"),
             numpy_helper.from_array(np.array(0.125, np.float32), "scale")]
    mk = helper.make_node
    nodes = [mk("MatMul", ["x", "W"], ["h"], name="fc"),
             mk("ReduceMean", ["h"], ["m"], name="mean", axes=[-1]),
             mk("Sub", ["h", "m"], ["d"], name="sub"),
             mk("Pow", ["d", "two"], ["d2"], name="pow"),
             mk("ReduceMean", ["d2"], ["v"], name="var", axes=[-1]),
             mk("Add", ["v", "eps"], ["ve"], name="addeps"),
             mk("Sqrt", ["ve"], ["s"], name="sqrt"),
             mk("Div", ["d", "s"], ["n"], name="div"),
             mk("Mul", ["n", "gamma"], ["ng"], name="mulg"),
             mk("Add", ["ng", "beta"], ["ln"], name="addb"),
             mk("Mul", ["ln", "scale"], ["y"], name="scaled")]
    order = [10, 3, 0, 7, 1, 9, 2, 5, 4, 8, 6]      # not a dependency order
    g = helper.make_graph([nodes[i] for i in order], "ln",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_zero_d_initializers_are_constants_and_unsorted_graphs_import():
    g = import_onnx(_decomposed_layernorm())
    assert [n.op for n in g.nodes] == ["linear", "layernorm", "mul"]
    assert sorted(t.name for t in g.params()) == ["W", "beta", "gamma"]
    ln = next(n for n in g.nodes if n.op == "layernorm")
    assert ln.attrs["eps"] == pytest.approx(1e-5)


def test_axes_given_as_a_single_int():
    w = numpy_helper.from_array(np.ones((4, 3), np.float32), "w")
    mk = helper.make_node
    nodes = [mk("MatMul", ["x", "w"], ["h"], name="mm"),
             mk("Unsqueeze", ["h"], ["u"], name="unsq", axes=1),
             mk("Squeeze", ["u"], ["y"], name="sq", axes=1)]
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])], [w])
    g = import_onnx(helper.make_model(g, opset_imports=[helper.make_opsetid("", 11)]))
    assert g[g.outputs[0]].shape == (2, 3)


class BatchedGemm(torch.nn.Module):
    """What Gemm with operands of rank 3 computes in ONNX Runtime's and Deeploy's graphs."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(3)
        for name, shape in (("w1", (1, 6, 5)), ("b1", (5,)), ("w2", (4, 3)), ("w4", (25, 2)),
                            ("b4", (2,))):
            self.register_parameter(name, torch.nn.Parameter(torch.randn(shape, generator=g)))

    def forward(self, x):
        h = torch.relu(x @ self.w1[0] + self.b1)              # Gemm, B [1, 6, 5], C
        g2 = h.transpose(-1, -2) @ self.w2                     # Gemm transA=1
        g3 = g2 @ g2.transpose(-1, -2)                          # Gemm of two activations, transB
        return g3.flatten(1) @ self.w4 + self.b4


def _batched_gemm_graph(model: BatchedGemm) -> onnx.ModelProto:
    mk = helper.make_node
    inits = [numpy_helper.from_array(p.detach().numpy(), n) for n, p in model.named_parameters()]
    nodes = [mk("Gemm", ["x", "w1", "b1"], ["h0"], name="g1"),
             mk("Relu", ["h0"], ["h"], name="r"),
             mk("Gemm", ["h", "w2"], ["g2"], name="g2", transA=1),
             mk("Gemm", ["g2", "g2"], ["g3"], name="g3", transB=1, beta=0.0),
             mk("Flatten", ["g3"], ["f"], name="fl"),
             mk("Gemm", ["f", "w4", "b4"], ["y"], name="g4")]
    g = helper.make_graph(nodes, "batched_gemm",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 2])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_gemm_with_batched_operands_trains_like_torch():
    """Gemm on rank-3 operands: an initializer B with a leading 1 (a linear layer), transA,
    a computed B with transB and beta=0 (a batched matmul)."""
    model = BatchedGemm()
    proto = _batched_gemm_graph(model)
    assert [n.op for n in import_onnx(proto, batch=2).nodes if n.op != "reshape"] == [
        "linear", "relu", "transpose", "linear", "matmul", "linear"]
    x = np.random.default_rng(4).standard_normal((2, 4, 6)).astype(np.float32) * 0.5
    res = compare_training(model, proto, "all", x, np.array([0, 1]), "ce", 3)
    assert res["loss"] <= 1e-4 and res["grad"] <= 1e-3 and res["param"] <= 1e-5, res


def test_gemm_with_batched_operands_runs_in_c(tmp_path):
    from codegen_helpers import check_against_reference
    from et.compiler.trainrun import run_training
    path, data = str(tmp_path / "bg.onnx"), str(tmp_path / "bg.npz")
    onnx.save(_batched_gemm_graph(BatchedGemm()), path)
    rng = np.random.default_rng(5)
    np.savez(data, input=rng.standard_normal((4, 4, 6)).astype(np.float32) * 0.2,
             labels=np.array([0, 1, 1, 0]))
    spec = GenSpec(model=path, data=data, strategy="all", lr=0.05, batch=2, steps=2, grads=True)
    out = run_training(spec, str(tmp_path / "out.npz"))
    check_against_reference(spec, out["arrays"])
    assert np.load(tmp_path / "out.npz")["w1"].shape == (1, 6, 5)   # the model's shape


class Cat(torch.nn.Module):
    """Two branches concatenated; with ``sub``, their difference (no C kernel outside the
    LayerNorm pattern)."""

    def __init__(self, sub: bool = False):
        super().__init__()
        self.a, self.b, self.sub = torch.nn.Linear(8, 4), torch.nn.Linear(8, 4), sub

    def forward(self, x):
        if self.sub:
            return self.a(x) - self.b(x)
        return torch.cat([self.a(x), self.b(x)], dim=1)


def test_plan_refuses_what_train_refuses(tmp_path):
    """An op the importer takes but no kernel runs (Sub of two activations) is refused when the
    training graph is built, by `plan` and `train` alike, with one message; nothing is planned
    as 'fits'."""
    path = tmp_path / "sub.onnx"
    onnx.save(export(Cat(sub=True), torch.zeros(1, 8)), str(path))
    data = tmp_path / "d.npz"
    np.savez(data, input=np.zeros((2, 8), np.float32), labels=np.array([0, 7]))
    with pytest.raises(CompileError) as planned:
        summarize(str(path), ["all"], loss="ce", target="qemu")
    with pytest.raises(CompileError) as trained:
        compile_model(GenSpec(model=str(path), data=str(data), strategy="all", target="qemu"))
    assert str(planned.value) == str(trained.value)
    assert "ONNX Sub on computed tensors has no C kernel (op 'sub', fwd call)" in str(planned.value)


def test_opset_9_slice_takes_its_attributes():
    w = numpy_helper.from_array(np.ones((6, 4), np.float32), "w")
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
             helper.make_node("Slice", ["h"], ["y"], name="sl", starts=[1], ends=[3], axes=[1])]
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 2])], [w])
    g = import_onnx(helper.make_model(g, opset_imports=[helper.make_opsetid("", 9)]))
    (sl,) = [n for n in g.nodes if n.op == "slice"]
    assert sl.attrs == {"axes": [1], "starts": [1], "ends": [3]} and g[g.outputs[0]].shape == (2, 2)


class OldOpsetNet(torch.nn.Module):
    """Conv, ReLU, max-pool, a reshape through Shape/Gather/Concat (folded), two linears."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 4, 3, padding=1)
        self.fc1, self.fc2 = torch.nn.Linear(4 * 4 * 4, 10), torch.nn.Linear(10, 3)

    def forward(self, x):
        h = torch.nn.functional.max_pool2d(torch.relu(self.conv(x)), 2)
        h = h.reshape(h.shape[0], -1)           # Shape -> Gather/Slice -> Concat: folded
        return self.fc2(torch.relu(self.fc1(h)))


@pytest.mark.parametrize("opset", [7, 9, 10])
def test_old_opsets_train_like_torch(opset):
    torch.manual_seed(12)
    model = OldOpsetNet().eval()
    proto = export(model, torch.zeros(1, 2, 8, 8), opset=opset)
    assert proto.opset_import[0].version == opset
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 2, 8, 8)).astype(np.float32)
    res = compare_training(model, proto, "all", x, np.array([0, 1, 2, 1]), "ce", 10)
    assert res["loss"] <= 1e-4 and res["grad"] <= 1e-3 and res["param"] <= 1e-5, res


@pytest.fixture(scope="module")
def tiny_cct_exports():
    from et.models.cct import CCT
    torch.manual_seed(1)
    model = CCT(img=16, in_ch=3, channels=(8, 32), blocks=2, heads=4, mlp_ratio=2.0,
                classes=5).eval()
    example = torch.zeros(2, 3, 16, 16)
    return model, {"torchscript": export(model, example), "dynamo": export_dynamo(model, example)}


@pytest.mark.parametrize("strategy", ["last", "blocks:1", "lora:r=4", "lora:r=2,targets=q,v,fc1"])
def test_dynamo_export_trains_like_torchscript_export(tiny_cct_exports, strategy):
    """The dynamo exporter names nodes without module paths (they are in its metadata): blocks,
    the head and LoRA targets are found as in the TorchScript export of the same module, and
    both train like PyTorch."""
    import copy

    model, protos = tiny_cct_exports
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 16, 16)).astype(np.float32)
    y = np.array([1, 4])
    trained = {}
    for kind, proto in protos.items():
        res = compare_training(copy.deepcopy(model), proto, strategy, x, y, "ce", 3)
        assert res["loss"] <= 1e-4 and res["grad"] <= 1e-3 and res["param"] <= 1e-5, (kind, res)
        g = res["graph"]
        trained[kind] = sorted(g[p].size for p in g.meta["trainable"])
    assert trained["dynamo"] == trained["torchscript"]


def test_blocks_are_the_repeated_list_not_the_largest():
    """A CCT whose two-stage tokenizer (3->64->32 channels: 20,160 parameters) outweighs its
    two transformer blocks (17,088 together; the list with the most parameters was taken for
    the blocks before): the blocks are still blocks.0 and blocks.1 (the stages
    differ in shape, the blocks repeat), and blocks:1 trains like PyTorch."""
    from et.models.cct import CCT
    from et.compiler.structure import find_blocks

    torch.manual_seed(2)
    model = CCT(img=12, in_ch=3, channels=(64, 32), blocks=2, heads=2, mlp_ratio=2.0,
                classes=4).eval()
    proto = export(model, torch.zeros(1, 3, 12, 12))
    g = import_onnx(proto)
    tok = sum(p.size for p in g.params() if p.scope.startswith("tokenizer."))
    blk = sum(p.size for p in g.params() if p.scope.startswith("blocks."))
    assert tok > blk
    assert [b.name for b in find_blocks(g)] == ["blocks.0", "blocks.1"]
    x = np.random.default_rng(8).standard_normal((2, 3, 12, 12)).astype(np.float32)
    res = compare_training(model, proto, "blocks:1", x, np.array([1, 3]), "ce", 3)
    assert res["loss"] <= 1e-4 and res["grad"] <= 1e-3 and res["param"] <= 1e-5, res
    assert not any(res["graph"][p].scope.startswith("tokenizer")
                   for p in res["graph"].meta["trainable"])
