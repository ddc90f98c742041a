"""Fixtures for kernel tests: ``backend`` runs ktest ops on host (8 cores) and on qemu with 1 and
8 cores (marked ``qemu``). One firmware process per test module and target."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if os.path.join(ROOT, "tools") not in sys.path:
    sys.path.insert(0, os.path.join(ROOT, "tools"))

from et.kclient import KernelClient, Out  # noqa: E402,F401 - re-exported for the tests

_built: dict[str, str] = {}


def _program(target: str) -> str:
    from et.kclient import build

    if target not in _built:  # build once per session and target
        _built[target] = build(target)
    return _built[target]


class Backend:
    """A ktest client plus the core count tests run with by default."""

    def __init__(self, client: KernelClient, ncores: int):
        self.client = client
        self.ncores = ncores
        self.target = client.target
        self.is_qemu = client.target == "qemu"

    def call(self, op, ints=(), tensors=(), ncores=None, **kw):
        """KernelClient.call with this backend's core count unless ``ncores`` is given."""
        return self.client.call(op, ints, tensors, self.ncores if ncores is None else ncores, **kw)

    def __repr__(self) -> str:
        return f"{self.target}-{self.ncores}"


@pytest.fixture
def make_backend():
    """The Backend class, for tests that pick a client and core count themselves."""
    return Backend


@pytest.fixture(scope="module")
def host_client():
    """ktest on host, one process per test module."""
    with KernelClient("host", program=_program("host")) as kc:
        yield kc


@pytest.fixture(scope="module")
def qemu_client():
    """ktest on the qemu board, one boot per test module (shared by 1- and 8-core cases)."""
    with KernelClient("qemu", program=_program("qemu"), timeout=120) as kc:
        yield kc


@pytest.fixture(params=[pytest.param(("host", 8), id="host"),
                        pytest.param(("qemu", 1), id="qemu1", marks=pytest.mark.qemu),
                        pytest.param(("qemu", 8), id="qemu8", marks=pytest.mark.qemu)])
def backend(request):
    """Where a kernel test runs: host (8 cores), qemu 1 core, qemu 8 cores (-m qemu)."""
    target, ncores = request.param
    client = request.getfixturevalue(f"{target}_client")
    return Backend(client, ncores)


@pytest.fixture
def rng(request):
    """A numpy Generator seeded from the test name (reproducible, distinct per case)."""
    import zlib

    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))
