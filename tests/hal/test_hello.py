"""apps/hello end to end: host run, qemu runs with 1 and 8 cores (result, per-core records, speed-up)."""
import os

import pytest

from et_testutil import ROOT
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
    perf = [r for r in state.of_type("perf") if r["layer"] == "dot"]
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
    p1 = [r for r in one.of_type("perf") if r["layer"] == "dot"]
    p8 = [r for r in eight.of_type("perf") if r["layer"] == "dot"]
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


@pytest.mark.qemu
def test_qemu_barrier_waits_are_cycles_not_instructions(scons):
    """Core c does (c+1) units between barriers: instret grows by the same step per core, cycles
    (IPC=1 model) end equal on every core, and the slowest core never waits."""
    state = _qemu_run(scons, 8)
    sync = sorted((r for r in state.of_type("perf") if r["layer"] == "sync"), key=lambda r: r.int("core"))
    assert len(sync) == 8
    instr = [r.int("instret") for r in sync]
    steps = {b - a for a, b in zip(instr, instr[1:])}
    assert len(steps) == 1 and steps.pop() > 0, instr
    cycles = [r.int("cycles") for r in sync]
    assert max(cycles) - min(cycles) <= 8, cycles
    assert sync[7].int("cycles") == sync[7].int("instret")
