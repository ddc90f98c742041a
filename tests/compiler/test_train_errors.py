"""`edgetune.py train` on bad input and failed runs (issue 13): one line `edgetune: error: ...`,
exit 1 (bad input) or 2 (build/run failed, diverged), no traceback, no OUT.npz."""
from __future__ import annotations

import os
import re
import resource
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from codegen_helpers import small_ae

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "tools", "edgetune.py")


def _run(args, env=None, preexec_fn=None, python=sys.executable):
    return subprocess.run([python, SCRIPT, "train", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env=env, preexec_fn=preexec_fn)


def _one_line_error(p, code: int, out) -> str:
    """The single stderr line of a failed run (checked: exit code, no traceback, no OUT)."""
    assert p.returncode == code, p.stdout[-2000:] + p.stderr[-2000:]
    assert "Traceback" not in p.stderr + p.stdout, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgetune"), p.stderr
    assert not os.path.exists(out)
    return lines[0]


def tiny_classifier(tmp, fold_dims=(2,)) -> tuple[str, str]:
    """Gemm 8 -> 4 (cross-entropy) beside a ConstantOfShape(fold_dims) the importer folds."""
    shape = helper.make_node("Constant", [], ["s"], value=helper.make_tensor(
        "v", TensorProto.INT64, [len(fold_dims)], list(fold_dims)))
    big = helper.make_node("ConstantOfShape", ["s"], ["c"], name="big",
                           value=helper.make_tensor("f", TensorProto.FLOAT, [1], [0.0]))
    w = helper.make_tensor("W", TensorProto.FLOAT, [8, 4],
                           np.linspace(-1, 1, 32, dtype=np.float32).tolist())
    gemm = helper.make_node("Gemm", ["x", "W"], ["y"], name="fc")
    g = helper.make_graph([shape, big, gemm], "tiny",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [w])
    model = os.path.join(tmp, "tiny.onnx")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), model)
    data = os.path.join(tmp, "tiny.npz")
    np.savez(data, input=np.ones((3, 8), np.float32), labels=np.array([0, 1, 3]))
    return model, data


def _args(model, data, out, **over):
    a = {"--model": model, "--train": "all", "--lr": "0.1", "--data": data, "--steps": "1",
         "--out": str(out), **over}
    return [x for kv in a.items() for x in kv]


