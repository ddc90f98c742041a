"""The model zoo: edge models as their authors write them in PyTorch, at the sizes they are
published (``full``) and reduced for the tests (``small``): MLPerf Tiny's ResNet-8, DS-CNN,
MobileNetV1 0.25 and Deep-AE with BatchNorm1d, a ViT with nn.MultiheadAttention and a class
token, a timm-style ViT with mean pooling, and a CCT laid out as its authors' code is.

``tools/bench.py --zoo`` trains every model with every strategy that applies and measures it;
the compiler tests train the small ones against PyTorch autograd (tests/compiler/).
``export(name, size, folder)`` writes the TorchScript export and a data set for ``train``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


# --- MLPerf Tiny CNNs -----------------------------------------------------------------------
def conv_bn(cin, cout, k, stride=1, groups=1, bn=True):
    """Convolution, BatchNorm (or none: then the convolution has a bias), ReLU."""
    conv = nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=not bn)
    return nn.Sequential(conv, nn.BatchNorm2d(cout), nn.ReLU()) if bn else nn.Sequential(conv, nn.ReLU())


class ResBlock(nn.Module):
    def __init__(self, cin, cout, stride, bn=True):
        super().__init__()
        norm = nn.BatchNorm2d if bn else lambda c: nn.Identity()
        self.c1, self.b1 = nn.Conv2d(cin, cout, 3, stride, 1), norm(cout)
        self.c2, self.b2 = nn.Conv2d(cout, cout, 3, 1, 1), norm(cout)
        self.sc = nn.Conv2d(cin, cout, 1, stride) if stride != 1 or cin != cout else None

    def forward(self, x):
        y = self.b2(self.c2(torch.relu(self.b1(self.c1(x)))))
        return torch.relu(y + (self.sc(x) if self.sc is not None else x))


class ResNet8(nn.Module):
    """MLPerf Tiny image classification: a stem and three residual stages of 16/32/64 channels,
    average pooling over the whole map (32x32 CIFAR-10 inputs)."""

    def __init__(self, bn=True, classes=10, img=32):
        super().__init__()
        self.stem = conv_bn(3, 16, 3, bn=bn)
        self.blocks = nn.Sequential(ResBlock(16, 16, 1, bn), ResBlock(16, 32, 2, bn),
                                    ResBlock(32, 64, 2, bn))
        self.pool, self.fc = nn.AvgPool2d(img // 4), nn.Linear(64, classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.blocks(self.stem(x))), 1))


class DSCNN(nn.Module):
    """MLPerf Tiny keyword spotting: a 10x4 stem, depthwise-separable blocks, global pooling
    (49x10 MFCC inputs, 64 channels, 4 blocks)."""

    def __init__(self, bn=True, c=64, blocks=4, classes=12):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, c, (10, 4), (2, 2), (5, 1)),
                                  nn.BatchNorm2d(c) if bn else nn.Identity(), nn.ReLU())
        self.blocks = nn.Sequential(*[nn.Sequential(conv_bn(c, c, 3, groups=c, bn=bn),
                                                    conv_bn(c, c, 1, bn=bn))
                                      for _ in range(blocks)])
        self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(c, classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.blocks(self.stem(x))), 1))


MOBILENET_V1 = [(32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1),
                (256, 512, 2)] + [(512, 512, 1)] * 5 + [(512, 1024, 2), (1024, 1024, 1)]


class MobileNetV1(nn.Module):
    """MobileNetV1 (MLPerf Tiny visual wake words: width 0.25, 96x96 inputs, 2 classes): a
    stride-2 stem, depthwise-separable layers ``cfg`` (input, output channels, stride) at
    ``width``, global pooling."""

    def __init__(self, bn=True, classes=2, width=0.25, cfg=tuple(MOBILENET_V1)):
        super().__init__()
        w = [(max(1, int(a * width)), max(1, int(b * width)), s) for a, b, s in cfg]
        layers = [conv_bn(3, w[0][0], 3, 2, bn=bn)]
        for cin, cout, s in w:
            layers += [conv_bn(cin, cin, 3, s, groups=cin, bn=bn), conv_bn(cin, cout, 1, bn=bn)]
        self.features = nn.Sequential(*layers)
        self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(w[-1][1], classes)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


class DeepAEBN(nn.Module):
    """MLPerf Tiny anomaly detection's autoencoder as it defines it: Linear, BatchNorm1d, ReLU
    (640-128x4-8-128x4-640)."""

    def __init__(self, d=640, h=128, z=8, depth=4):
        super().__init__()
        dims = [d] + [h] * depth + [z] + [h] * depth
        layers = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(h, d))

    def forward(self, x):
        return self.net(x)


# --- transformers ---------------------------------------------------------------------------
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
    def __init__(self, d, heads, mlp=2):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(d), Attention(d, heads)
        self.norm2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, mlp * d), nn.GELU(), nn.Linear(mlp * d, d))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TimmViT(nn.Module):
    """A timm-style ViT on patch vectors [B, tokens, patch]: patch embedding, position
    embedding, a list of blocks, mean pooling over the tokens (``cls``: a class token and the
    head on it instead)."""

    def __init__(self, d=64, depth=4, heads=4, tokens=64, patch=48, classes=10, cls=False):
        super().__init__()
        self.patch_embed = nn.Linear(patch, d)
        self.cls_token = nn.Parameter(torch.randn(1, 1, d) * 0.5) if cls else None
        self.pos_embed = nn.Parameter(torch.randn(1, tokens + int(cls), d) * 0.1)
        self.blocks = nn.Sequential(*[TimmBlock(d, heads) for _ in range(depth)])
        self.norm, self.head = nn.LayerNorm(d), nn.Linear(d, classes)

    def forward(self, x):
        t = self.patch_embed(x)
        if self.cls_token is not None:
            t = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), t], 1)
        t = self.norm(self.blocks(t + self.pos_embed))
        return self.head(t[:, 0] if self.cls_token is not None else t.mean(1))


class MHABlock(nn.Module):
    """A pre-norm encoder block with torch's nn.MultiheadAttention."""

    def __init__(self, d, heads, mlp=2):
        super().__init__()
        self.ln1, self.attn = nn.LayerNorm(d), nn.MultiheadAttention(d, heads, batch_first=True)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, mlp * d), nn.GELU(), nn.Linear(mlp * d, d))

    def forward(self, x):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln2(x))


