"""CCT-2/3x2 (Compact Convolutional Transformer, Hassani et al. 2021) for 3x32x32 inputs.

Configuration of the paper's CIFAR model "CCT-2/3x2" as TrainDeeploy trains it:
- tokenizer: two stages of 3x3 conv (stride 1, pad 1, no bias) + ReLU + 3x3/stride-2 max-pool
  (pad 1); channels 3 -> 64 -> 128, so 32x32 -> 16x16 -> 8x8 = 64 tokens of dim 128;
- a learnable positional embedding (64 x 128);
- 2 transformer blocks, dim 128, 2 heads, MLP ratio 1, GELU, in CCT's arrangement
  x = x + attn(pre_norm(x)); x = norm1(x); x = x + fc2(gelu(fc1(x)));
- final LayerNorm, sequence pooling (softmax attention over tokens), linear classifier.

The attention uses four separate projections q, k, v, o (each nn.Linear with bias): the same
function and parameter count as nn.MultiheadAttention's packed in-projection, but every
projection is its own initializer, so LoRA targets and per-block strategies name them directly.
The softmax of sequence pooling is taken over the last axis (the pooling logits are transposed
first), which is the same function as CCT's softmax over the token axis.
Parameters: 284,491 (276,299 without the positional embedding).
"""
from __future__ import annotations

import torch
from torch import nn


class Attention(nn.Module):
    """Multi-head self-attention with separate q, k, v, o projections."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.dh = dim // heads
        self.scale = self.dh ** -0.5
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.o = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q = self.q(x).reshape(b, n, self.heads, self.dh).transpose(1, 2)
        k = self.k(x).reshape(b, n, self.heads, self.dh).transpose(1, 2)
        v = self.v(x).reshape(b, n, self.heads, self.dh).transpose(1, 2)
        att = torch.softmax((q @ k.transpose(-2, -1)) * self.scale, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, n, c)
        return self.o(y)


class Block(nn.Module):
    """CCT transformer encoder layer (pre-norm attention, post-norm MLP)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.pre_norm = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm1 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.pre_norm(x))
        x = self.norm1(x)
        return x + self.fc2(self.act(self.fc1(x)))


class Tokenizer(nn.Module):
    """Convolutional tokenizer: (conv3x3 + ReLU + maxpool3x3/2) per stage, then flatten to tokens."""

    def __init__(self, in_ch: int, channels: tuple[int, ...]):
        super().__init__()
        layers = []
        prev = in_ch
        for ch in channels:
            layers += [nn.Conv2d(prev, ch, 3, 1, 1, bias=False), nn.ReLU(),
                       nn.MaxPool2d(3, 2, 1)]
            prev = ch
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return y.flatten(2).transpose(1, 2)


class CCT(nn.Module):
    """Compact Convolutional Transformer; defaults give CCT-2/3x2 for 3x32x32 images, 10 classes."""

    def __init__(self, img: int = 32, in_ch: int = 3, channels: tuple[int, ...] = (64, 128),
                 blocks: int = 2, heads: int = 2, mlp_ratio: float = 1.0, classes: int = 10):
        super().__init__()
        dim = channels[-1]
        side = img
        for _ in channels:
            side = (side + 2 - 3) // 2 + 1
        self.tokenizer = Tokenizer(in_ch, channels)
        self.pos_emb = nn.Parameter(torch.empty(1, side * side, dim))
        nn.init.trunc_normal_(self.pos_emb, std=0.2)
        self.blocks = nn.ModuleList([Block(dim, heads, mlp_ratio) for _ in range(blocks)])
        self.norm = nn.LayerNorm(dim)
        self.attention_pool = nn.Linear(dim, 1)
        self.fc = nn.Linear(dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.tokenizer(x) + self.pos_emb
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        w = torch.softmax(self.attention_pool(x).transpose(1, 2), dim=-1)  # [B, 1, N]
        x = (w @ x).flatten(1)                                               # [B, D]
        return self.fc(x)


def cct_2_3x2(seed: int = 0) -> CCT:
    """CCT-2/3x2 with a fixed-seed initial weight set (PyTorch's default initializers)."""
    torch.manual_seed(seed)
    return CCT().eval()
