"""Max-pool 2D (saved and recomputed argmax), average pooling (global average pooling and token
mean) and CCT sequence pooling, forward and backward, against PyTorch autograd (float64).

Tolerances: max-pool exact (selection and sums of at most kh*kw gradients in fp32, compared at
1e-6); average/sequence pooling |err| <= 2e-6 * sqrt(len) * scale."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from et.kclient import Out

# planes, h, w, kh, kw, sh, sw, ph, pw
MP = [(2, 8, 8, 2, 2, 2, 2, 0, 0), (3, 7, 9, 3, 3, 2, 2, 1, 1), (1, 5, 5, 3, 3, 1, 1, 1, 1),
      (4, 16, 16, 3, 3, 2, 2, 1, 1), (2, 6, 11, 2, 3, 1, 2, 0, 1)]


@pytest.mark.parametrize("case", MP, ids=lambda c: "x".join(map(str, c)))
def test_maxpool2d(backend, rng, case):
    if backend.is_qemu and case != MP[1]:
        pytest.skip("host-only shape")
    planes, h, w, kh, kw, sh, sw, ph, pw = case
    x = rng.standard_normal((planes, h, w)).astype(np.float32)
    xt = torch.tensor(x[None], dtype=torch.float64, requires_grad=True)
    yt, it = torch.nn.functional.max_pool2d(xt, (kh, kw), (sh, sw), (ph, pw), return_indices=True)
    ho, wo = yt.shape[-2:]
    dy = rng.standard_normal((planes, ho, wo)).astype(np.float32)
    yt.backward(torch.tensor(dy[None], dtype=torch.float64))
    (y, idx), _ = backend.call("maxpool2d.fwd", list(case), [x, Out((planes, ho, wo)), Out((planes, ho, wo))])
    assert np.array_equal(y, yt.detach().numpy()[0].astype(np.float32))
    assert np.array_equal(idx.view(np.int32), it.numpy()[0])
    ref = xt.grad.numpy()[0]
    (dx,), _ = backend.call("maxpool2d.bwd", list(case), [None, idx, dy, Out(x.shape)])
    assert np.abs(dx - ref).max() <= 1e-6 * max(np.abs(ref).max(), 1)
    (dx2,), _ = backend.call("maxpool2d.bwd", list(case), [x, None, dy, Out(x.shape)])
    assert np.array_equal(dx, dx2)
    (y2,), _ = backend.call("maxpool2d.fwd", list(case), [x, Out((planes, ho, wo)), None])
    assert np.array_equal(y, y2)


@pytest.mark.parametrize("shape", [(1, 1, 1), (6, 64, 1), (2, 17, 128), (3, 5, 7)], ids=lambda s: "x".join(map(str, s)))
def test_avgpool(backend, rng, shape):
    if backend.is_qemu and shape != (3, 5, 7):
        pytest.skip("host-only shape")
    o, l, i = shape
    x = rng.standard_normal(shape).astype(np.float32)
    dy = rng.standard_normal((o, i)).astype(np.float32)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    yt = xt.mean(1)
    yt.backward(torch.tensor(dy, dtype=torch.float64))
    (y,), _ = backend.call("avgpool.fwd", list(shape), [x, Out((o, i))])
    assert np.abs(y - yt.detach().numpy()).max() <= 2e-6 * np.sqrt(l) * max(np.abs(x).max(), 1)
    (dx,), _ = backend.call("avgpool.bwd", list(shape), [dy, Out(shape)])
    assert np.abs(dx - xt.grad.numpy()).max() <= 1e-6 * np.abs(dy).max()


@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 64, 128), (3, 17, 9), (1, 5, 33)], ids=lambda s: "x".join(map(str, s)))
def test_seqpool(backend, rng, shape):
    if backend.is_qemu and shape != (3, 17, 9):
        pytest.skip("host-only shape")
    b, t, d = shape
    x = rng.standard_normal(shape).astype(np.float32)
    s = (rng.standard_normal((b, t)) * 2).astype(np.float32)
    dy = rng.standard_normal((b, d)).astype(np.float32)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    st = torch.tensor(s, dtype=torch.float64, requires_grad=True)
    wt = torch.softmax(st, -1)
    yt = torch.einsum("bt,btd->bd", wt, xt)
    yt.backward(torch.tensor(dy, dtype=torch.float64))
    (w, y), _ = backend.call("seqpool.fwd", list(shape), [x, s, Out((b, t)), Out((b, d))])
    tol = 2e-6 * np.sqrt(t) * max(np.abs(x).max(), 1)
    assert np.abs(w - wt.detach().numpy()).max() <= 1e-6
    assert np.abs(y - yt.detach().numpy()).max() <= tol
    (dx, ds), _ = backend.call("seqpool.bwd", list(shape), [x, w, dy, Out(shape), Out((b, t))])
    assert np.abs(dx - xt.grad.numpy()).max() <= 1e-6 * np.abs(dy).max()
    assert np.abs(ds - st.grad.numpy()).max() <= 2e-6 * np.sqrt(d) * max(np.abs(st.grad.numpy()).max(), 1)


def test_pool_bad_arguments(backend):
    if backend.is_qemu:
        pytest.skip("host check")
    s = np.full(16, 7.0, np.float32)
    x = np.ones(16, np.float32)
    for ints in ([1, 4, 4, 0, 2, 2, 2, 0, 0], [1, 4, 4, 2, 2, 0, 2, 0, 0], [1, 4, 4, 2, 2, 2, 2, 2, 0],
                 [1, 2, 2, 5, 5, 1, 1, 0, 0], [0, 4, 4, 2, 2, 2, 2, 0, 0]):
        (out, idx), perf = backend.call("maxpool2d.fwd", ints, [x, Out(init=s), Out(init=s)], check=False)
        assert perf.status == -1 and np.array_equal(out, s) and np.array_equal(idx, s), ints
    (out,), perf = backend.call("maxpool2d.bwd", [1, 4, 4, 2, 2, 2, 2, 0, 0], [None, None, x, Out(init=s)],
                                check=False)
    assert perf.status == -1 and np.array_equal(out, s)
    (out,), perf = backend.call("avgpool.fwd", [2, 0, 2], [x, Out(init=s)], check=False)
    assert perf.status == -1 and np.array_equal(out, s)
    (w, y), perf = backend.call("seqpool.fwd", [1, 4, 4], [x, None, Out(init=s), Out(init=s)], check=False)
    assert perf.status == -1 and np.array_equal(w, s) and np.array_equal(y, s)
