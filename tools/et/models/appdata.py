"""Fixed-seed synthetic data sets and the ONNX files of the apps (used by apps/*/model.py).

- CCT apps: 32 images 3x32x32 of 10 classes; class c is a pattern of oriented stripes whose
  angle and frequency depend on c, in a class-dependent colour, plus Gaussian noise (learnable
  by a small CNN, not trivially separable by mean colour alone). ``labels`` int64 [32].
- deep_ae: 64 vectors of 640 = 5 frames x 128 "mel bins": smooth spectra with 2-3 peaks,
  normalised; ``target`` equals ``input`` (autoencoder).
The ONNX is exported with do_constant_folding=False so every initializer keeps its PyTorch
name (a MatMul weight appears as Transpose(<module>.weight), which the importer folds into
its linear layer), and with a dynamic batch axis (the compiler fixes the batch size).
"""
from __future__ import annotations

import os

import numpy as np
import torch

from .cct import cct_2_3x2
from .deep_ae import deep_ae
from .export import export_onnx


def cct_data(n: int = 32, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32) / 32.0
    images = np.empty((n, 3, 32, 32), np.float32)
    for i, c in enumerate(labels):
        ang = np.pi * c / 10.0
        freq = 2.0 + (c % 3)
        phase = rng.uniform(0, 2 * np.pi)
        wave = np.sin(2 * np.pi * freq * (np.cos(ang) * xx + np.sin(ang) * yy) + phase)
        colour = np.array([np.cos(c), np.sin(c), np.cos(2 * c)], np.float32)
        images[i] = colour[:, None, None] * wave + 0.3 * rng.standard_normal((3, 32, 32))
    return {"input": images.astype(np.float32), "labels": labels.astype(np.int64)}


def ae_data(n: int = 64, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    bins = np.arange(128, dtype=np.float32)
    x = np.empty((n, 640), np.float32)
    for i in range(n):
        spec = np.zeros(128, np.float32)
        for _ in range(rng.integers(2, 4)):
            mu, sd, amp = rng.uniform(5, 120), rng.uniform(2, 10), rng.uniform(0.5, 1.0)
            spec += amp * np.exp(-0.5 * ((bins - mu) / sd) ** 2)
        frames = [spec * rng.uniform(0.8, 1.2) + 0.02 * rng.standard_normal(128) for _ in range(5)]
        x[i] = np.concatenate(frames)
    x = (x - x.mean()) / x.std()
    return {"input": x.astype(np.float32), "target": x.astype(np.float32)}


def write_app(folder: str, model: str) -> None:
    """Write ``model.onnx`` and ``data.npz`` of an app folder (model: 'cct' or 'deep_ae')."""
    if model == "cct":
        net, example, data = cct_2_3x2(seed=0), torch.zeros(1, 3, 32, 32), cct_data()
    elif model == "deep_ae":
        net, example, data = deep_ae(seed=0), torch.zeros(1, 640), ae_data()
    else:
        raise ValueError(f"unknown model {model} (cct, deep_ae)")
    export_onnx(net, example, os.path.join(folder, "model.onnx"), constant_folding=False)
    np.savez_compressed(os.path.join(folder, "data.npz"), **data)
    print(f"{folder}: model.onnx ({sum(p.numel() for p in net.parameters())} parameters), "
          f"data.npz ({len(data['input'])} samples)")
