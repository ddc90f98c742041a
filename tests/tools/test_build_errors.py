"""The build's error paths: unknown target/app/variable, a memory level over budget, and the
one-line reason `edgetune.py train` quotes from a failed scons run."""
import os
import re

from et_testutil import ROOT


def test_unknown_target_lists_valid_ones(scons):
    res = scons("target=nosuch", "app=hello")
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert "unknown target 'nosuch'" in out
    assert "host, qemu, siracusa" in out


def test_unknown_app_lists_valid_ones(scons):
    res = scons("target=host", "app=nosuch")
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert "unknown app 'nosuch'" in out and "hello" in out


def test_unknown_variable_is_an_error(scons):
    res = scons("target=host", "app=hello", "tagret=qemu")
    assert res.returncode != 0
    assert "unknown variable(s): tagret" in res.stdout + res.stderr


def test_siracusa_run_without_gvsoc_is_one_clear_line(scons):
    res = scons("target=siracusa", "app=hello", "run=1", "gvsoc=/nonexistent/gvsoc")
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "GVSoC not found at /nonexistent/gvsoc" in out, out
    assert "Traceback" not in out


def test_runner_that_cannot_run_the_target_is_refused(scons):
    res = scons("target=qemu", "app=hello", "run=1", "runner=gvsoc")
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "runner=gvsoc cannot run target qemu; valid: qemu" in out, out


def test_l1_overflow_names_section_and_bytes(scons):
    # hello needs 48 KiB of L1 (32 KiB of tiles + 16 KiB of stacks): a 16 KiB budget overflows
    res = scons("target=qemu", "app=hello", "l1=16K")
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert "region L1 overflowed by 32768 bytes" in out, out
    assert "sections beyond the budget: .l1" in out
    assert not os.path.exists(os.path.join(ROOT, "build", "qemu", "hello", "hello.elf"))
    # and the normal budget builds again
    assert scons("target=qemu", "app=hello").returncode == 0


def test_l2_overflow(scons):
    res = scons("target=qemu", "app=hello", "l2=32K")
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "region L2 overflowed by" in out and ".bss" in out
    assert scons("target=qemu", "app=hello").returncode == 0


def test_region_report_printed(scons):
    res = scons("-c", "target=qemu", "app=hello")
    assert res.returncode == 0
    res = scons("target=qemu", "app=hello")
    assert res.returncode == 0
    for level in ("L1", "L2", "L3"):
        assert f"\n{level} " in res.stdout


def test_training_app_measures_l2_outside_the_plan(scons):
    """The post-link step measures what the memory plan does not own in L2 (code, data,
    stacks) and sets it against the plan's L2 reserve (regions.json, console)."""
    import json
    res = scons("target=siracusa", "app=cct_lora")
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    d = os.path.join(ROOT, "build", "siracusa", "cct_lora")
    with open(os.path.join(d, "regions.json")) as f:
        l2 = json.load(f)["L2"]
    with open(os.path.join(d, "memplan.json")) as f:
        plan = json.load(f)
    o = l2["outside_plan"]
    assert o["planned"] == plan["totals"]["L2"]["arena"] + plan["totals"]["L2"]["persistent"]
    assert o["outside"] == l2["used"] - o["planned"]
    assert 64 * 1024 < o["outside"] <= o["reserve"] == plan["l2_reserve"]
    assert f"code and data outside the plan {o['outside']} bytes (measured)" in res.stdout


def test_each_build_folder_has_its_own_signature_database(scons):
    """Concurrent builds (the benchmark beside the tests) must not share scons's signature
    database: one run rewriting it could make another take a stale program for up to date.
    The database lives outside the build folder, so `scons -c` on a clean clone (which removes
    that folder before writing the database) works."""
    import os
    import shutil

    from et_testutil import ROOT

    db = os.path.join(ROOT, "build", ".sconsign", "host_hello.dblite")
    shutil.rmtree(os.path.join(ROOT, "build", "host", "hello"), ignore_errors=True)
    res = scons("-c", "target=host", "app=hello")
    assert res.returncode == 0, res.stdout + res.stderr
    res = scons("target=host", "app=hello")
    assert res.returncode == 0, res.stdout + res.stderr
    assert os.path.exists(db)
    assert not os.path.exists(os.path.join(ROOT, ".sconsign.dblite")) or \
        os.path.getmtime(os.path.join(ROOT, ".sconsign.dblite")) < os.path.getmtime(db)


def test_failed_train_build_quotes_scons_own_error(tmp_path, monkeypatch):
    """A build that scons refuses (here: cores=99 slipped into the command) fails the train
    run with one line that carries scons's own `scons: ***` line, not an empty tail."""
    import pytest

    from et.compiler import trainrun
    from et.compiler.codegen import GenSpec

    sys_path_helpers()
    from codegen_helpers import small_ae

    model, data = small_ae(str(tmp_path))
    real = trainrun.scons_command
    monkeypatch.setattr(trainrun, "scons_command", lambda *a: real(*a, "cores=99"))
    out = tmp_path / "o.npz"
    with pytest.raises(trainrun.TrainError) as e:
        trainrun.run_training(GenSpec(model=model, data=data, strategy="all", lr=0.1), str(out))
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("build or run failed (scons exit 2): "), msg
    assert "scons: *** cores=99 out of range: target host has 1..8" in msg, msg
    assert not out.exists()


def test_failure_line_picks_the_compiler_error(tmp_path):
    """gcc's own error line comes first in the one-line message, then scons's last `***`."""
    import subprocess

    from et.compiler.trainrun import failure_line

    src = tmp_path / "bad.c"
    src.write_text("int f(void) { return nan; }\n")
    cc = subprocess.run(["gcc", "-c", str(src), "-o", str(tmp_path / "bad.o")],
                        capture_output=True, text=True)
    assert cc.returncode != 0
    out = "  CC    bad.o\n" + cc.stderr + "scons: *** [bad.o] Error 1\n"
    line = failure_line(out)
    assert re.match(rf"{re.escape(str(src))}:1:\d+: error: .nan. undeclared", line), line
    assert line.endswith("; scons: *** [bad.o] Error 1")
    assert failure_line("") == "scons printed nothing"


def sys_path_helpers():
    """tests/compiler on sys.path (its helpers build the small models)."""
    import sys
    d = os.path.join(ROOT, "tests", "compiler")
    if d not in sys.path:
        sys.path.insert(0, d)
