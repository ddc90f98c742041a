"""Runs that hold (issue 27): a simulation that is progressing is never killed, a stopped one
leaves no process behind, a stop says which limit ended the run and how far it got, and
concurrent builds and training runs never share a folder.

The simulator here is tests/tools/fake_gvsoc.py run through the real gvsoc runner (flash.py
--runner gvsoc): a front end that starts the simulator proper as a shell child, like gapy."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from et_testutil import ROOT, TOOLS, run_scons

from et.buildlock import BuildLock  # noqa: E402
from et.compiler.appbuild import app_settings  # noqa: E402
from et.compiler.ir import CompileError  # noqa: E402

FAKE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_gvsoc.py")
FLASH = os.path.join(TOOLS, "flash.py")
EDGETUNE = os.path.join(TOOLS, "edgetune.py")


# --- the gvsoc runner: liveness and process groups ------------------------------------------
@pytest.fixture(scope="module")
def siracusa_elf():
    r = run_scons("target=siracusa", "app=hello")
    assert r.returncode == 0, (r.stdout + r.stderr)[-2000:]
    return os.path.join(ROOT, "build", "siracusa", "hello", "hello.elf")


def _alive(pid: int) -> bool:
    """A process that still runs (a zombie waiting for its reaper does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _pids(path) -> list[int]:
    return [int(x) for x in open(path).read().split()] if os.path.exists(path) else []


def _none_left(pidfile, within: float = 5.0) -> list[int]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        left = [p for p in _pids(pidfile) if _alive(p)]
        if not left:
            return []
        time.sleep(0.1)
    return left


def _fake_run(tmp_path, elf, mode, *opts, wait=True, **env):
    pidfile = tmp_path / "pids"
    e = dict(os.environ, FAKE_GVSOC_MODE=mode, FAKE_GVSOC_PIDS=str(pidfile),
             **{f"FAKE_GVSOC_{k.upper()}": str(v) for k, v in env.items()})
    cmd = [sys.executable, FLASH, "--runner", "gvsoc", "--gvsoc", FAKE, "--monitor",
           "--gvsoc-work-dir", str(tmp_path / "work"), *opts, elf]
    if not wait:
        return subprocess.Popen(cmd, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True), pidfile
    t0 = time.monotonic()
    p = subprocess.run(cmd, env=e, capture_output=True, text=True, timeout=120)
    return p, pidfile, time.monotonic() - t0


def test_a_starved_simulation_is_not_killed(tmp_path, siracusa_elf):
    """Silent for 4 s while it gets a fifth of a core (a loaded machine): the idle limit of
    1.5 s counts its CPU seconds (about 0.8), not the silence, so it runs to its @done."""
    p, pidfile, took = _fake_run(tmp_path, siracusa_elf, "slow", "--idle", "1.5", silent=4)
    assert p.returncode == 0, p.stdout + p.stderr
    assert took >= 4 and "@done code=0" in p.stdout
    assert not _none_left(pidfile)


@pytest.mark.parametrize("mode,why", [("spin", "spinning without progress"),
                                      ("block", "no CPU time used")])
def test_a_stuck_simulation_is_stopped_with_its_whole_group(tmp_path, siracusa_elf, mode, why):
    p, pidfile, took = _fake_run(tmp_path, siracusa_elf, mode, "--idle", "1")
    assert p.returncode == 124, p.stdout + p.stderr
    assert why in p.stderr and "idle limit 1" in p.stderr, p.stderr
    assert "it had reached 1 records, the last @start" in p.stderr, p.stderr
    assert len(_pids(pidfile)) == 2 and not _none_left(pidfile)  # front end and simulator
    assert took < 30


def test_overall_timeout_says_so_and_leaves_nothing(tmp_path, siracusa_elf):
    p, pidfile, _ = _fake_run(tmp_path, siracusa_elf, "chatter", "--timeout", "2")
    assert p.returncode == 124, p.stdout + p.stderr
    assert "no @done within the overall timeout of 2 s" in p.stderr, p.stderr
    assert not _none_left(pidfile)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_runner_interrupted_or_killed_leaves_no_simulator(tmp_path, siracusa_elf, sig):
    """Ctrl-C ends the group on the way out; SIGKILL leaves that to the group's guard."""
    proc, pidfile = _fake_run(tmp_path, siracusa_elf, "chatter", wait=False)
    deadline = time.monotonic() + 30
    while len(_pids(pidfile)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_pids(pidfile)) == 2, "the fake simulator did not start"
    proc.send_signal(sig)
    proc.communicate(timeout=30)
    assert proc.returncode == (130 if sig == signal.SIGINT else -signal.SIGKILL)
    assert not _none_left(pidfile), "a simulator process outlived its runner"


# --- isolation: one build per folder, one folder per concurrent run -------------------------
def test_a_second_build_of_a_folder_waits_for_the_first():
    """While a build holds build/host/hello, scons for the same folder says whom it waits for,
    then builds once the folder is free."""
    with BuildLock.acquire("build/host/hello"):
        proc = subprocess.Popen([sys.executable, "-m", "SCons", "-Q", "target=host", "app=hello"],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(3)
        assert proc.poll() is None, "scons did not wait for the folder"
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err
    assert f"waiting for build/host/hello: in use by pid {os.getpid()}" in err, err


def _classifier(tmp_path) -> tuple[str, str]:
    """Gemm 16 -> 5 with a bias, cross-entropy; 6 samples."""
    rng = np.random.default_rng(7)
    w = numpy_helper.from_array(rng.normal(0, 0.3, (16, 5)).astype(np.float32), "W")
    b = numpy_helper.from_array(np.zeros(5, np.float32), "B")
    g = helper.make_graph([helper.make_node("Gemm", ["x", "W", "B"], ["y"], name="fc")], "clf",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])], [w, b])
    model = str(tmp_path / "clf.onnx")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), model)
    data = str(tmp_path / "clf.npz")
    np.savez(data, input=rng.normal(0, 1, (6, 16)).astype(np.float32),
             labels=np.array([0, 1, 2, 3, 4, 0]))
    return model, data


