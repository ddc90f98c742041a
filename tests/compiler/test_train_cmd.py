"""`edgetune.py train`: the OUT.npz it writes, and clear failures (exit 1 with the reason)."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch

from codegen_helpers import check_against_reference, small_ae, small_cct
from compiler_helpers import export
from et.compiler.codegen import GenSpec

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLI = [sys.executable, os.path.join(ROOT, "tools", "edgetune.py"), "train"]


def _run(args):
    return subprocess.run(CLI + args, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_train_writes_npz(tmp_path):
    model, data = small_cct(str(tmp_path))
    out = tmp_path / "out.npz"
    p = _run(["--model", model, "--train", "lora:r=2", "--lr", "0.05", "--data", data,
              "--steps", "2", "--batch", "2", "--target", "host", "--out", str(out),
              "--momentum", "0.9", "--weight-decay", "0.001", "--grads"])
    assert p.returncode == 0, p.stdout + p.stderr
    arrays = dict(np.load(out))
    assert arrays["loss"].shape == (2,)
    assert "blocks.0.attn.q.lora_A" in arrays and "fc.weight_grad" in arrays
    spec = GenSpec(model=model, data=data, strategy="lora:r=2", lr=0.05, momentum=0.9,
                   weight_decay=0.001, batch=2, steps=2, grads=True)
    check_against_reference(spec, arrays)


def test_unsupported_op(tmp_path):
    class Sin(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(8, 8)

        def forward(self, x):
            return torch.sin(self.fc(x))

    model = tmp_path / "sin.onnx"
    onnx.save(export(Sin(), torch.zeros(1, 8)), str(model))
    _, data = small_ae(str(tmp_path))
    p = _run(["--model", str(model), "--train", "all", "--lr", "0.1", "--data", data,
              "--steps", "1", "--out", str(tmp_path / "o.npz")])
    assert p.returncode == 1
    assert "unsupported ONNX op 'Sin'" in p.stderr and "supported ops:" in p.stderr


def test_model_too_big_for_l2(tmp_path):
    model, data = small_cct(str(tmp_path))
    p = _run(["--model", model, "--train", "all", "--lr", "0.1", "--data", data, "--steps", "1",
              "--l2", "136K", "--out", str(tmp_path / "o.npz")])
    assert p.returncode == 1
    assert "does not fit" in p.stderr and "bytes" in p.stderr and "available" in p.stderr


def test_unknown_layer(tmp_path):
    model, data = small_ae(str(tmp_path))
    p = _run(["--model", model, "--train", "0.weight,nosuch.weight", "--lr", "0.1", "--data",
              data, "--steps", "1", "--out", str(tmp_path / "o.npz")])
    assert p.returncode == 1
    assert "unknown initializer(s) nosuch.weight" in p.stderr and "valid names:" in p.stderr


@pytest.mark.parametrize("bad", [["--steps", "0"], ["--data", "/nonexistent.npz"]])
def test_bad_arguments(tmp_path, bad):
    model, data = small_ae(str(tmp_path))
    args = {"--model": model, "--train": "all", "--lr": "0.1", "--data": data, "--steps": "1",
            "--out": str(tmp_path / "o.npz")}
    args[bad[0]] = bad[1]
    p = _run([x for kv in args.items() for x in kv])
    assert p.returncode == 1 and "edgetune: error:" in p.stderr


@pytest.mark.gvsoc
def test_train_on_siracusa_in_gvsoc(tmp_path):
    """The same command with --target siracusa: built for the chip, run in GVSoC's Siracusa
    model (skipped with the reason when GVSoC is not installed), checked against reference.py."""
    from gvsoc_util import require_gvsoc

    require_gvsoc()
    model, data = small_cct(str(tmp_path))
    out = tmp_path / "out.npz"
    p = _run(["--model", model, "--train", "lora:r=2", "--lr", "0.05", "--data", data,
              "--steps", "2", "--batch", "2", "--target", "siracusa", "--out", str(out),
              "--momentum", "0.9", "--grads", "--timeout", "1200"])
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    arrays = dict(np.load(out))
    spec = GenSpec(model=model, data=data, strategy="lora:r=2", lr=0.05, momentum=0.9,
                   batch=2, steps=2, grads=True)
    check_against_reference(spec, arrays)


def test_log_records_with_added_fields_are_read():
    """docs/devlog.md lets records gain fields (e.g. a sequence number and CRC): the reader
    keeps the ones it knows and ignores the rest."""
    from et.compiler.trainrun import parse_log

    res = parse_log(["@loss step=1 value=2.5 seq=3 crc=1a2b\n",
                     "@tensor name=w n=2 off=0 hex=3f80000040000000 seq=4 crc=ffff\n",
                     "@done code=0 seq=5 crc=0\n"])
    assert res["loss"] == [2.5] and res["done"] == 0
    assert res["tensors"]["w"].tolist() == [1.0, 2.0]
