"""conv2d forward, dX, dW and db against PyTorch autograd on host (8 cores) and qemu (1 and 8
cores), including odd shapes, strides, paddings and L1 budgets small enough to force tiling.

Tolerance: fp32 accumulation over c_in*kh*kw (fwd, dX) or n*ho*wo (dW, db) terms in a
different order than PyTorch: |got - ref| <= 2e-5 * sqrt(terms) * scale + 1e-5 relative to
the largest reference magnitude (documented per check below)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from et.kclient import Out

# n, c_in, h, w, c_out, kh, kw, sh, sw, ph, pw
HOST_CASES = [
    (1, 3, 8, 8, 8, 3, 3, 1, 1, 1, 1),      # CCT tokenizer-like 3x3, same padding
    (2, 5, 9, 7, 6, 3, 3, 1, 1, 1, 1),      # odd channels and sizes
    (1, 4, 11, 13, 5, 3, 3, 2, 2, 1, 1),    # stride 2
    (2, 3, 10, 9, 7, 5, 5, 1, 2, 2, 0),     # 5x5, mixed stride/padding
    (1, 2, 7, 7, 3, 1, 1, 1, 1, 0, 0),      # 1x1
    (1, 6, 12, 5, 9, 3, 2, 3, 1, 0, 1),     # rectangular kernel, stride 3
    (3, 1, 5, 5, 1, 3, 3, 1, 1, 0, 0),      # single channel, valid
    (1, 16, 16, 16, 32, 3, 3, 1, 1, 1, 1),  # CCT second tokenizer layer (small)
]
QEMU_CASES = [(1, 3, 8, 8, 8, 3, 3, 1, 1, 1, 1), (1, 5, 7, 6, 6, 3, 3, 2, 2, 1, 1)]


def _ref(case, x, w, b, dy, groups=1):
    n, ci, h, wd, co, kh, kw, sh, sw, ph, pw = case
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    wt = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    bt = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    y = torch.nn.functional.conv2d(xt, wt, bt, stride=(sh, sw), padding=(ph, pw), groups=groups)
    y.backward(torch.tensor(dy, dtype=torch.float64))
    return y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()


def _out_hw(case):
    n, ci, h, wd, co, kh, kw, sh, sw, ph, pw = case
    return (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1


def _close(got, ref, terms, what):
    scale = max(float(np.max(np.abs(ref))), 1e-3)
    tol = 2e-6 * np.sqrt(terms) * scale + 1e-6 * scale
    err = float(np.max(np.abs(got - ref)))
    assert err <= tol, f"{what}: max abs error {err:.3g} > {tol:.3g}"


def _run_case(backend, case, rng, l1_bytes=0, groups=1):
    n, ci, h, wd, co, kh, kw, sh, sw, ph, pw = case
    ho, wo = _out_hw(case)
    x = rng.standard_normal((n, ci, h, wd)).astype(np.float32)
    w = rng.standard_normal((co, ci // groups, kh, kw)).astype(np.float32)
    b = rng.standard_normal(co).astype(np.float32)
    dy = rng.standard_normal((n, co, ho, wo)).astype(np.float32)
    y_ref, dx_ref, dw_ref, db_ref = _ref(case, x, w, b, dy, groups)
    ints = list(case) + ([groups] if groups > 1 else [])
    ci //= groups   # terms per output below: one group's input channels
    kw_ = {"l1_bytes": l1_bytes} if l1_bytes else {}
    (y,), _ = backend.call("conv2d.fwd", ints, [x, w, b, Out((n, co, ho, wo))], **kw_)
    _close(y, y_ref, ci * kh * kw, "fwd")
    (dx,), _ = backend.call("conv2d.bwd_igrad", ints, [w, dy, Out(x.shape)], **kw_)
    _close(dx, dx_ref, co // groups * kh * kw, "dX")
    (dw,), _ = backend.call("conv2d.bwd_wgrad", ints, [x, dy, Out(w.shape)], **kw_)
    _close(dw, dw_ref, n * ho * wo, "dW")
    (db,), _ = backend.call("conv2d.bwd_bgrad", ints, [dy, Out((co,))], **kw_)
    _close(db, db_ref, n * ho * wo, "db")
    (yn,), _ = backend.call("conv2d.fwd", ints, [x, w, None, Out((n, co, ho, wo))], **kw_)
    _close(yn, y_ref - b[None, :, None, None], ci * kh * kw, "fwd without bias")


@pytest.mark.parametrize("case", HOST_CASES, ids=lambda c: "x".join(map(str, c)))
def test_conv2d_all_directions(backend, case, rng):
    if backend.is_qemu and case not in QEMU_CASES:
        pytest.skip("host-only shape (qemu runs a representative subset)")
    _run_case(backend, case, rng)


# (case, groups): ONNX Conv's group between 1 and depthwise (ResNeXt, ShuffleNet, grouped
# pointwise convolutions): images past the first read their group's channels at the op's stride
GROUPED = [((2, 6, 9, 7, 4, 3, 3, 1, 1, 1, 1), 2), ((1, 8, 8, 8, 12, 3, 3, 2, 2, 1, 1), 4),
           ((3, 6, 5, 5, 9, 1, 1, 1, 1, 0, 0), 3)]


@pytest.mark.parametrize("case,groups", GROUPED, ids=lambda c: "x".join(map(str, c))
                         if isinstance(c, tuple) else f"g{c}")
def test_conv2d_grouped(backend, case, groups, rng):
    if backend.is_qemu and case != GROUPED[0][0]:
        pytest.skip("host-only shape")
    _run_case(backend, case, rng, groups=groups)
    (need,), _ = backend.call("conv2d.scratch", list(case) + [groups], [Out((1,))])
    _run_case(backend, case, rng, l1_bytes=int(need[0]) + 512, groups=groups)


def test_conv2d_groups_must_divide_the_channels(backend):
    if backend.is_qemu:
        pytest.skip("host check")
    sentinel = np.full(64, 7.0, np.float32)
    x = np.ones(1024, np.float32)
    (out,), perf = backend.call("conv2d.fwd", [1, 6, 8, 8, 4, 3, 3, 1, 1, 1, 1, 4],
                                [x, x, x, Out(init=sentinel)], check=False)
    assert perf.status == -1 and np.array_equal(out, sentinel)


@pytest.mark.parametrize("case", [HOST_CASES[1], HOST_CASES[2], HOST_CASES[7]],
                         ids=lambda c: "x".join(map(str, c)))
def test_conv2d_small_l1_forces_tiling(backend, case, rng):
    """The minimum scratch plus a little: many tiles, DMA double-buffering, partial blocks."""
    if backend.is_qemu and case != HOST_CASES[1]:
        pytest.skip("host-only shape")
    (need,), _ = backend.call("conv2d.scratch", list(case), [Out((1,))])
    _run_case(backend, case, rng, l1_bytes=int(need[0]) + 512)


@pytest.mark.parametrize("groups", [1, 2])
def test_conv2d_gradients_accumulate_over_image_chunks(backend, rng, groups):
    """dW and db with ``accumulate`` (et_conv2d_args): the batch taken one image at a time (the
    compiler's L3 chunks), the first call overwriting and the others adding, equals the whole
    batch's call; with a small L1 too (several channel blocks, each starting from dw)."""
    if backend.is_qemu and groups > 1:
        pytest.skip("host-only case")
    case = (3, 6, 9, 7, 4, 3, 3, 1, 1, 1, 1)
    n, ci, h, wd, co, kh, kw, sh, sw, ph, pw = case
    ho, wo = _out_hw(case)
    x = rng.standard_normal((n, ci, h, wd)).astype(np.float32)
    w = rng.standard_normal((co, ci // groups, kh, kw)).astype(np.float32)
    dy = rng.standard_normal((n, co, ho, wo)).astype(np.float32)
    dw_ref, db_ref = _ref(case, x, w, np.zeros(co, np.float32), dy, groups)[2:]
    (need,), _ = backend.call("conv2d.scratch", list(case) + [groups], [Out((1,))])
    for l1 in (0, int(need[0]) + 512):
        kw_ = {"l1_bytes": l1} if l1 else {}
        dw, db = np.full(w.shape, np.nan, np.float32), np.full(co, np.nan, np.float32)
        for i in range(n):
            ints = [1] + list(case[1:]) + [groups, int(i > 0)]
            (dw,), _ = backend.call("conv2d.bwd_wgrad", ints, [x[i], dy[i], Out(init=dw)], **kw_)
            (db,), _ = backend.call("conv2d.bwd_bgrad", ints, [dy[i], Out(init=db)], **kw_)
        _close(dw, dw_ref, n * ho * wo, "dW in chunks")
        _close(db, db_ref, n * ho * wo, "db in chunks")


def test_conv2d_core_count_invariance(backend, rng):
    """fwd/dX/dW outputs are bit-identical on 1 and 8 cores (one core per output element)."""
    if backend.is_qemu:
        pytest.skip("host check")
    case = HOST_CASES[1]
    n, ci, h, wd, co, kh, kw, sh, sw, ph, pw = case
    ho, wo = _out_hw(case)
    x = rng.standard_normal((n, ci, h, wd)).astype(np.float32)
    w = rng.standard_normal((co, ci, kh, kw)).astype(np.float32)
    dy = rng.standard_normal((n, co, ho, wo)).astype(np.float32)
    outs = []
    for nc in (1, 3, 8):
        (y,), _ = backend.call("conv2d.fwd", list(case), [x, w, None, Out((n, co, ho, wo))], ncores=nc)
        (dw,), _ = backend.call("conv2d.bwd_wgrad", list(case), [x, dy, Out(w.shape)], ncores=nc)
        (db,), _ = backend.call("conv2d.bwd_bgrad", list(case), [dy, Out((co,))], ncores=nc)
        outs.append((y, dw, db))
    for o in outs[1:]:
        for a, b in zip(outs[0], o):
            assert np.array_equal(a, b)


BAD = [
    ("zero channels", (1, 0, 8, 8, 4, 3, 3, 1, 1, 1, 1)),
    ("zero stride", (1, 3, 8, 8, 4, 3, 3, 0, 1, 1, 1)),
    ("padding >= kernel", (1, 3, 8, 8, 4, 3, 3, 1, 1, 3, 1)),
    ("kernel larger than input", (1, 3, 2, 2, 4, 5, 5, 1, 1, 1, 1)),
]


@pytest.mark.parametrize("what,case", BAD, ids=[b[0] for b in BAD])
def test_conv2d_bad_arguments(backend, what, case):
    if backend.is_qemu:
        pytest.skip("host check")
    sentinel = np.full(16, 7.0, np.float32)
    x = np.ones(16, np.float32)
    for op, ts in (("conv2d.fwd", [x, x, x, Out(init=sentinel)]),
                   ("conv2d.bwd_igrad", [x, x, Out(init=sentinel)]),
                   ("conv2d.bwd_wgrad", [x, x, Out(init=sentinel)]),
                   ("conv2d.bwd_bgrad", [x, Out(init=sentinel)])):
        (out,), perf = backend.call(op, list(case), ts, check=False)
        assert perf.status == -1, f"{op} {what}"
        assert np.array_equal(out, sentinel), f"{op} wrote its output on error"


def test_conv2d_null_and_small_l1(backend, rng):
    if backend.is_qemu:
        pytest.skip("host check")
    case = (1, 3, 8, 8, 4, 3, 3, 1, 1, 1, 1)
    x = np.ones((1, 3, 8, 8), np.float32)
    w = np.ones((4, 3, 3, 3), np.float32)
    sentinel = np.full((1, 4, 8, 8), 7.0, np.float32)
    (out,), perf = backend.call("conv2d.fwd", list(case), [None, w, None, Out(init=sentinel)], check=False)
    assert perf.status == -1 and np.array_equal(out, sentinel)
    (out,), perf = backend.call("conv2d.fwd", list(case), [x, w, None, Out(init=sentinel)],
                                check=False, l1_bytes=256)
    assert perf.status == -1 and np.array_equal(out, sentinel)


# --- depthwise (groups = channels): n, c, h, w, kh, kw, sh, sw, ph, pw ------------------------
DW_CASES = [
    (1, 8, 8, 8, 3, 3, 1, 1, 1, 1),      # MobileNet / DS-CNN 3x3, same padding
    (2, 5, 9, 7, 3, 3, 2, 2, 1, 1),      # stride 2, batch 2, odd sizes
    (1, 3, 10, 6, 5, 3, 1, 2, 2, 0),     # rectangular filter and stride, one-sided padding
    (3, 2, 5, 5, 1, 1, 1, 1, 0, 0),      # 1x1
]


def _dw(case, rng):
    n, c, h, wd, kh, kw, sh, sw, ph, pw = case
    x = rng.standard_normal((n, c, h, wd)).astype(np.float32)
    w = rng.standard_normal((c, 1, kh, kw)).astype(np.float32)
    b = rng.standard_normal(c).astype(np.float32)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    wt = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    bt = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    y = torch.nn.functional.conv2d(xt, wt, bt, stride=(sh, sw), padding=(ph, pw), groups=c)
    dy = rng.standard_normal(tuple(y.shape)).astype(np.float32)
    y.backward(torch.tensor(dy, dtype=torch.float64))
    ints = [n * c, c, 0, h, wd, kh, kw, sh, sw, ph, pw]
    return x, w, b, dy, ints, (y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy())


@pytest.mark.parametrize("case", DW_CASES, ids=lambda c: "x".join(map(str, c)))
def test_depthwise_all_directions(backend, case, rng):
    if backend.is_qemu and case != DW_CASES[1]:
        pytest.skip("host-only shape (qemu runs a representative subset)")
    n, c, h, wd, kh, kw = case[:6]
    x, w, b, dy, ints, (y_ref, dx_ref, dw_ref, db_ref) = _dw(case, rng)
    (y,), _ = backend.call("dwconv2d.fwd", ints, [x, w, b, Out(y_ref.shape)])
    _close(y, y_ref, kh * kw, "fwd")
    (dx,), _ = backend.call("dwconv2d.bwd_igrad", ints, [w, dy, Out(x.shape)])
    _close(dx, dx_ref, kh * kw, "dX")
    terms = n * dy.shape[2] * dy.shape[3]
    (dw, db), _ = backend.call("dwconv2d.bwd_wgrad", ints, [x, dy, Out(w.shape), Out((c,))])
    _close(dw, dw_ref, terms, "dW")
    _close(db, db_ref, terms, "db")
    (db2,), _ = backend.call("dwconv2d.bwd_wgrad", ints, [x, dy, None, Out((c,))])
    assert np.array_equal(db2, db)
    # one image at a time, the later ones adding in (accumulate): the compiler's L3 chunks
    dw3, db3 = np.full(w.shape, np.nan, np.float32), np.full(c, np.nan, np.float32)
    for i in range(n):
        (dw3, db3), _ = backend.call("dwconv2d.bwd_wgrad", [c] + ints[1:] + [int(i > 0)],
                                     [x[i], dy[i], Out(init=dw3), Out(init=db3)])
    _close(dw3, dw_ref, terms, "dW in chunks")
    _close(db3, db_ref, terms, "db in chunks")


def test_depthwise_plane_ranges_and_core_count(backend, rng):
    """A call on a range of planes (planes, c0: how a training program tiles it through L1)
    gives exactly those planes of the whole call; 1 and 8 cores agree bit for bit."""
    if backend.is_qemu:
        pytest.skip("host check")
    case = DW_CASES[1]
    x, w, b, dy, ints, (y_ref, *_) = _dw(case, rng)
    n, c = case[:2]
    (y8,), _ = backend.call("dwconv2d.fwd", ints, [x, w, b, Out(y_ref.shape)], ncores=8)
    (y1,), _ = backend.call("dwconv2d.fwd", ints, [x, w, b, Out(y_ref.shape)], ncores=1)
    assert np.array_equal(y1, y8)
    planes = x.reshape(n * c, *x.shape[2:])
    for p0, cnt in ((3, 4), (1, 9)):   # start mid-image, run across the image boundary
        sub = [cnt, c, p0 % c] + ints[3:]
        (ys,), _ = backend.call("dwconv2d.fwd", sub, [planes[p0:p0 + cnt], w, b,
                                                        Out((cnt,) + y_ref.shape[2:])])
        assert np.array_equal(ys, y8.reshape(n * c, *y_ref.shape[2:])[p0:p0 + cnt])


def test_depthwise_bad_arguments(backend):
    if backend.is_qemu:
        pytest.skip("host check")
    x = np.ones((2, 4, 4), np.float32)
    w = np.ones((2, 3, 3), np.float32)
    s = np.full(2 * 2 * 2, 7.0, np.float32)
    for ints in ([2, 2, 2, 4, 4, 3, 3, 1, 1, 1, 1],    # c0 >= c
                 [2, 2, 0, 4, 4, 3, 3, 1, 1, 3, 1],    # padding >= filter
                 [2, 2, 0, 4, 4, 3, 3, 0, 1, 1, 1]):   # stride 0
        (out,), perf = backend.call("dwconv2d.fwd", ints, [x, w, None, Out(init=s)], check=False)
        assert perf.status == -1 and np.array_equal(out, s)
    _, perf = backend.call("dwconv2d.bwd_wgrad", [2, 2, 0, 4, 4, 3, 3, 1, 1, 1, 1],
                           [x, x, None, None], check=False)
    assert perf.status == -1