def _train_cmd(model, data, out, lr, target="host", *more):
    return [sys.executable, EDGETUNE, "train", "--model", model, "--data", data, "--train",
            "all", "--lr", str(lr), "--momentum", "0.5", "--steps", "4", "--target", target,
            "--out", str(out), *more]


@pytest.mark.parametrize("target", ["host", pytest.param("qemu", marks=pytest.mark.qemu)])
def test_concurrent_train_runs_give_what_each_gives_alone(tmp_path, target):
    """Two runs of one model for one target, different learning rates, started together: each
    OUT.npz equals the one the same run writes alone (it was: both held the 0.02 run's)."""
    model, data = _classifier(tmp_path)
    lrs = (0.1, 0.02)
    procs = [subprocess.Popen(_train_cmd(model, data, tmp_path / f"together{i}.npz", lr, target),
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i, lr in enumerate(lrs)]
    outs = [p.communicate(timeout=900)[0] for p in procs]
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out[-3000:]
    for i, lr in enumerate(lrs):
        alone = subprocess.run(_train_cmd(model, data, tmp_path / f"alone{i}.npz", lr, target),
                               cwd=ROOT, capture_output=True, text=True, timeout=900)
        assert alone.returncode == 0, alone.stdout[-2000:] + alone.stderr[-2000:]
    together = [np.load(tmp_path / f"together{i}.npz") for i in range(2)]
    alone = [np.load(tmp_path / f"alone{i}.npz") for i in range(2)]
    for t, a in zip(together, alone):
        assert sorted(t.files) == sorted(a.files)
        for k in a.files:
            assert np.array_equal(t[k], a[k]), k
    assert not np.array_equal(together[0]["W"], together[1]["W"])  # the two runs differ


# --- what a stopped or refused run says -----------------------------------------------------
def _one_line(p, code: int) -> str:
    assert p.returncode == code, p.stdout[-2000:] + p.stderr[-2000:]
    assert "Traceback" not in p.stdout + p.stderr, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    return lines[0]


def _refused(model, data, tmp_path) -> str:
    """The one-line error (exit 1) of a train run on bad input."""
    p = subprocess.run(_train_cmd(model, data, tmp_path / "o.npz", 0.01), cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    return _one_line(p, 1)


def test_train_timeout_names_the_limit_and_the_step(tmp_path):
    model, data = _classifier(tmp_path)
    cmd = _train_cmd(model, data, tmp_path / "o.npz", 0.01)
    cmd[cmd.index("--steps") + 1] = "2147483647"
    p = subprocess.run(cmd + ["--timeout", "3"], cwd=ROOT, capture_output=True, text=True,
                       timeout=600)
    line = _one_line(p, 2)
    assert "no @done within the overall timeout of 3 s" in line, line
    assert " of 2147483647" in line and "it had reached step " in line, line
    assert not os.path.exists(tmp_path / "o.npz")


def test_integer_pixels_are_refused_with_the_fix(tmp_path):
    model, data = _classifier(tmp_path)
    np.savez(data, input=np.full((6, 16), 200, np.uint8), labels=np.zeros(6, np.int64))
    line = _refused(model, data, tmp_path)
    assert "input: dtype uint8 (values 200..200)" in line and "/ 255" in line, line


def test_missing_external_data_file_is_named(tmp_path):
    model, data = _classifier(tmp_path)
    m = onnx.load(model)
    onnx.save_model(m, model, save_as_external_data=True, all_tensors_to_one_file=True,
                    location="clf.weights", size_threshold=0)
    os.remove(tmp_path / "clf.weights")
    line = _refused(model, data, tmp_path)
    assert "external file 'clf.weights'" in line and "missing" in line, line


def test_broken_settings_files_are_named(tmp_path):
    (tmp_path / "train.json").write_text('{"strategy": "last",')
    with pytest.raises(CompileError, match=r"train\.json: not a readable JSON file"):
        app_settings(str(tmp_path))
    (tmp_path / "train.json").write_text('{"stratgy": "last"}')
    with pytest.raises(CompileError, match=r"unknown setting\(s\) stratgy; valid: "):
        app_settings(str(tmp_path))
    spec = tmp_path / "spec.json"
    spec.write_text("[1, 2]")
    p = subprocess.run([sys.executable, "-m", "SCons", "-Q", "target=host", "app=train"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, ET_TRAIN_SPEC=str(spec)))
    assert p.returncode != 0
    assert f"training spec (ET_TRAIN_SPEC) {spec}: expected a JSON object" in p.stdout + p.stderr
