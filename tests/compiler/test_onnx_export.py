"""The adapted model back as ONNX (tools/et/onnxexport.py, edgetune.py train --onnx-out): after a
LoRA run on the device, onnxruntime runs the exported model and its outputs are the device's
forward pass (the numpy reference with the device's trained tensors), and its held-out accuracy
and loss are the ones the device measured (@eval after the last step). Both LoRA modes (merged
into the base weights, kept as nodes) and both exporters (TorchScript, dynamo: a weight stored
transposed)."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch

from codegen_helpers import small_cct_model
from compiler_helpers import export, export_dynamo
from et.compiler.codegen import GenSpec, compile_model, load_data
from et.compiler.reference import Reference
from et.compiler.trainrun import run_training
from et.onnxexport import ExportError, adapted_model

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is in requirements.txt")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _data(tmp, n_eval=6) -> str:
    rng = np.random.default_rng(21)
    path = os.path.join(tmp, "data.npz")
    np.savez(path, input=rng.standard_normal((8, 3, 12, 12)).astype(np.float32),
             labels=rng.integers(0, 5, 8).astype(np.int64),
             eval_input=rng.standard_normal((n_eval, 3, 12, 12)).astype(np.float32),
             eval_labels=rng.integers(0, 5, n_eval).astype(np.int64))
    return path


@pytest.fixture(scope="module", params=["torchscript", "dynamo"])
def trained(request, tmp_path_factory):
    """The small CCT exported one way, trained 3 steps with LoRA (alpha != rank: a scale) and
    the head on host; its held-out set evaluated after the last step."""
    tmp = str(tmp_path_factory.mktemp(f"export_{request.param}"))
    model = os.path.join(tmp, "cct.onnx")
    how = export_dynamo if request.param == "dynamo" else export
    onnx.save(how(small_cct_model(), torch.zeros(1, 3, 12, 12)), model)
    spec = GenSpec(model=model, data=_data(tmp), strategy="lora:r=2,alpha=4", lr=0.05,
                   momentum=0.9, batch=2, steps=3, target="host")
    res = run_training(spec, "")
    return spec, res


def _ort(proto: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: x[i:i + 1]})[0] for i in range(len(x))])


def _device_forward(spec: GenSpec, arrays: dict, x: np.ndarray) -> np.ndarray:
    """The reference's forward pass with the device's trained tensors."""
    g, _, _ = compile_model(spec)
    ref = Reference(g)
    for name, value in arrays.items():
        if name in ref.state:
            ref.state[name] = np.asarray(value, np.float32).reshape(ref.state[name].shape)
    return ref.evaluate(x, np.zeros(len(x), np.int64))["outputs"]


@pytest.mark.parametrize("mode", ["merge", "keep"])
def test_adapted_onnx_runs_as_the_device_forward(trained, mode):
    spec, res = trained
    proto = adapted_model(spec.model, res["trained"], res["lora"], mode)
    g, _, _ = compile_model(spec)
    data = load_data(spec, g, "ce")
    x = data["ex"].reshape((-1, 3, 12, 12))
    got = _ort(proto, x)
    want = _device_forward(spec, res["trained"], x)
    scale = float(np.abs(want).max())
    assert float(np.abs(got - want).max()) <= 1e-5 * max(scale, 1.0), (got, want)
    # what the device measured on the held-out set after its last step
    last = res["eval"][-1]
    z = got.astype(np.float64)
    y = data["ey"]
    lse = np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1)
    assert int((z.argmax(1) == y).sum()) == last["correct"]
    assert abs(float(np.mean(lse - z[np.arange(len(y)), y])) - last["loss"]) <= 1e-5 * abs(last["loss"])
    # the untouched model gives other outputs: the export carries the training
    assert float(np.abs(_ort(onnx.load(spec.model), x) - got).max()) > 1e-3


def test_merge_keeps_the_graph_and_keep_adds_the_adapters(trained):
    spec, res = trained
    base = onnx.load(spec.model)
    merged = adapted_model(spec.model, res["trained"], res["lora"], "merge")
    kept = adapted_model(spec.model, res["trained"], res["lora"], "keep")
    assert len(merged.graph.node) == len(base.graph.node)
    names = {t.name for t in kept.graph.initializer}
    assert all(a["A"] in names and a["B"] in names for a in res["lora"])
    assert len(kept.graph.node) == len(base.graph.node) + 4 * len(res["lora"])   # 2 MatMul, Mul, Add


def test_export_errors_name_the_tensor(trained):
    spec, res = trained
    with pytest.raises(ExportError, match="'nope' is not an initializer"):
        adapted_model(spec.model, {**res["trained"], "nope": np.zeros(3)}, res["lora"])
    with pytest.raises(ExportError, match="mode 'fold'"):
        adapted_model(spec.model, res["trained"], res["lora"], "fold")
    arrays = {k: v for k, v in res["trained"].items() if k != res["lora"][0]["B"]}
    with pytest.raises(ExportError, match="not among the trained tensors"):
        adapted_model(spec.model, arrays, res["lora"])


def test_train_command_writes_the_adapted_model(trained, tmp_path):
    spec, _ = trained
    out, adapted = str(tmp_path / "out.npz"), str(tmp_path / "adapted.onnx")
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "edgetune.py"), "train",
                        "--model", spec.model, "--data", spec.data, "--train", "lora:r=2,alpha=4",
                        "--lr", "0.05", "--momentum", "0.9", "--batch", "2", "--steps", "3",
                        "--target", "host", "--out", out, "--onnx-out", adapted,
                        "--lora-export", "keep"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "held-out (6 samples) accuracy" in r.stdout and "adapted model" in r.stdout
    onnx.checker.check_model(onnx.load(adapted))
    bad = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "edgetune.py"), "train",
                          "--model", spec.model, "--data", spec.data, "--train", "last",
                          "--lr", "0.05", "--steps", "1", "--out", out,
                          "--onnx-out", str(tmp_path / "nowhere" / "a.onnx")],
                         capture_output=True, text=True, timeout=600)
    assert bad.returncode == 1 and "--onnx-out" in bad.stderr and "Traceback" not in bad.stderr