class MHAViT(nn.Module):
    """A ViT the torch way: class token, position embedding, nn.MultiheadAttention blocks in a
    ModuleList, the head on the class token."""

    def __init__(self, d=64, depth=4, heads=4, tokens=64, patch=48, classes=10):
        super().__init__()
        self.embed = nn.Linear(patch, d)
        self.cls = nn.Parameter(torch.randn(1, 1, d) * 0.5)
        self.pos = nn.Parameter(torch.randn(1, tokens + 1, d) * 0.1)
        self.layers = nn.ModuleList([MHABlock(d, heads) for _ in range(depth)])
        self.head = nn.Linear(d, classes)

    def forward(self, x):
        t = torch.cat([self.cls.expand(x.shape[0], -1, -1), self.embed(x)], 1) + self.pos
        for layer in self.layers:
            t = layer(t)
        return self.head(t[:, 0])


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
    """The CCT authors' TransformerClassifier with sequence pooling."""

    def __init__(self, d, depth, heads, tokens, classes, mlp=1):
        super().__init__()
        self.positional_emb = nn.Parameter(torch.randn(1, tokens, d) * 0.1)
        self.blocks = nn.ModuleList([EncoderLayer(d, heads, mlp * d) for _ in range(depth)])
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
    """A CCT laid out as its authors' code is (CCT-2/3x2 by default: two 3x3 conv, ReLU,
    max-pool stages of 64 and 128 channels on 32x32 images, two blocks of 128 with 2 heads):
    tokenizer.conv_layers flattened to tokens, a classifier with sequence pooling."""

    def __init__(self, d=128, depth=2, heads=2, classes=10, img=32, stem=64, mlp=1):
        super().__init__()
        self.tokenizer = nn.Module()
        self.tokenizer.conv_layers = nn.Sequential(
            nn.Sequential(nn.Conv2d(3, stem, 3, padding=1, bias=False), nn.ReLU(),
                          nn.MaxPool2d(3, 2, 1)),
            nn.Sequential(nn.Conv2d(stem, d, 3, padding=1, bias=False), nn.ReLU(),
                          nn.MaxPool2d(3, 2, 1)))
        self.classifier = Classifier(d, depth, heads, (img // 4) ** 2, classes, mlp)

    def forward(self, x):
        t = self.tokenizer.conv_layers(x).flatten(2).transpose(-2, -1)
        return self.classifier(t)


# --- the zoo --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ZooModel:
    title: str
    make: dict            # size -> () -> nn.Module
    shape: dict           # size -> one sample's input shape
    classes: int          # 0: an autoencoder (MSE on its input)
    strategies: tuple     # every strategy that applies


def _bn_stats(model: nn.Module) -> nn.Module:
    """BatchNorm statistics of a trained model rather than the identity, fixed seed."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.rand(m.num_features, generator=g) * 0.4 - 0.2)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return model


CNN = ("last", "blocks:1", "all")
VIT = ("last", "blocks:1", "lora:r=4", "all")
SMALL_MOBILENET = ((8, 16, 1), (16, 32, 2), (32, 32, 1), (32, 64, 2))

ZOO = {
    "resnet8": ZooModel("MLPerf Tiny ResNet-8", {"full": lambda: ResNet8(),
                                                 "small": lambda: ResNet8(img=16)},
                        {"full": (3, 32, 32), "small": (3, 16, 16)}, 10, CNN),
    "dscnn": ZooModel("MLPerf Tiny DS-CNN", {"full": lambda: DSCNN(),
                                             "small": lambda: DSCNN(c=16, blocks=2)},
                      {"full": (1, 49, 10), "small": (1, 20, 10)}, 12, CNN),
    "mobilenet": ZooModel("MLPerf Tiny MobileNetV1 0.25", {
        "full": lambda: MobileNetV1(), "small": lambda: MobileNetV1(width=1.0, cfg=SMALL_MOBILENET)},
        {"full": (3, 96, 96), "small": (3, 24, 24)}, 2, CNN),
    "deep_ae_bn": ZooModel("MLPerf Tiny Deep-AE (BatchNorm1d)", {
        "full": lambda: DeepAEBN(), "small": lambda: DeepAEBN(20, 12, 4, 2)},
        {"full": (640,), "small": (20,)}, 0, ("last", "all")),
    "vit_mha": ZooModel("ViT, nn.MultiheadAttention, class token", {
        "full": lambda: MHAViT(), "small": lambda: MHAViT(16, 2, 2, 4, 12, 3)},
        {"full": (64, 48), "small": (4, 12)}, 10, VIT),
    "vit_timm": ZooModel("timm-style ViT, mean pooling", {
        "full": lambda: TimmViT(), "small": lambda: TimmViT(16, 2, 2, 4, 12, 3)},
        {"full": (64, 48), "small": (4, 12)}, 10, VIT),
    "cct_authors": ZooModel("CCT-2/3x2 as its authors wrote it", {
        "full": lambda: AuthorsCCT(), "small": lambda: AuthorsCCT(16, 2, 2, 4, 8, 8, 2)},
        {"full": (3, 32, 32), "small": (3, 8, 8)}, 10, VIT),
}


def build(name: str, size: str = "full", seed: int = 0) -> nn.Module:
    """The zoo model in eval mode, initialized from ``seed`` (BatchNorm with statistics)."""
    torch.manual_seed(seed)
    return _bn_stats(ZOO[name].make[size]()).eval()


def export(name: str, size: str, folder: str, samples: int = 8) -> tuple[str, str]:
    """The model's TorchScript export (``export.export_onnx``: opset 17, dynamic batch) and a
    data set of ``samples`` random inputs with labels (or targets) in ``folder``: (onnx path,
    npz path). Reused when they are there from the same zoo source (the file names carry a
    hash of this file, so an edited model is exported again)."""
    import hashlib
    import warnings

    from .export import export_onnx

    z = ZOO[name]
    with open(__file__, "rb") as f:
        tag = hashlib.sha256(f.read()).hexdigest()[:8]
    path = os.path.join(folder, f"{name}_{size}_{tag}.onnx")
    data = os.path.join(folder, f"{name}_{size}_{tag}.npz")
    if not (os.path.exists(path) and os.path.exists(data)):
        os.makedirs(folder, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            export_onnx(build(name, size), torch.zeros((1,) + z.shape[size]), path)
        rng = np.random.default_rng(3)
        x = rng.standard_normal((samples,) + z.shape[size]).astype(np.float32)
        if z.classes:
            np.savez(data, input=x, labels=rng.integers(0, z.classes, samples))
        else:
            np.savez(data, input=x, target=x)
    return path, data
