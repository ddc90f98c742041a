"""softmax over the last axis (ONNX Softmax): import, shapes, FLOP, gradient, numpy reference,
C calls (kernels/include/et_softmax.h), tiled through L1 by rows. A softmax over another axis
(the CCT authors' sequence pooling: dim=1) imports as transpose, softmax, transpose back."""
from __future__ import annotations

import numpy as np

from ..kernelmap import IN, OUT, CCall, CodegenError
from .base import Call, OpDef, numel, per_output, same_shape, unary_grad

FWD = 5   # FLOP per element: max, subtract, exp, sum, scale
BWD = 4   # dot product (2), subtract, multiply


def import_softmax(imp, op, node, a) -> None:
    ins = list(node.input)
    rank = len(imp.shape(ins[0]))
    axis = a.get("axis", -1 if imp.opset >= 13 else 1) % rank
    if imp.opset < 13 and axis != rank - 1:
        # opset < 13: softmax of the input flattened to 2-D at axis, not along one axis
        imp.unsupported(f"opset {imp.opset} Softmax with axis {axis}: export with opset 13 or "
                        "later (the older one normalizes over all axes from axis on)")
    if axis == rank - 1:
        imp.emit("softmax", ins, node.output[0], axis=-1)
        return
    swap = list(range(rank))
    swap[axis], swap[-1] = swap[-1], swap[axis]
    t_in, t_out = imp.g.fresh(node.output[0] + "_to_last"), imp.g.fresh(node.output[0] + "_last")
    imp.emit("transpose", ins[:1], t_in, perm=swap)
    imp.emit("softmax", [t_in], t_out, axis=-1)
    imp.emit("transpose", [t_out], node.output[0], perm=swap)


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def emit_fwd(e, idx, n):
    c = CCall()
    xs = e.shape(n.inputs[0])
    if n.attrs.get("axis", -1) not in (-1, len(xs) - 1):
        raise CodegenError(f"node '{n.name}': softmax over axis {n.attrs['axis']} (C: last axis)")
    e.call(c, "et_softmax_fwd_f32", e.p(n.inputs[0]), e.p(n.outputs[0]), str(numel(xs[:-1])),
           str(xs[-1]))
    e.tiled(c, numel(xs[:-1]), [(n.inputs[0], 4 * xs[-1], IN), (n.outputs[0], 4 * xs[-1], OUT)],
            ["@P0@", "@P1@", "@NR@", str(xs[-1])])
    return c


def emit_igrad(e, idx, n):  # inputs [dy, y]
    c = CCall()
    ys = e.shape(n.inputs[1])
    e.call(c, "et_softmax_bwd_f32", e.p(n.inputs[1]), e.p(n.inputs[0]), e.p(n.outputs[0]),
           str(numel(ys[:-1])), str(ys[-1]))
    row = 4 * ys[-1]
    e.tiled(c, numel(ys[:-1]), [(n.inputs[1], row, IN), (n.inputs[0], row, IN),
                                (n.outputs[0], row, OUT)],
            ["@P0@", "@P1@", "@P2@", "@NR@", str(ys[-1])])
    return c


OPS = [OpDef(
    "softmax", same_shape, onnx=("Softmax",), importer=import_softmax, grad=unary_grad("y"),
    calls={"fwd": Call(lambda n, g, x: softmax(x), per_output(FWD), emit_fwd, ("et_softmax_fwd_f32",)),
           "igrad": Call(lambda n, g, dy, y: y * (dy - (dy * y).sum(-1, keepdims=True)),
                         per_output(BWD), emit_igrad, ("et_softmax_bwd_f32",))})]
FLOP = {"SOFTMAX_FWD": FWD, "SOFTMAX_BWD": BWD}
