"""Training strategies from the graph's structure (issue 17): blocks are the repeated subgraphs
between the stem and the head, LoRA targets are found by their role in each block's attention
(q, k, v, o, a packed qkv), whatever the modules are called or however they are held.

Models written as their authors write them (the zoo's, tools/et/models/zoo.py, small), exported
with both exporters, trained with every strategy that applies (last, blocks:K, lora, all)
against PyTorch autograd (LoRA through twin adapters hooked on the same modules): a timm-style
ViT with mean pooling (packed qkv, proj), a CCT as its authors wrote it (tokenizer,
TransformerEncoderLayer with pre_norm / self_attn / linear1 / linear2, sequence pooling),
blocks held as attributes instead of a list, and a ViT with nn.MultiheadAttention (its packed
in_proj is no module a hook can reach: LoRA is checked for its roles and against the
reference)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from codegen_helpers import assert_runs_in_c
from compiler_helpers import assert_trains_like_torch, compile_graph, export, export_dynamo
from et.compiler.ir import StrategyError
from et.compiler.onnx_import import import_onnx
from et.compiler.reference import Reference
from et.compiler.structure import find_blocks, projection_roles
from et.models import zoo

EXPORTERS = {"torchscript": lambda m, x: export(m, x, opset=17), "dynamo": export_dynamo}


class AttributeBlocks(nn.Module):
    """Blocks held as attributes (no list, no index in any name)."""

    def __init__(self, d=12):
        super().__init__()
        self.stem = nn.Linear(6, d)
        self.first, self.second, self.third = (zoo.TimmBlock(d, 2) for _ in range(3))
        self.out = nn.Linear(d, 3)

    def forward(self, x):
        return self.out(self.third(self.second(self.first(self.stem(x)))).mean(1))


MODELS = {"vit_timm": (lambda: zoo.TimmViT(16, 2, 2, 4, 12, 3), (4, 12)),
          "cct_authors": (lambda: zoo.AuthorsCCT(16, 2, 2, 4, 8, 8, 2), (3, 8, 8)),
          "attributes": (AttributeBlocks, (5, 6))}
STRATEGIES = ["last", "blocks:1", "lora:r=2", "all"]


def _data(name, batch=3):
    make, shape = MODELS[name]
    torch.manual_seed(4)
    model = make().eval()
    rng = np.random.default_rng(5)
    x = rng.standard_normal((batch,) + shape).astype(np.float32)
    return model, x, rng.integers(0, 3, batch)


@pytest.mark.parametrize("exporter", sorted(EXPORTERS))
@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_strategy_trains_like_torch(name, strategy, exporter):
    model, x, y = _data(name)
    proto = EXPORTERS[exporter](model, torch.zeros((1,) + x.shape[1:]))
    res = assert_trains_like_torch(model, proto, x, y, strategy=strategy, steps=2)
    g = res["graph"]
    if strategy.startswith("lora"):   # the packed qkv and proj of every block
        adapters = sorted(p for p in g.meta["trainable"] if p.endswith(".lora_A"))
        assert len(adapters) == 2 * len(find_blocks(compile_graph(proto, "last", batch=3)))
        assert all(a.rsplit(".", 2)[-2] in ("qkv", "proj") for a in adapters), adapters


@pytest.mark.parametrize("exporter", sorted(EXPORTERS))
def test_blocks_and_roles_come_from_the_structure(exporter):
    """The same blocks and roles from both exports: the repeated subgraph, named after the
    module each copy was exported from when the export kept module paths."""
    for name, want in (("vit_timm", ["blocks.0", "blocks.1"]),
                       ("cct_authors", ["classifier.blocks.0", "classifier.blocks.1"]),
                       ("attributes", ["first", "second", "third"])):
        model, x, _ = _data(name)
        g = import_onnx(EXPORTERS[exporter](model, torch.zeros((1,) + x.shape[1:])), batch=1)
        blocks = find_blocks(g)
        assert [b.name for b in blocks] == want, (name, [b.name for b in blocks])
        roles = projection_roles(g, blocks[0].nodes)
        assert sorted(roles.values()) == ["mlp", "mlp", "o", "qkv"], (name, roles)


@pytest.mark.parametrize("exporter", sorted(EXPORTERS))
@pytest.mark.parametrize("strategy", ["last", "blocks:1", "all"])
def test_multihead_attention_vit_trains_like_torch(strategy, exporter):
    model = zoo.build("vit_mha", "small")
    x = np.random.default_rng(6).standard_normal((3, 4, 12)).astype(np.float32)
    proto = EXPORTERS[exporter](model, torch.zeros(2, 4, 12))
    assert_trains_like_torch(model, proto, x, np.array([0, 2, 1]), strategy=strategy, steps=2)


@pytest.mark.parametrize("exporter", sorted(EXPORTERS))
def test_multihead_attention_roles_and_lora(exporter):
    """nn.MultiheadAttention's packed in_proj is the qkv, out_proj the o: LoRA adapts both in
    each block (named by role, as one module holds both); a step of the reference gives every
    adapter's B (zero at the start, as LoRA initializes it) a gradient."""
    model = zoo.build("vit_mha", "small")
    proto = EXPORTERS[exporter](model, torch.zeros(2, 4, 12))
    g = import_onnx(proto, batch=2)
    blocks = find_blocks(g)
    assert [b.name for b in blocks] == ["layers.0", "layers.1"]
    assert sorted(projection_roles(g, blocks[1].nodes).values()) == ["mlp", "mlp", "o", "qkv"]
    g = compile_graph(proto, "lora:r=2", batch=2)
    bs = sorted(p for p in g.meta["trainable"] if p.endswith(".lora_B"))
    assert bs == [f"layers.{i}.attn.{r}.lora_B" for i in (0, 1) for r in ("o", "qkv")]
    rng = np.random.default_rng(3)
    r = Reference(g).step(rng.standard_normal((2, 4, 12)).astype(np.float32), np.array([2, 0]))
    assert np.isfinite(r["loss"]) and all(np.abs(r["grads"][b]).max() > 0 for b in bs)


def test_blocks_named_by_the_user():
    """of=PREFIX takes the module list the user names; a wrong one is refused with the lists
    the model has."""
    model, x, y = _data("cct_authors")
    proto = export(model, torch.zeros((1,) + x.shape[1:]))
    g = compile_graph(proto, "blocks:1,of=classifier.blocks", batch=3)
    assert any(p.startswith("classifier.blocks.1.") for p in g.meta["trainable"])
    assert not any(p.startswith("classifier.blocks.0.") for p in g.meta["trainable"])
    with pytest.raises(StrategyError, match="no blocks 'tokenizer.stages.<i>'.*classifier.blocks"):
        compile_graph(proto, "blocks:1,of=tokenizer.stages", batch=3)
    g = compile_graph(proto, "lora:r=2,blocks=1,of=classifier.blocks", batch=3)
    assert sorted(p for p in g.meta["trainable"] if "lora_A" in p) == [
        "classifier.blocks.1.self_attn.proj.lora_A", "classifier.blocks.1.self_attn.qkv.lora_A"]


@pytest.mark.parametrize("name,target", [("vit_timm", "host"), ("cct_authors", "host"),
                                         pytest.param("vit_timm", "qemu", marks=pytest.mark.qemu)])
def test_lora_on_vits_runs_in_c(tmp_path, name, target):
    """LoRA found by role, in the generated program, against the reference."""
    model, x, y = _data(name, batch=4)
    assert_runs_in_c(tmp_path, model, torch.zeros((1,) + x.shape[1:]), x, y, name=name,
                     strategy="lora:r=2", target=target)
