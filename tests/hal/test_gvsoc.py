# SPDX-License-Identifier: Apache-2.0
"""The siracusa builds run whole in GVSoC's Siracusa model (marker gvsoc; skipped with the reason
when GVSoC is not installed): hello (cluster start, MCHAN DMA, barrier, mcycle counters, exit
code) and kbench's GEMM part (every case checked against its reference on the device)."""
from __future__ import annotations

import os

import pytest

from et.devlog import parse_line
from gvsoc_util import require_gvsoc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = pytest.mark.gvsoc


def run_in_gvsoc(scons, app: str) -> list:
    gvsoc = require_gvsoc()
    res = scons("target=siracusa", f"app={app}", "run=1", f"gvsoc={gvsoc}", "timeout=1500",
                timeout=1800)
    log = os.path.join(ROOT, "build", "siracusa", app, "run.log")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    return [r for r in map(parse_line, open(log).read().splitlines()) if r]


def test_hello_in_gvsoc(scons):
    recs = run_in_gvsoc(scons, "hello")
    start = next(r for r in recs if r.type == "start")
    assert start["target"] == "siracusa" and start["perf"] == "mcycle"
    perf = [r for r in recs if r.type == "perf"]
    assert len(perf) == 16
    (dot,) = [r for r in recs if r.type == "result"]
    assert dot["ok"] == "1"
    # mcycle is wall clock: every core's barrier stretch ends at the same time (within the
    # wake-up skew), unlike the awake-only PULP counter
    bar = [r.int("cycles") for r in perf if r["phase"] == "barrier"]
    assert max(bar) - min(bar) < 100, bar
    assert [r for r in recs if r.type == "done"][0]["code"] == "0"


def test_kbench_gemm_in_gvsoc(scons):
    recs = run_in_gvsoc(scons, "kbench")
    bench = [r for r in recs if r.type == "bench"]
    assert len({r["kernel"] for r in bench}) >= 5
    assert all(r.type != "result" or r["ok"] == "1" for r in recs)
