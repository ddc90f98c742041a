"""LoRA adapter (et_lora.h) vs PyTorch autograd: Y += scale·(X·A)·B forward, dX/dA/dB backward,
with overwrite and accumulate of dA/dB, odd shapes, and bad arguments. Tolerance: atol
2e-6·k + 1e-5 (fp32 sums over k terms of unit-normal products), rtol 1e-5."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from et.kclient import Out

ET_ERR_ARG = -1


def f32(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def tol(k):
    return 2e-6 * k + 1e-5


def lora_case(backend, rng, rows, fin, fout, rank, scale, acc, with_dx=True):
    x, a, b = f32(rng, rows, fin), f32(rng, fin, rank), f32(rng, rank, fout)
    y0, dy = f32(rng, rows, fout), f32(rng, rows, fout)
    dx0, da0, db0 = f32(rng, rows, fin), f32(rng, fin, rank), f32(rng, rank, fout)
    ints = [rows, fin, fout, rank, acc]
    (h, y), _ = backend.call("lora.fwd", ints, [x, a, b, Out((rows, rank)), Out(init=y0)],
                             floats=[scale])
    dx_t = Out(init=dx0) if with_dx else np.zeros(0, np.float32)
    outs, _ = backend.call("lora.bwd", ints, [x, a, b, h, dy, Out((rows, rank)), dx_t,
                                              Out(init=da0), Out(init=db0)], floats=[scale])
    if with_dx:
        _dh, dx, da, db = outs
    else:
        _dh, da, db = outs
    xt, at, bt = (torch.from_numpy(v).double().requires_grad_() for v in (x, a, b))
    yt = torch.from_numpy(y0).double() + scale * (xt @ at) @ bt
    yt.backward(torch.from_numpy(dy).double())
    k = max(fin, fout, rows)
    np.testing.assert_allclose(y, yt.detach().numpy(), atol=tol(k) * max(1, scale), rtol=1e-5)
    np.testing.assert_allclose(h, x.astype(np.float64) @ a, atol=tol(fin), rtol=1e-5)
    if with_dx:
        np.testing.assert_allclose(dx, dx0 + xt.grad.numpy(), atol=tol(k) * 4, rtol=1e-5)
    np.testing.assert_allclose(da, (da0 if acc else 0) + at.grad.numpy(), atol=tol(k) * 4, rtol=1e-5)
    np.testing.assert_allclose(db, (db0 if acc else 0) + bt.grad.numpy(), atol=tol(k), rtol=1e-5)


@pytest.mark.parametrize("acc", [0, 1], ids=["set", "accumulate"])
def test_lora_fwd_bwd(backend, rng, acc):
    shapes = [(5, 7, 3, 2)] if backend.is_qemu else [(1, 1, 1, 1), (64, 128, 128, 8),
                                                     (63, 127, 65, 4), (7, 3, 65, 1), (65, 33, 17, 16)]
    for rows, fin, fout, rank in shapes:
        lora_case(backend, rng, rows, fin, fout, rank, scale=0.5, acc=acc)


def test_lora_no_dx(host_client, make_backend, rng):
    lora_case(make_backend(host_client, 8), rng, 9, 10, 11, 3, scale=2.0, acc=1, with_dx=False)


@pytest.mark.parametrize("bad", ["rows0", "rank0", "null_x", "null_dh"])
def test_lora_bad_args(backend, rng, bad):
    rows, fin, fout, rank = 4, 5, 6, 2
    ints = [0 if bad == "rows0" else rows, fin, fout, 0 if bad == "rank0" else rank, 0]
    x = np.zeros(0, np.float32) if bad == "null_x" else f32(rng, rows, fin)
    a, b, h, dy = f32(rng, fin, rank), f32(rng, rank, fout), f32(rng, rows, rank), f32(rng, rows, fout)
    y0, da0 = f32(rng, rows, fout), f32(rng, fin, rank)
    outs, perf = backend.call("lora.fwd", ints, [x, a, b, Out((rows, rank)), Out(init=y0)],
                              floats=[1.0], check=False)
    if bad != "null_dh":
        assert perf.status == ET_ERR_ARG
        assert np.array_equal(outs[1], y0)
    dh = Out(0) if bad == "null_dh" else Out((rows, rank))
    outs, perf = backend.call("lora.bwd", ints, [x, a, b, h, dy, dh, np.zeros(0, np.float32),
                                                 Out(init=da0), Out((rank, fout))],
                              floats=[1.0], check=False)
    assert perf.status == ET_ERR_ARG
    assert np.array_equal(outs[-2], da0)
