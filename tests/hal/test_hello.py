"""apps/hello end to end: host run, qemu runs with 1 and 8 cores (result, per-core records, speed-up)."""
import os

import pytest

from conftest import ROOT
from et.devlog import parse_lines
from et.qemu import QemuBoard


def _records(stdout: str):
    state = parse_lines(stdout.splitlines())
    assert state.started, stdout
    assert state.exit_code == 0, stdout
    assert state.fault is None
    results = state.of_type("result")
    assert len(results) == 1 and results[0]["ok"] == "1", stdout
    assert results[0].float("value") == results[0].float("ref")
    return state


def test_host_build_and_run(scons):
    res = scons("target=host", "app=hello", "run=1")
    assert res.returncode == 0, res.stdout + res.stderr
    state = _records(res.stdout)
    perf = state.of_type("perf")
    assert sorted(r.int("core") for r in perf) == list(range(8))
    assert all(r.int("flop") > 0 for r in perf)
    assert state.of_type("start")[0]["perf"] == "host-clock"


def _qemu_run(scons, cores: int):
    res = scons("target=qemu", "app=hello", f"cores={cores}")
    assert res.returncode == 0, res.stdout + res.stderr
    elf = os.path.join(ROOT, "build", "qemu", "hello", "hello.elf")
    run = QemuBoard(timeout=60, echo=False).run_elf(elf)
    assert run.exit_code == 0, run.output
    return _records(run.output)


@pytest.mark.qemu
def test_qemu_hello_1_and_8_cores(scons):
    one = _qemu_run(scons, 1)
    eight = _qemu_run(scons, 8)
    p1, p8 = one.of_type("perf"), eight.of_type("perf")
    assert [r.int("core") for r in p1] == [0]
    assert sorted(r.int("core") for r in p8) == list(range(8))
    assert one.of_type("start")[0]["perf"] == "qemu-icount"
    # every core did an equal share: 2 FLOP per element, 8192 elements in all
    assert sum(r.int("flop") for r in p8) == sum(r.int("flop") for r in p1) == 2 * 8192
    max8 = max(r.int("instret") for r in p8)
    one_core = p1[0].int("instret")
    assert max8 < one_core
    # 8 equal shares: the speed-up must be close to 8 (deterministic under -icount)
    assert one_core / max8 > 6.5, (one_core, max8)
    # cycles (IPC=1 model) are at least the instructions
    assert all(r.int("cycles") >= r.int("instret") for r in p8)


@pytest.mark.qemu
def test_qemu_counters_are_deterministic(scons):
    a = _qemu_run(scons, 8)
    b = _qemu_run(scons, 8)
    key = lambda s: [(r.int("core"), r.int("instret"), r.int("cycles")) for r in s.of_type("perf")]  # noqa: E731
    assert key(a) == key(b)
