"""Block copy between row pitches (et_shape.h): concatenation, slicing and the slice gradient as
numpy does them, on host (8 cores) and qemu (1 and 8 cores)."""
from __future__ import annotations

import numpy as np
import pytest

from et.kclient import Out


def test_concat_slice_and_slice_gradient(backend, rng):
    a = rng.standard_normal((3, 2, 5)).astype(np.float32)
    b = rng.standard_normal((3, 4, 5)).astype(np.float32)
    ref = np.concatenate([a, b], axis=1)
    # concat along axis 1: input k is a block [3, width_k * 5] at its offset in rows of pitch 30
    buf = np.full(90, np.nan, np.float32)
    (buf,), _ = backend.call("block.copy", [3, 10, 10, 30, 0, 0, 0], [a, Out(init=buf)])
    (buf,), _ = backend.call("block.copy", [3, 20, 20, 30, 0, 10, 0], [b, Out(init=buf)])
    assert np.array_equal(buf.reshape(ref.shape), ref)
    # slice x[:, 1:4] along axis 1: from 1 * 5 floats into each row of pitch 30
    (s,), _ = backend.call("block.copy", [3, 15, 30, 15, 5, 0, 0], [ref, Out((3, 3, 5))])
    assert np.array_equal(s, ref[:, 1:4])
    # its gradient: dy written into the zeroed [3, 6, 5] at the same place
    dy = rng.standard_normal((3, 3, 5)).astype(np.float32)
    (dx,), _ = backend.call("block.copy", [3, 15, 15, 30, 0, 5, 90],
                            [dy, Out(init=np.full(90, 7.0, np.float32))])
    want = np.zeros((3, 6, 5), np.float32)
    want[:, 1:4] = dy
    assert np.array_equal(dx.reshape(want.shape), want)


def test_block_copy_bad_arguments(backend):
    if backend.is_qemu:
        pytest.skip("host check")
    s = np.full(8, 7.0, np.float32)
    for ints in ([0, 2, 2, 2, 0, 0, 0], [2, 3, 2, 3, 0, 0, 0], [2, 3, 3, 2, 0, 0, 0]):
        (out,), perf = backend.call("block.copy", ints, [np.ones(8, np.float32), Out(init=s)],
                                    check=False)
        assert perf.status == -1 and np.array_equal(out, s)
