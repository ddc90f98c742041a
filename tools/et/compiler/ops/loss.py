"""The losses the training graph ends in (training.py adds them; no ONNX import): softmax_ce
(cross-entropy of softmax(logits) and integer labels, mean over the batch; C
``et_softmax_xent_*``) and mse (mean squared error; C ``et_mse_*``), kernels/include/et_loss.h.
The backward call is seeded with the node's ``dloss`` (1, or 1/N over N accumulated
micro-batches)."""
from __future__ import annotations

import numpy as np

from ..kernelmap import CCall, cfloat
from .base import F32, Call, OpDef, numel
from .softmax import softmax

XENT_FWD = 4        # FLOP per logit: max, subtract, exp, sum
XENT_FWD_ROW = 3    # per sample: log, + max, - x[label]
XENT_BWD = 6        # per logit: max, subtract, exp, sum, scale, - onehot
MSE_FWD = 3         # per element: subtract, square, sum
MSE_BWD = 2         # subtract, scale


def softmax_ce(logits, labels):
    p = softmax(logits.astype(F32))
    n = logits.shape[0]
    return F32(-np.log(p[np.arange(n), labels.astype(np.int64)]).mean())


def softmax_ce_igrad(logits, labels):
    p = softmax(logits.astype(F32))
    n = logits.shape[0]
    p[np.arange(n), labels.astype(np.int64)] -= 1.0
    return p / F32(n)


def dloss(n) -> float:
    """The seed of the loss gradient: 1, or 1/N for N accumulated micro-batches."""
    return float(n.attrs.get("dloss", 1.0))


def _rows(n, g):
    ys = g[n.inputs[0]].shape
    return ys[0], numel(ys[1:])


def emit_xent(e, idx, n):
    c = CCall()
    rows, cls = _rows(n, e.g)
    e.call(c, "et_softmax_xent_fwd_f32", e.p(n.inputs[0]), f"(const int32_t *){e.p(n.inputs[1])}",
           e.p(n.outputs[0]), str(rows), str(cls))
    return c


def emit_xent_igrad(e, idx, n):
    c = CCall()
    rows, cls = _rows(n, e.g)
    e.call(c, "et_softmax_xent_bwd_f32", e.p(n.inputs[0]), f"(const int32_t *){e.p(n.inputs[1])}",
           cfloat(dloss(n)), e.p(n.outputs[0]), str(rows), str(cls))
    return c


def emit_mse(e, idx, n):
    c = CCall()
    e.call(c, "et_mse_fwd_f32", e.p(n.inputs[0]), e.p(n.inputs[1]), e.p(n.outputs[0]),
           str(numel(e.shape(n.inputs[0]))))
    return c


def emit_mse_igrad(e, idx, n):
    c = CCall()
    e.call(c, "et_mse_bwd_f32", e.p(n.inputs[0]), e.p(n.inputs[1]), cfloat(dloss(n)),
           e.p(n.outputs[0]),
           str(numel(e.shape(n.inputs[0]))))
    return c


def _xent_flop(n, g):
    rows, cls = _rows(n, g)
    return XENT_FWD * rows * cls + XENT_FWD_ROW * rows


def _scalar(n, g):
    return [()]


OPS = [
    OpDef("softmax_ce", _scalar, calls={
        "fwd": Call(lambda n, g, y, lab: softmax_ce(y, lab), _xent_flop, emit_xent,
                    ("et_softmax_xent_fwd_f32",)),
        "igrad": Call(lambda n, g, y, lab: softmax_ce_igrad(y, lab) * F32(dloss(n)),
                      lambda n, g: XENT_BWD * numel(g[n.inputs[0]].shape), emit_xent_igrad,
                      ("et_softmax_xent_bwd_f32",))}),
    OpDef("mse", _scalar, calls={
        "fwd": Call(lambda n, g, y, t: F32(((y - t) ** 2).mean()),
                    lambda n, g: MSE_FWD * numel(g[n.inputs[0]].shape), emit_mse, ("et_mse_fwd_f32",)),
        "igrad": Call(lambda n, g, y, t: F32(2.0 / y.size) * F32(dloss(n)) * (y - t),
                      lambda n, g: MSE_BWD * numel(g[n.inputs[0]].shape), emit_mse_igrad,
                      ("et_mse_bwd_f32",))}),
]
FLOP = {"XENT_FWD": XENT_FWD, "XENT_FWD_ROW": XENT_FWD_ROW, "XENT_BWD": XENT_BWD,
        "MSE_FWD": MSE_FWD, "MSE_BWD": MSE_BWD}
