"""Generated training programs vs the numpy reference (loss, every gradient, every parameter).

Models are exported here with shapes the apps do not use (codegen_helpers: a 12x12 CCT and a
48-24-6-24-48 autoencoder), built with scons (app=train) and run on host, and on qemu for a
subset; tolerances in codegen_helpers. The reference itself is checked against PyTorch in
test_training_vs_torch.py.
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from codegen_helpers import check_against_reference, small_ae, small_cct
from compiler_helpers import export
from et.compiler.codegen import GenSpec, generate
from et.compiler.ir import CompileError
from et.compiler.trainrun import run_training


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("codegen"))
    return {"cct": small_cct(tmp), "ae": small_ae(tmp)}


CASES = [("cct", "last", 1), ("cct", "last", 3), ("cct", "blocks:1", 1), ("cct", "blocks:1", 3),
         ("cct", "lora:r=2", 1), ("cct", "lora:r=2,alpha=4", 3), ("cct", "all", 1),
         ("cct", "all", 3), ("ae", "all", 1), ("ae", "all", 4)]


@pytest.mark.parametrize("model,strategy,steps", CASES)
def test_host_matches_reference(models, model, strategy, steps):
    path, data = models[model]
    spec = GenSpec(model=path, data=data, strategy=strategy, lr=0.05, momentum=0.9,
                   weight_decay=0.01 if steps > 1 else 0.0, batch=2, steps=steps, target="host",
                   grads=True)
    res = run_training(spec, "")
    check_against_reference(spec, res["arrays"])


@pytest.mark.qemu
@pytest.mark.parametrize("model,strategy,steps,batch", [("cct", "lora:r=2", 1, 1), ("ae", "all", 2, 2)])
def test_qemu_matches_reference(models, model, strategy, steps, batch):
    path, data = models[model]
    spec = GenSpec(model=path, data=data, strategy=strategy, lr=0.05, momentum=0.9, batch=batch,
                   steps=steps, target="qemu", grads=True)
    res = run_training(spec, "", timeout=300)
    check_against_reference(spec, res["arrays"])


def test_generated_code_reads_like_c(models, tmp_path):
    """One call per node with shape comments, named buffers, status checks; all sources written."""
    path, data = models["cct"]
    info = generate(GenSpec(model=path, data=data, strategy="lora:r=2", batch=1, steps=1),
                    str(tmp_path))
    net = (tmp_path / "net.c").read_text()
    assert "et_linear_fwd_f32" in net and "et_gemm_fwd_f32" in net and "NET_CALL(" in net
    assert "/* [0] /tokenizer/conv/conv.0/Conv: conv2d fwd:" in net
    assert "#define t_blocks_0_attn_q_lora_xa ((float *)(g_arena + " in net
    assert info["kernel_calls"] > 50 and info["trainable"]
    for f in ("net.h", "weights.c", "weights.h", "main.c", "meta.json"):
        assert (tmp_path / f).exists()


class _Unfused(torch.nn.Module):
    OPS = {"Sub": lambda y, x: y - x, "Div": lambda y, x: y / (x * x + 1.0),
           "Pow": lambda y, x: y ** 2, "Sqrt": lambda y, x: torch.sqrt(y * y + 1.0)}

    def __init__(self, op):
        super().__init__()
        self.fc, self.f = torch.nn.Linear(8, 8), self.OPS[op]

    def forward(self, x):
        return self.f(self.fc(x), x)


@pytest.mark.parametrize("op", sorted(_Unfused.OPS))
def test_unfused_op_has_clear_error(op, tmp_path):
    """Sub, Div, Pow, Sqrt outside the LayerNorm pattern: no C kernel, the error
    names the node and the ONNX op and says why (no silent skip, no approximation)."""
    model = tmp_path / f"{op}.onnx"
    onnx.save(export(_Unfused(op), torch.zeros(1, 8)), str(model))
    data = tmp_path / "d.npz"
    x = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
    np.savez(data, input=x, target=x)
    with pytest.raises(CompileError) as e:
        generate(GenSpec(model=str(model), data=str(data), strategy="all", loss="mse"),
                 str(tmp_path / "gen"))
    msg = str(e.value)
    assert f"node '/{op}' (fwd): ONNX {op} on computed tensors has no C kernel" in msg, msg
    assert "decomposed LayerNorm pattern" in msg and "supports: add/fwd" in msg


def test_profile_steps_and_dump_modes(models, tmp_path):
    """profile_steps picks the steps that write @perf; dump=auto switches to @tsum when big."""
    from et.compiler.codegen import CompileError as CE, profiled_steps, tsum_indices
    path, data = models["cct"]
    spec = GenSpec(model=path, data=data, strategy="all", batch=1, steps=6)
    assert profiled_steps(spec) == [1]
    for text, want in (("all", None), ("", []), ("2-3,5,9", [2, 3, 5]), ("1,1", [1])):
        spec.profile_steps = text
        assert profiled_steps(spec) == want
    for bad in ("0", "3-2", "x"):
        spec.profile_steps = bad
        with pytest.raises(CE):
            profiled_steps(spec)
    assert tsum_indices(1) == [0] and tsum_indices(100) == [0, 14, 28, 42, 56, 70, 84, 99]
    spec.profile_steps, spec.dump, spec.samples = "2", "sums", 3
    info = generate(spec, str(tmp_path))
    net = (tmp_path / "net.c").read_text()
    assert info["dump"] == "sums" and info["samples"] == 3 and info["profile_steps"] == [2]
    assert "dump_sums(\"fc.weight\"" in net and "static const unsigned steps[] = { 2 };" in net
    assert "net_profile_step(s);" in (tmp_path / "main.c").read_text()
