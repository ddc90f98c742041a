"""Softmax cross-entropy (integer labels, mean over the batch) and MSE, forward (loss) and
backward, against PyTorch autograd in float64.

Tolerances: loss |err| <= 2e-6 * (1 + |loss|) (per-row log-sum-exp with the fast exp, then an
fp32 mean); gradients |err| <= 1e-6 * max|ref| + 1e-8."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from et.kclient import Out

def _lab(labels):
    """Labels travel as float32 words holding the int32 bit patterns."""
    return np.asarray(labels, np.int32).view(np.float32)


SHAPES = [(1, 1), (1, 10), (7, 3), (64, 10), (33, 129)]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_softmax_xent(backend, rng, shape):
    if backend.is_qemu and shape != (7, 3):
        pytest.skip("host-only shape")
    b, c = shape
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    lab = rng.integers(0, c, b).astype(np.int32)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    lt = torch.nn.functional.cross_entropy(xt, torch.tensor(lab, dtype=torch.long))
    lt.backward(torch.tensor(0.5, dtype=torch.float64))
    (loss,), _ = backend.call("xent.fwd", [b, c], [x, _lab(lab), Out((1,))])
    assert abs(loss[0] - lt.item()) <= 2e-6 * (1 + abs(lt.item()))
    (dx,), _ = backend.call("xent.bwd", [b, c], [x, _lab(lab), Out(shape)], floats=[0.5])
    ref = xt.grad.numpy()
    assert np.abs(dx - ref).max() <= 1e-6 * np.abs(ref).max() + 1e-8


@pytest.mark.parametrize("n", [1, 5, 64, 1003])
def test_mse(backend, rng, n):
    if backend.is_qemu and n != 1003:
        pytest.skip("host-only shape")
    p = rng.standard_normal(n).astype(np.float32)
    t = rng.standard_normal(n).astype(np.float32)
    pt = torch.tensor(p, dtype=torch.float64, requires_grad=True)
    lt = torch.nn.functional.mse_loss(pt, torch.tensor(t, dtype=torch.float64))
    lt.backward()
    (loss,), _ = backend.call("mse.fwd", [n], [p, t, Out((1,))])
    assert abs(loss[0] - lt.item()) <= 2e-6 * (1 + abs(lt.item()))
    (dp,), _ = backend.call("mse.bwd", [n], [p, t, Out((n,))], floats=[1.0])
    ref = pt.grad.numpy()
    assert np.abs(dp - ref).max() <= 1e-6 * np.abs(ref).max() + 1e-8


def test_loss_bad_arguments(backend):
    if backend.is_qemu:
        pytest.skip("host check")
    s = np.full(6, 7.0, np.float32)
    x = np.ones(6, np.float32)
    one = np.full(1, 7.0, np.float32)
    (out,), perf = backend.call("xent.fwd", [2, 3], [x, _lab([0, 3]), Out(init=one)], check=False)  # label 3 >= 3
    assert perf.status == -1 and np.array_equal(out, one)
    (out,), perf = backend.call("xent.bwd", [2, 3], [x, _lab([-1, 0]), Out(init=s)], floats=[1.0], check=False)
    assert perf.status == -1 and np.array_equal(out, s)
    (out,), perf = backend.call("xent.fwd", [0, 3], [x, _lab([0]), Out(init=one)], check=False)
    assert perf.status == -1 and np.array_equal(out, one)
    (out,), perf = backend.call("mse.fwd", [0], [x, x, Out(init=one)], check=False)
    assert perf.status == -1 and np.array_equal(out, one)
    (out,), perf = backend.call("mse.bwd", [6], [x, None, Out(init=s)], floats=[1.0], check=False)
    assert perf.status == -1 and np.array_equal(out, s)
