"""apps/digits_lora, the main job's task: its committed data are what tools/et/models/digits.py
makes of scikit-learn's digits, its committed model is really pretrained on the source domain
and fails on the target domain, and the app (its train.json: LoRA, samples over the link,
held-out evaluation) adapts on the device: on host here, far above its starting accuracy, and
writes the adapted ONNX, which onnxruntime runs to the device's own held-out count."""
from __future__ import annotations

import json
import os

import numpy as np
import onnx
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
APP = os.path.join(ROOT, "apps", "digits_lora")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is in requirements.txt")


@pytest.fixture(scope="module")
def splits():
    pytest.importorskip("sklearn", reason="scikit-learn is in requirements.txt")
    from et.models import digits
    return digits.splits()


def _accuracy(model: str, x: np.ndarray, y: np.ndarray) -> float:
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    z = np.concatenate([sess.run(None, {name: x[i:i + 1]})[0] for i in range(len(x))])
    return float((z.argmax(1) == y).mean())


def test_committed_data_come_from_sklearn_digits(splits):
    d = np.load(os.path.join(APP, "data.npz"))
    np.testing.assert_array_equal(d["input"], splits["adapt_x"])
    np.testing.assert_array_equal(d["labels"], splits["adapt_y"])
    np.testing.assert_array_equal(d["eval_input"], splits["held_out_x"])
    np.testing.assert_array_equal(d["eval_labels"], splits["held_out_y"])
    assert len(d["eval_labels"]) == 297 and set(d["eval_labels"]) == set(range(10))


def test_committed_model_is_pretrained_on_the_source_only(splits):
    model = os.path.join(APP, "model.onnx")
    src = _accuracy(model, splits["held_out_source_x"], splits["held_out_y"])
    tgt = _accuracy(model, splits["held_out_x"], splits["held_out_y"])
    assert src >= 0.95, src       # it learned the digits
    assert tgt <= 0.2, tgt        # and the second sensor defeats it
    with open(os.path.join(APP, "pretrain.json")) as f:
        assert abs(json.load(f)["source_held_out"] - src) < 1e-3


def test_app_adapts_on_the_device_and_exports(scons):
    res = scons("target=host", "app=digits_lora", "run=1", timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    out = os.path.join(ROOT, "build", "host", "digits_lora")
    with open(os.path.join(out, "report", "report.json")) as f:
        ev = json.load(f)["eval"]
    assert [e["step"] for e in ev] == [0, 50, 100, 150, 200]
    before, after = ev[0]["accuracy"], ev[-1]["accuracy"]
    assert after >= before + 0.4, (before, after)      # 297 samples: far outside the noise
    assert "samples sent over the serial link" in res.stdout
    adapted = os.path.join(out, "report", "adapted.onnx")
    assert "adapted model: " in res.stdout and os.path.exists(adapted)
    onnx.checker.check_model(onnx.load(adapted))
    d = np.load(os.path.join(APP, "data.npz"))
    acc = _accuracy(adapted, d["eval_input"], d["eval_labels"])
    assert round(acc * 297) == ev[-1]["correct"], (acc, ev[-1])
