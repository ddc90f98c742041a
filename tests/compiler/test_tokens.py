"""What ViTs do with tokens: a class token broadcast over the batch and concatenated to the
patch tokens (Expand + Concat, or Concat of a repeated parameter), the head on token 0 (Gather
or Slice), a packed qkv projection cut into q, k and v (Slice / Split of a Linear's output).
Each trains like PyTorch autograd with both exporters, and in C on host against the reference."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from codegen_helpers import assert_runs_in_c
from compiler_helpers import assert_trains_like_torch, export, export_dynamo

EXPORTERS = {"torchscript": lambda m, x: export(m, x, opset=17), "dynamo": export_dynamo}


class ClassToken(nn.Module):
    """Patches [B, T, 6] -> embed -> [cls; tokens] -> packed qkv -> q * k + v -> head on cls."""

    def __init__(self, d=8):
        super().__init__()
        self.embed = nn.Linear(6, d)
        self.cls = nn.Parameter(torch.randn(1, 1, d) * 0.5)
        self.qkv = nn.Linear(d, 3 * d)
        self.head = nn.Linear(d, 3)
        self.d = d

    def forward(self, x):
        t = self.embed(x)
        t = torch.cat([self.cls.expand(x.shape[0], -1, -1), t], dim=1)
        q, k, v = self.qkv(t).split(self.d, dim=-1)
        h = torch.relu(q * k + v)
        return self.head(h[:, 0])


class MHAViT(nn.Module):
    """A ViT block the torch way: class token, position embedding, nn.MultiheadAttention."""

    def __init__(self, d=16, heads=2, tokens=4):
        super().__init__()
        self.embed = nn.Linear(12, d)
        self.cls = nn.Parameter(torch.randn(1, 1, d) * 0.5)
        self.pos = nn.Parameter(torch.randn(1, tokens + 1, d) * 0.1)
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
        self.head = nn.Linear(d, 3)

    def forward(self, x):
        t = torch.cat([self.cls.expand(x.shape[0], -1, -1), self.embed(x)], 1) + self.pos
        h = self.ln1(t)
        t = t + self.attn(h, h, h, need_weights=False)[0]
        t = t + self.mlp(self.ln2(t))
        return self.head(t[:, 0])


class TimmAttention(nn.Module):
    """timm's Attention: packed qkv reshaped to [B, N, 3, H, Dh] and permuted, unbind, scale."""

    def __init__(self, d=16, heads=2):
        super().__init__()
        self.heads, self.scale = heads, (d // heads) ** -0.5
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        a = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((a @ v).transpose(1, 2).reshape(b, n, c))


class TimmViT(nn.Module):
    def __init__(self, d=16):
        super().__init__()
        self.embed, self.norm, self.attn = nn.Linear(12, d), nn.LayerNorm(d), TimmAttention(d)
        self.head = nn.Linear(d, 3)

    def forward(self, x):
        t = self.embed(x)
        t = t + self.attn(self.norm(t))
        return self.head(t.mean(1))


VITS = {"mha": MHAViT, "timm": TimmViT}


@pytest.mark.parametrize("exporter", sorted(EXPORTERS))
@pytest.mark.parametrize("name", sorted(VITS))
def test_vits_train_like_torch(name, exporter):
    torch.manual_seed(9)
    model = VITS[name]().eval()
    proto = EXPORTERS[exporter](model, torch.zeros(2, 4, 12))
    x = np.random.default_rng(10).standard_normal((3, 4, 12)).astype(np.float32)
    assert_trains_like_torch(model, proto, x, np.array([0, 2, 1]))


@pytest.mark.parametrize("name", ["mha", "timm", "seqpool"])
def test_vits_run_in_c(tmp_path, name):
    torch.manual_seed(9)
    model = {**VITS, "seqpool": SeqPool}[name]().eval()
    shape = (5, 6) if name == "seqpool" else (4, 12)
    x = np.random.default_rng(11).standard_normal((4,) + shape).astype(np.float32)
    assert_runs_in_c(tmp_path, model, torch.zeros((2,) + shape), x, np.array([0, 1, 2, 1]))


@pytest.mark.parametrize("exporter", sorted(EXPORTERS))
def test_class_token_and_packed_qkv_train_like_torch(exporter):
    torch.manual_seed(6)
    model = ClassToken().eval()
    proto = EXPORTERS[exporter](model, torch.zeros(2, 4, 6))
    x = np.random.default_rng(7).standard_normal((3, 4, 6)).astype(np.float32)
    res = assert_trains_like_torch(model, proto, x, np.array([0, 2, 1]))
    assert "cls" in res["graph"].meta["trainable"]
    assert {"concat", "slice"} <= {n.op for n in res["graph"].nodes}


def test_class_token_runs_in_c(tmp_path):
    torch.manual_seed(6)
    model = ClassToken().eval()
    x = np.random.default_rng(8).standard_normal((4, 4, 6)).astype(np.float32)
    assert_runs_in_c(tmp_path, model, torch.zeros(2, 4, 6), x, np.array([0, 1, 2, 1]))


class SeqPool(nn.Module):
    """The CCT authors' sequence pooling: softmax of a score over the tokens (dim=1), the
    tokens' weighted sum, a classifier."""

    def __init__(self, d=8):
        super().__init__()
        self.embed, self.score, self.fc = nn.Linear(6, d), nn.Linear(d, 1), nn.Linear(d, 3)

    def forward(self, x):
        t = torch.relu(self.embed(x))
        w = torch.softmax(self.score(t), dim=1)               # [B, T, 1], over the tokens
        return self.fc(torch.matmul(w.transpose(-1, -2), t).squeeze(-2))


@pytest.mark.parametrize("exporter", sorted(EXPORTERS))
def test_softmax_over_the_tokens_trains_like_torch(exporter):
    torch.manual_seed(12)
    model = SeqPool().eval()
    proto = EXPORTERS[exporter](model, torch.zeros(2, 5, 6))
    x = np.random.default_rng(13).standard_normal((3, 5, 6)).astype(np.float32)
    assert_trains_like_torch(model, proto, x, np.array([0, 2, 1]))
