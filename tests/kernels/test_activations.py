"""ReLU and GELU (exact and tanh) forward/backward against PyTorch autograd, and the accuracy of
the fast exp/erf/tanh/reciprocal approximations (et_fastmath.h) on dense grids against
double-precision references from Python's math module.

Tolerances: ReLU exact; GELU |err| <= 1e-6 * (1 + |x|) for y and 2e-6 * (1 + |x|) * |dy| for dx
(the approximations' bounds propagated through x * Phi(x)); fast math: the bounds documented
in et_fastmath.h."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from et.kclient import Out

SIZES = [1, 7, 64, 1001]


def test_relu(backend, rng):
    for n in SIZES if not backend.is_qemu else [37]:
        x = rng.standard_normal(n).astype(np.float32)
        x[: n // 3] = 0.0 if n > 3 else x[: n // 3]
        dy = rng.standard_normal(n).astype(np.float32)
        (y,), _ = backend.call("relu.fwd", [n], [x, Out((n,))])
        assert np.array_equal(y, np.maximum(x, 0))
        (dx,), _ = backend.call("relu.bwd", [n], [x, dy, Out((n,))])
        assert np.array_equal(dx, np.where(x > 0, dy, 0).astype(np.float32))


@pytest.mark.parametrize("mode,approx", [(0, "none"), (1, "tanh")])
def test_gelu(backend, rng, mode, approx):
    for n in SIZES if not backend.is_qemu else [53]:
        x = (rng.standard_normal(n) * 3).astype(np.float32)
        dy = rng.standard_normal(n).astype(np.float32)
        xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        yt = torch.nn.functional.gelu(xt, approximate=approx)
        yt.backward(torch.tensor(dy, dtype=torch.float64))
        (y,), _ = backend.call("gelu.fwd", [n, mode], [x, Out((n,))])
        (dx,), _ = backend.call("gelu.bwd", [n, mode], [x, dy, Out((n,))])
        ax = 1 + np.abs(x)
        assert np.all(np.abs(y - yt.detach().numpy()) <= 1e-6 * ax)
        assert np.all(np.abs(dx - xt.grad.numpy()) <= 2e-6 * ax * (1 + np.abs(dy)))


def test_activation_bad_arguments(backend):
    if backend.is_qemu:
        pytest.skip("host check")
    s = np.full(4, 7.0, np.float32)
    x = np.ones(4, np.float32)
    for op, ints, ts in (("relu.fwd", [0], [x, Out(init=s)]), ("relu.fwd", [4], [None, Out(init=s)]),
                         ("relu.bwd", [4], [x, None, Out(init=s)]),
                         ("gelu.fwd", [4, 2], [x, Out(init=s)]), ("gelu.fwd", [0, 0], [x, Out(init=s)]),
                         ("gelu.bwd", [4, 1], [None, x, Out(init=s)])):
        (out,), perf = backend.call(op, ints, ts, check=False)
        assert perf.status == -1 and np.array_equal(out, s), (op, ints)


# ---- fast math: dense grids (2^20 points per function on host) ----

def _grid(lo, hi, n):
    return np.linspace(lo, hi, n, dtype=np.float64).astype(np.float32)


def _eval(backend, fn, x):
    (y,), _ = backend.call("fastmath.eval", [len(x), fn], [x, Out((len(x),))])
    return y.astype(np.float64)


NPTS = 1 << 20


def _npts(backend):
    return 4096 if backend.is_qemu else NPTS


def test_fastmath_exp(backend):
    x = np.concatenate([_grid(-87.3, 88.7, _npts(backend)), _grid(-2, 2, _npts(backend) // 4)])
    ref = np.array([math.exp(v) for v in x.astype(np.float64)])
    rel = np.abs(_eval(backend, 0, x) - ref) / ref
    print(f"exp max rel error {rel.max():.3g}")
    assert rel.max() <= 2.5e-7
    special = np.array([-100.0, -87.34, 88.73, 100.0, 0.0, np.nan], np.float32)
    y = _eval(backend, 0, special)
    assert y[0] == 0 and y[1] == 0 and np.isinf(y[2]) and np.isinf(y[3]) and y[4] == 1 and np.isnan(y[5])


def test_fastmath_erf(backend):
    x = np.concatenate([_grid(-6, 6, _npts(backend)), _grid(-1e-3, 1e-3, 4097)])
    ref = np.array([math.erf(v) for v in x.astype(np.float64)])
    err = np.abs(_eval(backend, 1, x) - ref)
    nz = ref != 0
    print(f"erf max abs error {err.max():.3g}, max rel error {(err[nz] / np.abs(ref[nz])).max():.3g}")
    assert err.max() <= 2.5e-7
    assert (err[nz] / np.abs(ref[nz])).max() <= 3e-7
    assert np.all(_eval(backend, 1, np.array([1e30, -1e30, 0.0], np.float32)) == [1, -1, 0])


def test_fastmath_tanh(backend):
    x = np.concatenate([_grid(-12, 12, _npts(backend)), _grid(-1e-3, 1e-3, 4097)])
    ref = np.array([math.tanh(v) for v in x.astype(np.float64)])
    err = np.abs(_eval(backend, 2, x) - ref)
    nz = ref != 0
    print(f"tanh max abs error {err.max():.3g}, max rel error {(err[nz] / np.abs(ref[nz])).max():.3g}")
    assert err.max() <= 2.5e-7
    assert (err[nz] / np.abs(ref[nz])).max() <= 3e-7


def test_fastmath_recip(backend):
    d = np.exp2(_grid(-119, 119, _npts(backend)).astype(np.float64)).astype(np.float32)
    rel = np.abs(_eval(backend, 3, d) * d.astype(np.float64) - 1.0)
    print(f"recip max rel error {rel.max():.3g}")
    assert rel.max() <= 1.5e-7
