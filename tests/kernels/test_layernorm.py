"""LayerNorm over the last axis: forward (y, mean, rstd) and backward (dx, dgamma, dbeta) against
PyTorch autograd in float64, with and without the affine parameters.

Tolerance: |err| <= 2e-5 * scale (scale = largest reference magnitude; fp32 row reductions of
up to a few hundred terms)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from et.kclient import Out

SHAPES = [(1, 1), (3, 5), (64, 128), (13, 33), (7, 257)]


def _close(got, ref, what):
    scale = max(float(np.abs(ref).max()), 1e-3)
    err = float(np.abs(got - ref).max())
    assert err <= 2e-5 * scale, f"{what}: {err:.3g} vs scale {scale:.3g}"


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("affine", [True, False])
def test_layernorm(backend, rng, shape, affine):
    if backend.is_qemu and (shape != (13, 33) or not affine):
        pytest.skip("host-only shape")
    r, d = shape
    eps = 1e-5
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(np.float32)
    g = rng.standard_normal(d).astype(np.float32)
    b = rng.standard_normal(d).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    gt = torch.tensor(g, dtype=torch.float64, requires_grad=True)
    bt = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    yt = torch.nn.functional.layer_norm(xt, (d,), gt if affine else None, bt if affine else None, eps)
    yt.backward(torch.tensor(dy, dtype=torch.float64))
    gi, bi = (g, b) if affine else (None, None)
    (y, mean, rstd), _ = backend.call("layernorm.fwd", [r, d], [x, gi, bi, Out(shape), Out((r,)), Out((r,))],
                                      floats=[eps])
    _close(y, yt.detach().numpy(), "y")
    x64 = x.astype(np.float64)
    _close(mean, x64.mean(-1), "mean")
    _close(rstd, 1 / np.sqrt(x64.var(-1) + eps), "rstd")
    (dx, dg, db), _ = backend.call("layernorm.bwd", [r, d],
                                   [x, gi, mean, rstd, dy, Out(shape), Out((d,)), Out((d,))])
    _close(dx, xt.grad.numpy(), "dx")
    if affine:
        _close(dg, gt.grad.numpy(), "dgamma")
        _close(db, bt.grad.numpy(), "dbeta")
    # the weight gradients alone (dx NULL, gamma unused): bit-identical to the full call's
    (dg2, db2), _ = backend.call("layernorm.bwd", [r, d],
                                 [x, None, mean, rstd, dy, None, Out((d,)), Out((d,))])
    assert np.array_equal(dg2, dg) and np.array_equal(db2, db)
    # the weight-gradient kernel: whole, and on chunks of rows that add into the first's sums
    # (the compiler's L3 chunks): bit-identical to the full call's
    (dg3, db3), _ = backend.call("layernorm.wgrad", [r, d, 0],
                                 [x, mean, rstd, dy, Out((d,)), Out((d,))])
    assert np.array_equal(dg3, dg) and np.array_equal(db3, db)
    dg4, db4 = np.full(d, np.nan, np.float32), np.full(d, np.nan, np.float32)
    for r0 in range(0, r, 5):
        r1 = min(r, r0 + 5)
        (dg4, db4), _ = backend.call("layernorm.wgrad", [r1 - r0, d, int(r0 > 0)],
                                     [x[r0:r1], mean[r0:r1], rstd[r0:r1], dy[r0:r1],
                                      Out(init=dg4), Out(init=db4)])
    assert np.array_equal(dg4, dg) and np.array_equal(db4, db)


def test_layernorm_bad_arguments(backend):
    if backend.is_qemu:
        pytest.skip("host check")
    s = np.full(6, 7.0, np.float32)
    x = np.ones(6, np.float32)
    (out, _, _), perf = backend.call("layernorm.fwd", [0, 6], [x, None, None, Out(init=s), Out((1,)), Out((1,))],
                                floats=[1e-5], check=False)
    assert perf.status == -1 and np.array_equal(out, s)
    (out, _, _), perf = backend.call("layernorm.fwd", [2, 3], [x, None, None, Out(init=s), Out((2,)), Out((2,))],
                                floats=[-1.0], check=False)
    assert perf.status == -1 and np.array_equal(out, s)
    (out,), perf = backend.call("layernorm.bwd", [2, 3], [x, None, None, x, x, Out(init=s), None, None],
                                check=False)
    assert perf.status == -1 and np.array_equal(out, s)
    # nothing asked for (dx, dgamma and dbeta NULL)
    _, perf = backend.call("layernorm.bwd", [2, 3], [x, None, x, x, x, None, None, None], check=False)
    assert perf.status == -1
    _, perf = backend.call("layernorm.wgrad", [2, 3, 1], [x, x, x, x, None, None], check=False)
    assert perf.status == -1
    (out,), perf = backend.call("layernorm.wgrad", [0, 3, 0], [x, x, x, x, Out(init=s), None],
                                  check=False)
    assert perf.status == -1 and np.array_equal(out, s)