@pytest.mark.parametrize("kind", ["truncated", "random"])
def test_corrupt_onnx_file(tmp_path, kind):
    model, data = tiny_classifier(str(tmp_path))
    raw = open(model, "rb").read()
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(raw[:len(raw) // 2] if kind == "truncated"
                    else np.random.default_rng(1).bytes(3000))
    out = tmp_path / "o.npz"
    line = _one_line_error(_run(_args(str(bad), data, out)), 1, out)
    assert f"model {bad} ({bad.stat().st_size} bytes) is not a valid ONNX file" in line


@pytest.mark.parametrize("size, why", [("12Q", "is not a size"), ("0", "is 0 bytes, outside"),
                                       ("99999M", "is 104856551424 bytes, outside")])
def test_malformed_size_option(tmp_path, size, why):
    model, data = tiny_classifier(str(tmp_path))
    out = tmp_path / "o.npz"
    line = _one_line_error(_run(_args(model, data, out, **{"--l2": size})), 1, out)
    assert f"--l2='{size}' {why}" in line


@pytest.mark.parametrize("opt, value, want", [
    ("--lr", "nan", "learning rate (--lr) nan: expected a finite number > 0"),
    ("--lr", "inf", "learning rate (--lr) inf: expected a finite number > 0"),
    ("--lr", "1e39", "learning rate (--lr) 1e+39: expected a finite number > 0 that fp32 holds"),
    ("--momentum", "-1", "momentum (--momentum) -1.0: expected a number in [0, 1)"),
    ("--momentum", "1", "momentum (--momentum) 1.0: expected a number in [0, 1)"),
    ("--weight-decay", "-0.5", "weight decay (--weight-decay) -0.5: expected a finite number >= 0"),
    ("--timeout", "nan", "--timeout nan: expected seconds in (0, 604800]"),
    ("--timeout", "1e300", "--timeout 1e+300: expected seconds in (0, 604800]"),
    ("--steps", "10000000000", "--steps 10000000000 and --batch 1: both must be in 1 .. 2147483647"),
])
def test_options_checked_up_front(tmp_path, opt, value, want):
    model, data = tiny_classifier(str(tmp_path))
    out = tmp_path / "o.npz"
    p = _run(_args(model, data, out, **{opt: value}))
    assert _one_line_error(p, 1, out).startswith(f"edgetune: error: {want}")
    assert "GEN" not in p.stdout   # refused before scons


def test_huge_folded_constant_is_refused_with_the_sizes(tmp_path):
    """A 64 GiB ConstantOfShape in a 32-weight model: refused before any allocation (the test
    caps the process at 3 GiB of address space, so an attempt is a MemoryError)."""
    model, data = tiny_classifier(str(tmp_path), fold_dims=(65536, 65536, 4))
    out = tmp_path / "o.npz"

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    line = _one_line_error(_run(_args(model, data, out), preexec_fn=cap), 1, out)
    assert ("node 'big' (ConstantOfShape): folding it would make a constant of 17179869184 "
            "elements (68719476736 bytes, shape [65536, 65536, 4]), more than the 9699328 bytes "
            "of the target's memory") in line
    # the bound is the target's memory: a smaller L2 lowers it
    tiny_classifier(str(tmp_path), fold_dims=(2250000,))   # 9.0 MB: under 9.7 MB, over 8.7 MB
    line = _one_line_error(_run(_args(model, data, out, **{"--l2": "64K"}), preexec_fn=cap), 1, out)
    assert "more than the 8716288 bytes" in line


@pytest.mark.parametrize("arrays, want", [
    ({"input": np.float32(1.0)}, "data set input [] does not match the model's input [1, 8]: "
     "expected [samples, ...] with 8 values per sample"),
    ({"input": np.ones((3, 8), np.complex64)}, "data set input: dtype complex64 [3, 8], "
     "expected real numbers"),
    ({"input": np.full((3, 8), np.nan, np.float32)}, "data set input: 24 of its 24 values are "
     "nan or inf"),
    ({"labels": np.zeros((3, 2), np.int64)}, "data set labels [3, 2]: cross-entropy needs 1-D "
     "integer class indices [samples] in [0, 4)"),
    ({"labels": np.array([0.5, 1.7, 2.0])}, "data set labels: dtype float64 [3], expected "
     "integer class indices in [0, 4)"),
    ({"labels": np.array([0, 1, 7])}, "data set labels: values 0..7 outside [0, 4)"),
    ({"labels": np.array([0, 1])}, "data set labels [2] does not match input [3, 8]: expected "
     "one per sample (3)"),
])
def test_bad_data_set_is_refused_before_scons(tmp_path, arrays, want):
    model, _ = tiny_classifier(str(tmp_path))
    data = tmp_path / "bad.npz"
    np.savez(data, **{"input": np.ones((3, 8), np.float32), "labels": np.array([0, 1, 3]),
                      **arrays})
    out = tmp_path / "o.npz"
    p = _run(_args(model, str(data), out))
    assert want in _one_line_error(p, 1, out)
    assert "GEN" not in p.stdout


def test_mse_target_must_match_the_output(tmp_path):
    model, _ = small_ae(str(tmp_path))
    data = tmp_path / "t.npz"
    np.savez(data, input=np.ones((6, 48), np.float32), target=np.ones((6, 40), np.float32))
    out = tmp_path / "o.npz"
    line = _one_line_error(_run(_args(model, str(data), out)), 1, out)
    assert "data set target [6, 40] does not match the model's output [1, 48]" in line


def test_diverging_run_stops_with_exit_2(tmp_path):
    """lr 1e4 on the autoencoder: the loss overflows within a few steps on the host target;
    the device stops at the first non-finite loss and the command names the step."""
    model, data = small_ae(str(tmp_path))
    out = tmp_path / "o.npz"
    p = _run(_args(model, data, out, **{"--lr": "1e4", "--steps": "8", "--target": "host"}))
    line = _one_line_error(p, 2, out)
    m = re.search(r"diverged at step (\d+) \(loss (nan|inf)\)", line)
    assert m, line
    log = open(re.search(r"\(log: (\S+)\)", line).group(1)).read()
    step = int(m.group(1))
    assert f"@loss step={step} value=" in log and f"@loss step={step + 1} " not in log
    assert "@result name=loss_finite ok=0" in log and "@done code=4" in log


def test_last_update_overflowing_is_divergence_too(tmp_path):
    """lr and weight decay 1e30 for one step: the loss (computed before the update) is finite,
    the updated weights are not; no OUT.npz full of inf either."""
    model, data = small_ae(str(tmp_path))
    out = tmp_path / "o.npz"
    p = _run(_args(model, data, out, **{"--lr": "1e30", "--weight-decay": "1e30"}))
    line = _one_line_error(p, 2, out)
    assert re.search(r"diverged at step 1 \(loss [0-9.]+, then \d+ of the \d+ values of "
                     r"'\S+' not finite\)", line), line


def test_runs_from_an_unactivated_venv(tmp_path):
    """`.venv/bin/python tools/edgetune.py train ...` with a PATH without the venv: scons is
    run by the same interpreter."""
    model, data = tiny_classifier(str(tmp_path))
    out = tmp_path / "o.npz"
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")}
    p = _run(_args(model, data, out, **{"--steps": "2"}), env=env)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert np.load(out)["loss"].shape == (2,)


@pytest.mark.qemu
def test_two_targets_at_once(tmp_path):
    """`train` for host and for qemu at the same time (each build has its own folder and
    signature database, build/.sconsign/<target>_<app>): both succeed with the same losses."""
    model, data = tiny_classifier(str(tmp_path))
    procs = {}
    for t in ("host", "qemu"):
        cmd = [sys.executable, SCRIPT, "train", *_args(model, data, tmp_path / f"{t}.npz",
                                                      **{"--steps": "3", "--target": t})]
        procs[t] = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
    outs = {t: p.communicate(timeout=600)[0] for t, p in procs.items()}
    for t, p in procs.items():
        assert p.returncode == 0, outs[t][-3000:]
    losses = [np.load(tmp_path / f"{t}.npz")["loss"] for t in procs]
    assert losses[0].shape == (3,) and np.allclose(losses[0], losses[1], rtol=1e-5)
