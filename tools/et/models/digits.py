"""The main job's adaptation task: CCT-2 pretrained on scikit-learn's digits, then a new sensor.

Data: the 1,797 handwritten digits (8x8, 16 grey levels) that scikit-learn ships in its wheel
(``sklearn.datasets.load_digits``: nothing is downloaded), upscaled to 16x16 (bilinear), split
once by a fixed permutation into
- ``pretrain`` (1,200 images, the *source* domain: the scans as they are, light ink on a dark
  background) on which the host pretrains the model with PyTorch;
- ``adapt`` (300 images) and ``held_out`` (297 images) in the *target* domain: the digits as a
  second sensor sees them, dark ink on a light background (a camera over paper instead of the
  scanner), slightly out of focus and noisy. The device trains on ``adapt`` only and measures
  its accuracy on ``held_out``, which it never trains on.

Model: CCT-2/3x2 (tools/et/models/cct.py) for 1x16x16 inputs, at half the paper's width (the
main job trains and evaluates it on the qemu board within minutes): 2 conv stages 1 -> 32 -> 64,
16 tokens of 64, 2 blocks of 2 heads, 10 classes. Inputs are normalized with the pretraining set's mean
and standard deviation (the same constants for both domains, as a deployed model would).
Pretraining needs PyTorch, scikit-learn and SciPy (``requirements.txt``); building and running
the app needs neither: its model.onnx and data.npz are committed.
"""
from __future__ import annotations

import numpy as np

PRETRAIN, ADAPT = 1200, 300          # images: pretraining; adaptation (the rest is held out)
SIDE = 16
CHANNELS = (32, 64)                  # the tokenizer's two stages; the last is the embedding
# the target domain: contrast inverted, Gaussian blur of this sigma (pixels at 16x16), this
# much Gaussian sensor noise (in the 0..1 pixel range)
BLUR, NOISE = 0.5, 0.15


def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as float32 [1797, 8, 8] in 0..1 and int64 labels, in a fixed
    shuffled order (seed 0)."""
    from sklearn.datasets import load_digits
    d = load_digits()
    order = np.random.default_rng(0).permutation(len(d.target))
    return (d.images[order] / 16.0).astype(np.float32), d.target[order].astype(np.int64)


def upscale(images: np.ndarray) -> np.ndarray:
    """[n, 8, 8] -> [n, 16, 16], bilinear."""
    from scipy import ndimage
    return np.stack([ndimage.zoom(a, SIDE / a.shape[0], order=1) for a in images]).astype(np.float32)


def source_domain(images: np.ndarray) -> np.ndarray:
    """The pretraining domain: the scans upscaled, 0..1."""
    return upscale(images)


def target_domain(images: np.ndarray, seed: int) -> np.ndarray:
    """The second sensor: inverted contrast, blurred, noisy (noise drawn with ``seed``)."""
    from scipy import ndimage
    rng = np.random.default_rng(seed)
    out = []
    for a in upscale(images):
        a = ndimage.gaussian_filter(a, BLUR)
        out.append(1.0 - a + 0.25 + NOISE * rng.standard_normal(a.shape))
    return np.stack(out).astype(np.float32)


def splits() -> dict[str, np.ndarray]:
    """Every array of the task, normalized (mean and std of the pretraining images), [n, 1, 16, 16]."""
    x, y = digits()
    src = source_domain(x[:PRETRAIN])
    mu, sd = float(src.mean()), float(src.std())

    def norm(a):
        return ((a - mu) / sd).astype(np.float32)[:, None]

    rest = slice(PRETRAIN + ADAPT, None)
    return {"pretrain_x": norm(src), "pretrain_y": y[:PRETRAIN],
            "adapt_x": norm(target_domain(x[PRETRAIN:PRETRAIN + ADAPT], seed=1)),
            "adapt_y": y[PRETRAIN:PRETRAIN + ADAPT],
            "held_out_x": norm(target_domain(x[rest], seed=2)), "held_out_y": y[rest],
            "held_out_source_x": norm(source_domain(x[rest])), "mean": np.float32(mu),
            "std": np.float32(sd)}


def pretrain(data: dict, epochs: int = 15, seed: int = 0):
    """CCT-2/3x2 (1x16x16, CHANNELS) trained on the source domain with AdamW (lr 1e-3, weight decay
    0.01, batch 32); returns the model in eval mode."""
    import torch
    import torch.nn.functional as F

    from .cct import CCT
    torch.manual_seed(seed)
    model = CCT(img=SIDE, in_ch=1, channels=CHANNELS)
    opt = torch.optim.AdamW(model.parameters(), 1e-3, weight_decay=0.01)
    x = torch.tensor(data["pretrain_x"])
    y = torch.tensor(data["pretrain_y"])
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(y))
        for i in range(0, len(y), 32):
            idx = order[i:i + 32]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of a PyTorch model on normalized images."""
    import torch
    with torch.no_grad():
        return float((model(torch.tensor(x)).argmax(1).numpy() == y).mean())
