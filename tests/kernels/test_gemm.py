"""GEMM family vs PyTorch (float64 reference): et_gemm_fwd_f32 in all transpose combinations,
batched, with alpha/bias/accumulate and small L1 (multi-tile); linear fwd/igrad/wgrad/bgrad
against autograd; bad arguments. Tolerance: |y - ref| <= 1e-5 * (1 + |A|·|B| row/col scale),
i.e. rel. 2e-6 * sqrt(k)-ish fp32 summation error, stated as atol/rtol below."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from et.kclient import Out

ET_ERR_ARG = -1
HOST_SHAPES = [(1, 1, 1), (3, 7, 5), (7, 1, 3), (63, 65, 127), (64, 128, 128), (65, 127, 63),
               (130, 200, 300)]
QEMU_SHAPES = [(3, 7, 5), (13, 17, 19)]


def f32(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def tol(k: int) -> float:
    """Absolute tolerance for unit-normal operands summed over k terms (fp32 accumulation)."""
    return 2e-6 * k + 1e-5


def run_gemm(backend, rng, m, n, k, ta, tb, batch=1, acc=0, bias=False, alpha=1.0, l1=0,
             ncores=None):
    a = f32(rng, batch, *((k, m) if ta else (m, k)))
    b = f32(rng, batch, *((n, k) if tb else (k, n)))
    bi = f32(rng, n) if bias else np.zeros(0, np.float32)
    y0 = f32(rng, batch, m, n)
    ints = [m, n, k, batch, ta, tb, 0, 0, 0, a[0].size, b[0].size, 0, acc]
    (y,), perf = backend.call("gemm.fwd", ints, [a, b, bi, Out(init=y0)], floats=[alpha],
                              l1_bytes=l1, ncores=ncores)
    ta_, tb_ = torch.from_numpy(a).double(), torch.from_numpy(b).double()
    opa = ta_.transpose(1, 2) if ta else ta_
    opb = tb_.transpose(1, 2) if tb else tb_
    ref = alpha * (opa @ opb)
    if bias:
        ref = ref + torch.from_numpy(bi).double()
    if acc:
        ref = ref + torch.from_numpy(y0).double()
    np.testing.assert_allclose(y, ref.numpy(), atol=tol(k) * max(1.0, abs(alpha)), rtol=1e-5)
    return y, perf


@pytest.mark.parametrize("ta,tb", [(0, 0), (0, 1), (1, 0), (1, 1)], ids=["NN", "NT", "TN", "TT"])
def test_gemm_shapes(backend, rng, ta, tb):
    shapes = QEMU_SHAPES if backend.is_qemu else HOST_SHAPES
    for m, n, k in shapes:
        run_gemm(backend, rng, m, n, k, ta, tb)


@pytest.mark.parametrize("ta,tb", [(0, 0), (0, 1), (1, 0), (1, 1)], ids=["NN", "NT", "TN", "TT"])
def test_gemm_options_small_l1(backend, rng, ta, tb):
    """alpha, bias, accumulate, batch and a 16 KiB scratch (many tiles, k split)."""
    m, n, k = (9, 14, 21) if backend.is_qemu else (37, 70, 150)
    for acc, bias, alpha in [(0, 1, 0.5), (1, 1, 2.0), (1, 0, -1.0)]:
        run_gemm(backend, rng, m, n, k, ta, tb, batch=2, acc=acc, bias=bias, alpha=alpha,
                 l1=16384)


def test_gemm_core_count_independent(host_client, make_backend, rng):
    """Every output element is summed in the same order whatever the core count."""
    be = make_backend(host_client, 1)
    outs = []
    for nc in (1, 3, 8):
        rng2 = np.random.default_rng(7)
        y, _ = run_gemm(be, rng2, 45, 77, 90, 0, 1, bias=True, ncores=nc)
        outs.append(y)
    assert np.array_equal(outs[0], outs[1]) and np.array_equal(outs[0], outs[2])


def _linear_ref(x, w, b, dy):
    xt = torch.from_numpy(x).double().requires_grad_()
    wt = torch.from_numpy(w).double().requires_grad_()
    bt = torch.from_numpy(b).double().requires_grad_()
    y = torch.nn.functional.linear(xt, wt, bt)
    y.backward(torch.from_numpy(dy).double())
    return y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()


@pytest.mark.parametrize("acc", [0, 1], ids=["set", "accumulate"])
def test_linear_all_directions(backend, rng, acc):
    shapes = [(5, 3, 7)] if backend.is_qemu else [(1, 1, 1), (64, 128, 128), (63, 127, 65),
                                                   (7, 65, 3), (64, 128, 384)]
    for rows, fin, fout in shapes:
        x, w, b, dy = f32(rng, rows, fin), f32(rng, fout, fin), f32(rng, fout), f32(rng, rows, fout)
        y_ref, dx_ref, dw_ref, db_ref = _linear_ref(x, w, b, dy)
        init = {name: f32(rng, *shape) for name, shape in
                (("y", (rows, fout)), ("dx", (rows, fin)), ("dw", (fout, fin)), ("db", (fout,)))}
        add = (lambda key: init[key]) if acc else (lambda key: 0)
        ints = [rows, fin, fout, acc]
        (y,), _ = backend.call("linear.fwd", ints, [x, w, b, Out(init=init["y"])])
        (dx,), _ = backend.call("linear.bwd_igrad", ints, [dy, w, Out(init=init["dx"])])
        (dw,), _ = backend.call("linear.bwd_wgrad", ints, [dy, x, Out(init=init["dw"])])
        (db,), _ = backend.call("linear.bwd_bgrad", ints, [dy, Out(init=init["db"])])
        np.testing.assert_allclose(y, y_ref + add("y"), atol=tol(fin), rtol=1e-5)
        np.testing.assert_allclose(dx, dx_ref + add("dx"), atol=tol(fout), rtol=1e-5)
        np.testing.assert_allclose(dw, dw_ref + add("dw"), atol=tol(rows), rtol=1e-5)
        np.testing.assert_allclose(db, db_ref + add("db"), atol=tol(rows), rtol=1e-5)


def test_linear_bgrad_bit_identical_across_cores(host_client, rng):
    dy = f32(rng, 97, 133)
    res = [host_client.call("linear.bwd_bgrad", [97, 1, 133, 0], [dy, Out(133)], ncores=nc)[0][0]
           for nc in (1, 5, 8)]
    assert np.array_equal(res[0], res[1]) and np.array_equal(res[0], res[2])


BAD_GEMM = {  # name: (m, n, k, batch, lda, tensors sizes override)
    "m0": dict(m=0), "n0": dict(n=0), "k0": dict(k=0), "batch0": dict(batch=0),
    "lda_short": dict(lda=3), "null_a": dict(null=0), "null_b": dict(null=1),
    "null_y": dict(null=3), "cores9": dict(ncores=9), "l1_tiny": dict(l1=4096),
}


@pytest.mark.parametrize("case", sorted(BAD_GEMM))
def test_gemm_bad_args(backend, rng, case):
    p = dict(m=5, n=6, k=7, batch=1, lda=0, null=None, ncores=None, l1=0)
    p.update(BAD_GEMM[case])
    a, b, y0 = f32(rng, 5, 7), f32(rng, 7, 6), f32(rng, 5, 6)
    tensors = [a, b, np.zeros(0, np.float32), Out(init=y0)]
    if p["null"] is not None:
        tensors[p["null"]] = Out(0) if p["null"] == 3 else np.zeros(0, np.float32)
    ints = [p["m"], p["n"], p["k"], p["batch"], 0, 0, p["lda"], 0, 0, 0, 0, 0, 0]
    outs, perf = backend.call("gemm.fwd", ints, tensors, floats=[1.0], l1_bytes=p["l1"],
                              ncores=p["ncores"], check=False)
    assert perf.status == ET_ERR_ARG
    if p["null"] != 3:
        assert np.array_equal(outs[0], y0), "output touched on error"


@pytest.mark.parametrize("op", ["linear.fwd", "linear.bwd_igrad", "linear.bwd_wgrad",
                                "linear.bwd_bgrad"])
@pytest.mark.parametrize("bad", ["rows0", "in0", "out0", "null_in"])
def test_linear_bad_args(host_client, rng, op, bad):
    rows, fin, fout = 4, 5, 6
    dims = {"rows0": [0, fin, fout], "in0": [rows, 0, fout], "out0": [rows, fin, 0]}.get(
        bad, [rows, fin, fout])
    if op == "linear.bwd_bgrad" and bad == "in0":
        pytest.skip("bgrad does not use `in`")
    first = np.zeros(0, np.float32) if bad == "null_in" else f32(rng, rows * max(fin, fout))
    other = f32(rng, fout * fin)
    init = f32(rng, 64)
    tensors = {"linear.fwd": [first, other, f32(rng, fout), Out(init=init)],
               "linear.bwd_bgrad": [first, Out(init=init)]}.get(op, [first, other, Out(init=init)])
    outs, perf = host_client.call(op, dims + [0], tensors, ncores=8, check=False)
    assert perf.status == ET_ERR_ARG
    assert np.array_equal(outs[0], init)


def test_ktest_harness(backend):
    """The firmware's own ops: echo round trip, every core of the team runs, unknown op."""
    x = np.arange(5, dtype=np.float32)
    (y,), _ = backend.call("echo", [3], [x, Out(5)], floats=[2.0], ncores=1)
    assert list(y) == [3, 2, 4, 6, 8]
    (c,), perf = backend.call("cores", [], [Out(8)])
    assert list(c[:backend.ncores]) == list(range(1, backend.ncores + 1))
    assert len(perf.instret) == backend.ncores
    _, perf = backend.call("no.such.op", check=False)
    assert perf.status == -101
