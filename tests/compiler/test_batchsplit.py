"""Batch splitting of the stem (``--split M``, GenSpec ``split``): the layers before the first
block run micro-batch by micro-batch inside one pass, so a batch whose stem activations do not
fit trains in one pass. The step must be PyTorch's on the whole batch (both exporters, every
strategy, with and without recomputing the copies), the plan must fit where it did not (CCT-2
at batch 2 and 4 on Siracusa), and the generated C must run it (host, qemu)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from codegen_helpers import (CCT2, CCT2_DATA, check_against_reference, small_ae, small_cct,
                             small_cct_model)
from compiler_helpers import compare_training, export, export_dynamo
from et.compiler.codegen import GenSpec, compile_model
from et.compiler.ir import CompileError
from et.compiler.trainrun import run_training




@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
@pytest.mark.parametrize("strategy,split,recompute", [
    ("all", 1, "off"), ("all", 2, "stem"), ("lora:r=2", 1, "off"), ("last", 2, "off")])
def test_split_stem_is_the_whole_batch_step(exporter, strategy, split, recompute):
    example = torch.zeros(1, 3, 12, 12)
    proto = (export if exporter == "torchscript" else export_dynamo)(small_cct_model(), example)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3, 12, 12)).astype(np.float32)
    y = rng.integers(0, 5, 4)
    res = compare_training(small_cct_model(), proto, strategy, x, y, steps=2, split=split,
                           recompute=recompute)
    assert res["loss"] <= 1e-5 and res["grad"] <= 5e-4 and res["param"] <= 1e-5, res
    g = res["graph"]
    assert g.meta["split"] == {"micro": split, "copies": 4 // split,
                               "nodes": g.meta["split"]["nodes"]}
    copies = g.meta["stem_copies"]
    assert len(copies) == 4 // split
    # one copy per micro-batch: the first convolution of each reads [split, 3, 12, 12]
    convs = [n for c in copies for n in c if n.op == "conv2d"]
    assert all(g[n.inputs[0]].shape[0] == split for n in convs)
    assert len(convs) == 2 * len(copies)


@pytest.mark.parametrize("batch", [2, 4])
def test_cct2_split_only_when_the_whole_batch_does_not_fit(batch):
    """CCT-2 LoRA at batch 2 and 4 fits Siracusa in one pass (its calls stream their operands
    through L2 in chunks), so the default (auto) does not split; an explicit split makes one
    copy of the stem per sample."""
    spec = dict(model=CCT2, strategy="lora:r=4", batch=batch, target="siracusa", momentum=0.9)
    g, whole, _ = compile_model(GenSpec(**spec))
    assert whole.fits and g.meta["split"]["micro"] == 0
    g, _, _ = compile_model(GenSpec(**spec, split=1), strict=False)
    assert g.meta["split"]["copies"] == batch and g.meta["split"]["micro"] == 1
    g, _, _ = compile_model(GenSpec(**dict(spec, batch=1)))
    assert g.meta["split"] == {"micro": 0, "copies": 0, "nodes": 0}


def test_split_errors(tmp_path):
    path, data = small_cct(str(tmp_path))
    with pytest.raises(CompileError, match=r"split 3: expected 0 \(off\), auto or a number of "
                                           r"samples that divides the batch \(4\)"):
        compile_model(GenSpec(model=path, data=data, strategy="all", batch=4, split=3))
    path, data = small_ae(str(tmp_path))
    with pytest.raises(CompileError, match="no stem to split"):
        compile_model(GenSpec(model=path, data=data, strategy="all", batch=4, split=1))


@pytest.mark.parametrize("strategy,split,recompute", [("all", 1, "stem"), ("lora:r=2", 2, "off")])
def test_split_in_c_on_host(tmp_path, strategy, split, recompute):
    path, data = small_cct(str(tmp_path))
    spec = GenSpec(model=path, data=data, strategy=strategy, lr=0.05, momentum=0.9, batch=4,
                   steps=2, grads=True, split=split, recompute=recompute)
    res = run_training(spec, str(tmp_path / "out.npz"))
    check_against_reference(spec, res["arrays"])


@pytest.mark.qemu
def test_cct2_lora_batch4_in_one_pass_on_qemu(tmp_path):
    """CCT-2 LoRA at batch 4 in one pass (the stem image by image) on the 8 harts, against the
    reference, whose step equals torch's at batch 4 (above)."""
    spec = GenSpec(model=CCT2, data=CCT2_DATA, strategy="lora:r=4", lr=0.01, momentum=0.9,
                   batch=4, split=1, steps=1, target="qemu", grads=True, dump="full")
    res = run_training(spec, str(tmp_path / "out.npz"), timeout=1200)
    check_against_reference(spec, res["arrays"])


@pytest.mark.gvsoc
def test_split_recompute_and_accumulate_in_gvsoc(tmp_path):
    """The three batch mechanisms built for the chip and run in GVSoC's Siracusa model (skipped
    with the reason when GVSoC is not installed): full backprop at batch 4 with the stem split
    and recomputed, and LoRA over 3 accumulated micro-batches, against the reference."""
    from gvsoc_util import require_gvsoc

    require_gvsoc()
    path, data = small_cct(str(tmp_path))
    for kw in (dict(strategy="all", batch=4, split=1, recompute="stem,blocks"),
               dict(strategy="lora:r=2", batch=1, accumulate=3)):
        spec = GenSpec(model=path, data=data, lr=0.05, momentum=0.9, steps=2, grads=True,
                       target="siracusa", **kw)
        res = run_training(spec, str(tmp_path / "out.npz"), timeout=1500)
        check_against_reference(spec, res["arrays"])
