"""SGD step (plain, momentum, Nesterov, weight decay) against torch.optim.SGD over several steps.

Tolerance: |err| <= 1e-6 * (1 + |p|) per step (one fused update per element in fp32)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from et.kclient import Out

CONFIGS = [(0.1, 0.0, 0.0, 0), (0.05, 0.9, 0.0, 0), (0.01, 0.9, 1e-2, 0), (0.02, 0.5, 1e-3, 1),
           (0.1, 0.0, 0.1, 0)]


@pytest.mark.parametrize("lr,mu,wd,nesterov", CONFIGS, ids=lambda v: str(v))
def test_sgd_matches_torch(backend, rng, lr, mu, wd, nesterov):
    n = 37 if backend.is_qemu else 1001
    if backend.is_qemu and (mu, nesterov) != (0.9, 0):
        pytest.skip("host-only config")
    p0 = rng.standard_normal(n).astype(np.float32)
    pt = torch.tensor(p0, dtype=torch.float32, requires_grad=True)
    opt = torch.optim.SGD([pt], lr=lr, momentum=mu, weight_decay=wd, nesterov=bool(nesterov))
    p, v = p0.copy(), np.zeros(n, np.float32)
    for _ in range(3):
        g = rng.standard_normal(n).astype(np.float32)
        pt.grad = torch.tensor(g)
        opt.step()
        outs, _ = backend.call("sgd.step", [n, nesterov], [Out(init=p), g, Out(init=v) if mu else None],
                               floats=[lr, mu, wd])
        p = outs[0]
        v = outs[1] if mu else v
        ref = pt.detach().numpy()
        assert np.all(np.abs(p - ref) <= 1e-6 * (1 + np.abs(ref)))


@pytest.mark.parametrize("mu", [0.0, 0.9])
def test_sgd_zero_grad_accumulated(backend, rng, mu):
    """et_sgd_step_zero_grad_f32: the step torch.optim.SGD takes on an accumulated gradient
    (p.grad summed over micro-batches), then the gradient zeroed as zero_grad() would."""
    n = 37 if backend.is_qemu else 1001
    p0 = rng.standard_normal(n).astype(np.float32)
    pt = torch.tensor(p0, dtype=torch.float32, requires_grad=True)
    opt = torch.optim.SGD([pt], lr=0.05, momentum=mu, weight_decay=1e-2)
    p, v = p0.copy(), np.zeros(n, np.float32)
    for _ in range(2):
        g = sum(rng.standard_normal(n).astype(np.float32) for _ in range(3))
        pt.grad = torch.tensor(g)
        opt.step()
        outs, _ = backend.call("sgd.step", [n, 0, 1], [Out(init=p), Out(init=g),
                                                      Out(init=v) if mu else None],
                               floats=[0.05, mu, 1e-2])
        p = outs[0]
        assert np.array_equal(outs[1], np.zeros(n, np.float32))
        v = outs[2] if mu else v
        ref = pt.detach().numpy()
        assert np.all(np.abs(p - ref) <= 1e-6 * (1 + np.abs(ref)))


def _call_sgd(backend, n, nesterov, p, g, v, floats):
    ts = [Out(init=p), g, Out(init=v) if v is not None else None]
    return backend.call("sgd.step", [n, nesterov], ts, floats=floats, check=False)


def test_sgd_bad_arguments(backend):
    if backend.is_qemu:
        pytest.skip("host check")
    p = np.full(4, 7.0, np.float32)
    g = np.ones(4, np.float32)
    v = np.full(4, 3.0, np.float32)
    for n, nest, vv, fl in ((0, 0, v, [0.1, 0.9, 0.0]), (4, 0, None, [0.1, 0.9, 0.0]),
                            (4, 0, v, [0.0, 0.9, 0.0]), (4, 0, v, [0.1, -1.0, 0.0]),
                            (4, 1, v, [0.1, 0.0, 0.0]), (4, 0, v, [0.1, 0.9, -0.5])):
        outs, perf = _call_sgd(backend, n, nest, p, g, vv, fl)
        assert perf.status == -1
        assert np.array_equal(outs[0], p)
        if vv is not None:
            assert np.array_equal(outs[1], v)
