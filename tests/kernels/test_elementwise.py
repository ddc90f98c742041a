"""Broadcast add/mul forward and backward (same shape, row vector, per-row column, scalar),
transpose and 4-D permute (attention head split/merge) against PyTorch autograd / numpy.

Tolerances: forward and da exact (single fp32 op per element, compared to the fp32 result);
db reductions |err| <= 1e-5 * sqrt(terms) * scale; permutes exact."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from et.kclient import Out

NONE, ROW, COL, SCALAR = 0, 1, 2, 3
SHAPES = [(1, 1), (3, 7), (64, 128), (33, 17)]


def _bshape(mode, r, c):
    return {NONE: (r, c), ROW: (c,), COL: (r,), SCALAR: (1,)}[mode]


def _bview(mode, b, r, c):
    if mode == NONE:
        return b
    if mode == ROW:
        return b[None, :]
    return b[:, None] if mode == COL else b.reshape(1, 1)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("mode", [NONE, ROW, COL, SCALAR], ids=["same", "row", "col", "scalar"])
def test_add_mul(backend, rng, shape, mode):
    if backend.is_qemu and shape != (33, 17):
        pytest.skip("host-only shape")
    r, c = shape
    a = rng.standard_normal(shape).astype(np.float32)
    b = rng.standard_normal(_bshape(mode, r, c)).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    bv = _bview(mode, b, r, c)
    ints = [mode, r, c]
    (y,), _ = backend.call("add.fwd", ints, [a, b, Out(shape)])
    assert np.array_equal(y, a + bv)
    (y,), _ = backend.call("mul.fwd", ints, [a, b, Out(shape)])
    assert np.array_equal(y, a * bv)
    for op in ("add", "mul"):
        at = torch.tensor(a, dtype=torch.float64, requires_grad=True)
        bt = torch.tensor(b, dtype=torch.float64, requires_grad=True)
        btv = _bview(mode, bt, r, c)
        yt = at + btv if op == "add" else at * btv
        yt.backward(torch.tensor(dy, dtype=torch.float64))
        if op == "add":
            (da, db), _ = backend.call("add.bwd", ints, [dy, Out(shape), Out(b.shape)])
        else:
            (da, db), _ = backend.call("mul.bwd", ints, [a, b, dy, Out(shape), Out(b.shape)])
        assert np.abs(da - at.grad.numpy()).max() <= 1e-6 * np.abs(at.grad.numpy()).max()
        terms = {NONE: 1, ROW: r, COL: c, SCALAR: r * c}[mode]
        ref = bt.grad.numpy()
        assert np.abs(db - ref).max() <= 1e-5 * np.sqrt(terms) * max(np.abs(ref).max(), 1), (op, mode)


@pytest.mark.parametrize("mode", [NONE, SCALAR], ids=["same", "scalar"])
def test_add_mul_one_long_row_splits_over_the_cores(backend, rng, mode):
    """The code generator passes an elementwise op on L1 tiles as one row (rows = 1): the
    elementwise modes split elements, not rows, so every core gets a share."""
    if not backend.is_qemu or backend.ncores != 8:
        pytest.skip("per-core instruction counts of the qemu board, 8 harts")
    a = rng.standard_normal((1, 4096)).astype(np.float32)
    b = rng.standard_normal(_bshape(mode, 1, 4096)).astype(np.float32)
    for op, ref in (("add", a + _bview(mode, b, 1, 4096)), ("mul", a * _bview(mode, b, 1, 4096))):
        (y,), perf = backend.call(f"{op}.fwd", [mode, 1, 4096], [a, b, Out((1, 4096))])
        assert np.array_equal(y, ref)
        assert max(perf.instret) < 0.25 * sum(perf.instret), perf.instret


def test_add_bwd_only_db(backend, rng):
    dy = rng.standard_normal((5, 6)).astype(np.float32)
    (db,), _ = backend.call("add.bwd", [ROW, 5, 6], [dy, None, Out((6,))])
    assert np.allclose(db, dy.sum(0), atol=1e-5)


@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (64, 128), (31, 5)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_transpose(backend, rng, shape):
    if backend.is_qemu and shape != (31, 5):
        pytest.skip("host-only shape")
    x = rng.standard_normal(shape).astype(np.float32)
    (y,), _ = backend.call("transpose.fwd", list(shape), [x, Out(shape[::-1])])
    assert np.array_equal(y, x.T)


PERMS = [((2, 64, 4, 32), (0, 2, 1, 3)), ((1, 3, 5, 7), (3, 1, 0, 2)), ((2, 3, 1, 5), (1, 3, 2, 0)),
         ((3, 5, 7, 2), (0, 1, 3, 2))]


@pytest.mark.parametrize("dims,perm", PERMS, ids=lambda v: "-".join(map(str, v)))
def test_permute_fwd_bwd(backend, rng, dims, perm):
    if backend.is_qemu and dims != (1, 3, 5, 7):
        pytest.skip("host-only shape")
    x = rng.standard_normal(dims).astype(np.float32)
    y_ref = np.ascontiguousarray(np.transpose(x, perm))
    (y,), _ = backend.call("permute.fwd", [*dims, *perm], [x, Out(y_ref.shape)])
    assert np.array_equal(y, y_ref)
    dy = rng.standard_normal(y_ref.shape).astype(np.float32)
    (dx,), _ = backend.call("permute.bwd", [*dims, *perm], [dy, Out(dims)])
    assert np.array_equal(dx, np.transpose(dy, np.argsort(perm)))


# (dims, perm, L1 scratch bytes): tensors in L2 go through the L1 scratch by DMA, in chunks of
# items when the permutation keeps axis 0; the core path when not even one item fits
STAGED = [((3, 5, 7, 2), (0, 1, 3, 2), 1024),     # 3 chunks of 1 item (280 B each)
          ((2, 64, 4, 32), (0, 2, 1, 3), 65536),  # 2 chunks of one 32 KiB item
          ((2, 64, 4, 32), (0, 2, 1, 3), 4096),   # an item does not fit: core path
          ((1, 3, 5, 7), (3, 1, 0, 2), 4096),     # axis 0 moves: whole tensor staged
          ((1, 3, 5, 7), (3, 1, 0, 2), 512)]      # ... or the core path


@pytest.mark.parametrize("dims,perm,l1", STAGED, ids=lambda v: "-".join(map(str, v)) if isinstance(v, tuple) else str(v))
def test_permute_through_l1_scratch(backend, rng, dims, perm, l1):
    x = rng.standard_normal(dims).astype(np.float32)
    (y,), _ = backend.call("permute.fwd", [*dims, *perm], [x, Out(np.transpose(x, perm).shape)],
                           l1_bytes=l1)
    assert np.array_equal(y, np.transpose(x, perm))
    (dx,), _ = backend.call("permute.bwd", [*dims, *perm], [y, Out(dims)], l1_bytes=l1)
    assert np.array_equal(dx, x)


def test_elementwise_bad_arguments(backend):
    if backend.is_qemu:
        pytest.skip("host check")
    s = np.full(6, 7.0, np.float32)
    x = np.ones(6, np.float32)
    cases = [("add.fwd", [4, 2, 3], [x, x, Out(init=s)]), ("mul.fwd", [0, 0, 3], [x, x, Out(init=s)]),
             ("add.fwd", [0, 2, 3], [x, None, Out(init=s)]),
             ("permute.fwd", [1, 2, 3, 1, 0, 1, 1, 2], [x, Out(init=s)]),
             ("permute.fwd", [1, 2, 0, 3, 0, 1, 2, 3], [x, Out(init=s)]),
             ("transpose.fwd", [0, 6], [x, Out(init=s)])]
    for op, ints, ts in cases:
        (out,), perf = backend.call(op, ints, ts, check=False)
        assert perf.status == -1 and np.array_equal(out, s), (op, ints)
    (da, db), perf = backend.call("mul.bwd", [0, 2, 3], [x, None, x, Out(init=s), Out(init=s)], check=False)
    assert perf.status == -1 and np.array_equal(da, s) and np.array_equal(db, s)
