"""Training strategies from the graph's structure (issue 17): blocks are the repeated subgraphs
between the stem and the head, LoRA targets are found by their role in each block's attention
(q, k, v, o, a packed qkv), whatever the modules are called or however they are held.

Models written as their authors write them, exported with both exporters, trained with every
strategy that applies (last, blocks:K, lora, all) against PyTorch autograd (LoRA through twin
adapters hooked on the same modules): a timm-style ViT (packed qkv, proj), a CCT as its
authors wrote it (tokenizer, TransformerEncoderLayer with pre_norm / self_attn / linear1 /
linear2, sequence pooling), blocks held as attributes instead of a list, and a ViT with
nn.MultiheadAttention (its packed in_proj is no module a hook can reach: checked for its roles
and against the reference)."""
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

EXPORTERS = {"torchscript": lambda m, x: export(m, x, opset=17), "dynamo": export_dynamo}


class Attention(nn.Module):
    """timm's and the CCT authors' attention: one packed qkv projection, heads, proj."""

    def __init__(self, d, heads):
        super().__init__()
        self.heads, self.scale = heads, (d // heads) ** -0.5
        self.qkv, self.proj = nn.Linear(d, 3 * d, bias=False), nn.Linear(d, d)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((a @ v).transpose(1, 2).reshape(b, n, c))


class TimmBlock(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(d), Attention(d, heads)
        self.norm2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TimmViT(nn.Module):
    """Patch embedding, class token, position embedding, a list of blocks, head on token 0."""

    def __init__(self, d=16, depth=2, heads=2, tokens=4):
        super().__init__()
        self.patch_embed = nn.Linear(12, d)
        self.cls_token = nn.Parameter(torch.randn(1, 1, d) * 0.5)
        self.pos_embed = nn.Parameter(torch.randn(1, tokens + 1, d) * 0.1)
        self.blocks = nn.Sequential(*[TimmBlock(d, heads) for _ in range(depth)])
        self.norm, self.head = nn.LayerNorm(d), nn.Linear(d, 3)

    def forward(self, x):
        t = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), self.patch_embed(x)], 1)
        return self.head(self.norm(self.blocks(t + self.pos_embed))[:, 0])


class EncoderLayer(nn.Module):
    """The CCT authors' TransformerEncoderLayer: pre_norm, self_attn, norm1, linear1/linear2."""

    def __init__(self, d, heads, ff):
        super().__init__()
        self.pre_norm, self.self_attn = nn.LayerNorm(d), Attention(d, heads)
        self.linear1, self.norm1, self.linear2 = nn.Linear(d, ff), nn.LayerNorm(d), nn.Linear(ff, d)

    def forward(self, src):
        src = src + self.self_attn(self.pre_norm(src))
        src = self.norm1(src)
        return src + self.linear2(nn.functional.gelu(self.linear1(src)))


class Classifier(nn.Module):
    def __init__(self, d, depth, heads, tokens, classes):
        super().__init__()
        self.positional_emb = nn.Parameter(torch.randn(1, tokens, d) * 0.1)
        self.blocks = nn.ModuleList([EncoderLayer(d, heads, 2 * d) for _ in range(depth)])
        self.norm, self.attention_pool = nn.LayerNorm(d), nn.Linear(d, 1)
        self.fc = nn.Linear(d, classes)

    def forward(self, x):
        x = x + self.positional_emb
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        w = torch.softmax(self.attention_pool(x), dim=1).transpose(-1, -2)
        return self.fc(torch.matmul(w, x).squeeze(-2))


class AuthorsCCT(nn.Module):
    """A CCT laid out as its authors' code is: tokenizer.conv_layers (conv, ReLU, max-pool
    stages) flattened to tokens, classifier with sequence pooling."""

    def __init__(self, d=16, depth=2, heads=2, classes=4):
        super().__init__()
        self.tokenizer = nn.Module()
        self.tokenizer.conv_layers = nn.Sequential(
            nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU(),
                          nn.MaxPool2d(3, 2, 1)),
            nn.Sequential(nn.Conv2d(8, d, 3, padding=1, bias=False), nn.ReLU(),
                          nn.MaxPool2d(3, 2, 1)))
        self.classifier = Classifier(d, depth, heads, 4, classes)

    def forward(self, x):
        t = self.tokenizer.conv_layers(x).flatten(2).transpose(-2, -1)
        return self.classifier(t)


class AttributeBlocks(nn.Module):
    """Blocks held as attributes (no list, no index in any name)."""

    def __init__(self, d=12):
        super().__init__()
        self.stem = nn.Linear(6, d)
        self.first, self.second, self.third = (TimmBlock(d, 2) for _ in range(3))
        self.out = nn.Linear(d, 3)

    def forward(self, x):
        return self.out(self.third(self.second(self.first(self.stem(x)))).mean(1))


