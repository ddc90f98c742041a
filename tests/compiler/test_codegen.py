"""Generated training programs vs the numpy reference (loss, every gradient, every parameter).

Models are exported here with shapes the apps do not use (codegen_helpers: a 12x12 CCT and a
48-24-6-24-48 autoencoder), built with scons (app=train) and run on host, and on qemu for a
subset; tolerances in codegen_helpers. The reference itself is checked against PyTorch in
test_training_vs_torch.py.
"""
from __future__ import annotations

import pytest

from codegen_helpers import check_against_reference, small_ae, small_cct
from et.compiler.codegen import GenSpec, generate
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
