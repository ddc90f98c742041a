"""Softmax over the last axis, forward and backward, against PyTorch autograd (float64).

Tolerance: fwd |err| <= 1e-6 * max(y) + 1e-7 per row (fast exp: 2.5e-7 relative, plus the
row sum); bwd |err| <= 2e-6 * max|dy|."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from et.kclient import Out

SHAPES = [(1, 1), (3, 7), (64, 64), (17, 129), (5, 1000)]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_softmax(backend, rng, shape):
    if backend.is_qemu and shape not in ((3, 7), (17, 129)):
        pytest.skip("host-only shape")
    r, c = shape
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    yt = torch.softmax(xt, -1)
    yt.backward(torch.tensor(dy, dtype=torch.float64))
    (y,), _ = backend.call("softmax.fwd", [r, c], [x, Out(shape)])
    assert np.abs(y - yt.detach().numpy()).max() <= 1e-6 * y.max() + 1e-7
    (dx,), _ = backend.call("softmax.bwd", [r, c], [y, dy, Out(shape)])
    assert np.abs(dx - xt.grad.numpy()).max() <= 2e-6 * max(np.abs(dy).max(), 1)


def test_softmax_large_logits_stable(backend):
    x = np.array([[1000.0, 999.0, -1000.0]], np.float32)
    (y,), _ = backend.call("softmax.fwd", [1, 3], [x, Out((1, 3))])
    ref = torch.softmax(torch.tensor(x, dtype=torch.float64), -1).numpy()
    assert np.all(np.isfinite(y)) and np.abs(y - ref).max() <= 1e-6


def test_softmax_bad_arguments(backend):
    if backend.is_qemu:
        pytest.skip("host check")
    s = np.full(6, 7.0, np.float32)
    x = np.ones(6, np.float32)
    for op, ints, ts in (("softmax.fwd", [0, 6], [x, Out(init=s)]), ("softmax.fwd", [2, 3], [None, Out(init=s)]),
                         ("softmax.bwd", [2, 0], [x, x, Out(init=s)]), ("softmax.bwd", [2, 3], [x, None, Out(init=s)])):
        (out,), perf = backend.call(op, ints, ts, check=False)
        assert perf.status == -1 and np.array_equal(out, s), (op, ints)