MODELS = {"timm": (TimmViT, (4, 12)), "authors_cct": (AuthorsCCT, (3, 8, 8)),
          "attributes": (AttributeBlocks, (5, 6))}
STRATEGIES = ["last", "blocks:1", "lora:r=2", "all"]


def _data(name, batch=3):
    cls, shape = MODELS[name]
    torch.manual_seed(4)
    model = cls().eval()
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
    for name, want in (("timm", ["blocks.0", "blocks.1"]),
                       ("authors_cct", ["classifier.blocks.0", "classifier.blocks.1"]),
                       ("attributes", ["first", "second", "third"])):
        model, x, _ = _data(name)
        g = import_onnx(EXPORTERS[exporter](model, torch.zeros((1,) + x.shape[1:])), batch=1)
        blocks = find_blocks(g)
        assert [b.name for b in blocks] == want, (name, [b.name for b in blocks])
        roles = projection_roles(g, blocks[0].nodes)
        assert sorted(roles.values()) == ["mlp", "mlp", "o", "qkv"], (name, roles)


class MHABlock(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln, self.attn = nn.LayerNorm(d), nn.MultiheadAttention(d, heads, batch_first=True)
        self.ff = nn.Linear(d, d)

    def forward(self, x):
        h = self.ln(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + torch.relu(self.ff(x))


class MHAViT(nn.Module):
    def __init__(self, d=8):
        super().__init__()
        self.embed = nn.Linear(6, d)
        self.layers = nn.ModuleList([MHABlock(d, 2) for _ in range(2)])
        self.head = nn.Linear(d, 3)

    def forward(self, x):
        x = self.embed(x)
        for layer in self.layers:
            x = layer(x)
        return self.head(x.mean(1))


@pytest.mark.parametrize("exporter", sorted(EXPORTERS))
def test_multihead_attention_roles_and_lora(exporter):
    """nn.MultiheadAttention's packed in_proj is the qkv, out_proj the o: LoRA adapts both in
    each block (named by role, as one module holds both); a step of the reference gives every
    adapter's B (zero at the start, as LoRA initializes it) a gradient."""
    torch.manual_seed(2)
    model = MHAViT().eval()
    proto = EXPORTERS[exporter](model, torch.zeros(1, 4, 6))
    g = import_onnx(proto, batch=1)
    blocks = find_blocks(g)
    assert len(blocks) == 2
    assert sorted(projection_roles(g, blocks[1].nodes).values()) == ["mlp", "o", "qkv"]
    g = compile_graph(proto, "lora:r=2", batch=1)
    bs = sorted(p for p in g.meta["trainable"] if p.endswith(".lora_B"))
    assert bs == [f"layers.{i}.attn.{r}.lora_B" for i in (0, 1) for r in ("o", "qkv")]
    rng = np.random.default_rng(3)
    r = Reference(g).step(rng.standard_normal((1, 4, 6)).astype(np.float32), np.array([2]))
    assert np.isfinite(r["loss"]) and all(np.abs(r["grads"][b]).max() > 0 for b in bs)


def test_blocks_named_by_the_user():
    """of=PREFIX takes the module list the user names; a wrong one is refused with the lists
    the model has."""
    model, x, y = _data("authors_cct")
    proto = export(model, torch.zeros((1,) + x.shape[1:]))
    g = compile_graph(proto, "blocks:1,of=classifier.blocks", batch=3)
    assert any(p.startswith("classifier.blocks.1.") for p in g.meta["trainable"])
    assert not any(p.startswith("classifier.blocks.0.") for p in g.meta["trainable"])
    with pytest.raises(StrategyError, match="no blocks 'tokenizer.stages.<i>'.*classifier.blocks"):
        compile_graph(proto, "blocks:1,of=tokenizer.stages", batch=3)
    g = compile_graph(proto, "lora:r=2,blocks=1,of=classifier.blocks", batch=3)
    assert sorted(p for p in g.meta["trainable"] if "lora_A" in p) == [
        "classifier.blocks.1.self_attn.proj.lora_A", "classifier.blocks.1.self_attn.qkv.lora_A"]


@pytest.mark.parametrize("name", ["timm", "authors_cct"])
def test_lora_on_vits_runs_in_c(tmp_path, name):
    """LoRA found by role, in the generated program on host, against the reference."""
    model, x, y = _data(name, batch=4)
    assert_runs_in_c(tmp_path, model, torch.zeros((1,) + x.shape[1:]), x, y, name=name,
                     strategy="lora:r=2")
