"""layernorm over the last axis (ONNX LayerNormalization, or the decomposed pattern fusion
finds): import, shapes, FLOP, gradient, numpy reference, C calls (kernels/include/et_layernorm.h).

The forward saves mean and 1/std per row in small static buffers of the generated program
(``OpDef.row_stats``, ``Emitter.row_stats``); the reference recomputes them from X."""
from __future__ import annotations

import numpy as np

from ..kernelmap import IN, OUT, WHOLE, CCall, cfloat
from .base import F32, Call, OpDef, numel, same_shape

FWD = 8        # FLOP per element: mean 1, variance 3, normalize and affine 4
DX = 10        # backward per element: dx
DGAMMA = 2     # dgamma = sum(dy * xhat)
DBETA = 1      # dbeta = sum(dy)


def import_layernorm(imp, op, node, a) -> None:
    ins, out = list(node.input), node.output[0]
    rank = len(imp.shape(ins[0]))
    if a.get("axis", -1) % rank != rank - 1:
        imp.unsupported("only over the last axis")
    if len(ins) < 3 or not ins[2]:
        imp.consts[out + "_zero_bias"] = np.zeros(imp.shape(ins[0])[-1], np.float32)
        ins = ins[:2] + [out + "_zero_bias"]
    imp.emit("layernorm", ins[:3], out, eps=float(a.get("epsilon", 1e-5)), axis=-1)


def stats(x, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    rstd = 1.0 / np.sqrt(var + F32(eps))
    return (x - mu) * rstd, rstd


def ref_igrad(n, g, dy, x, gamma):
    xh, rstd = stats(x, n.attrs["eps"])
    dxh = dy * gamma
    return rstd * (dxh - dxh.mean(-1, keepdims=True) - xh * (dxh * xh).mean(-1, keepdims=True))


def ref_wgrad(n, g, dy, x):
    xh, _ = stats(x, n.attrs["eps"])
    d = dy.shape[-1]
    out = []
    if n.attrs.get("dw", True):
        out.append((dy * xh).reshape(-1, d).sum(0))
    if n.attrs.get("db", True):
        out.append(dy.reshape(-1, d).sum(0))
    return out


def grad(d, n, dy) -> None:
    x, gamma, beta = n.inputs
    geo = dict(x=x, y=n.outputs[0])
    if d.want(x):
        dx = d.new_grad(x)
        d.emit("layernorm", [dy, x, gamma], [dx], n, "igrad", tensors=geo)
        d.contribute(x, dx, n)
    need_g, need_b = d.want(gamma), d.want(beta)
    if need_g or need_b:
        outs = ([d.new_grad(gamma)] if need_g else []) + ([d.new_grad(beta)] if need_b else [])
        d.emit("layernorm", [dy, x], outs, n, "wgrad", tensors=geo, dw=need_g, db=need_b)
        if need_g:
            d.contribute(gamma, outs[0], n)
        if need_b:
            d.contribute(beta, outs[-1], n)


def _n(n, g):
    return numel(g[n.fwd.get("x", n.inputs[0])].shape)


def emit_fwd(e, idx, n):
    c = CCall()
    xs = e.shape(n.inputs[0])
    mean, rstd = e.row_stats(n.outputs[0])
    x, gm, bt = (e.p(i) for i in n.inputs)
    e.call(c, "et_layernorm_fwd_f32", x, gm, bt, e.p(n.outputs[0]), mean, rstd,
           str(numel(xs[:-1])), str(xs[-1]), cfloat(n.attrs["eps"]))
    row = 4 * xs[-1]
    e.tiled(c, numel(xs[:-1]), [(n.inputs[0], row, IN), (n.inputs[1], row, WHOLE),
                                (n.inputs[2], row, WHOLE), (n.outputs[0], row, OUT),
                                (("mean", mean), 4, OUT), (("rstd", rstd), 4, OUT)],
            ["@P0@", "@P1@", "@P2@", "@P3@", "@P4@", "@P5@", "@NR@", str(xs[-1]),
             cfloat(n.attrs["eps"])])
    return c


def emit_igrad(e, idx, n):  # inputs [dy, x, gamma] -> dx
    c = CCall()
    xs = e.shape(n.fwd["x"])
    mean, rstd = e.row_stats(n.fwd["y"])
    dy, x, gm = (e.p(i) for i in n.inputs)
    e.call(c, "et_layernorm_bwd_f32", x, gm, mean, rstd, dy, e.p(n.outputs[0]), "NULL", "NULL",
           str(numel(xs[:-1])), str(xs[-1]))
    row = 4 * xs[-1]
    e.tiled(c, numel(xs[:-1]), [(n.inputs[1], row, IN), (n.inputs[2], row, WHOLE),
                                (("mean", mean), 4, IN), (("rstd", rstd), 4, IN),
                                (n.inputs[0], row, IN), (n.outputs[0], row, OUT)],
            ["@P0@", "@P1@", "@P2@", "@P3@", "@P4@", "@P5@", "NULL", "NULL", "@NR@",
             str(xs[-1])])
    return c


def emit_wgrad(e, idx, n):  # inputs [dy, x] -> [dgamma][, dbeta]
    """dgamma = sum(dy * xhat) and dbeta = sum(dy): the kernel's column sums alone (dx = NULL),
    which read no gamma (it may live in L3, where Siracusa's cores cannot read it)."""
    c = CCall()
    xs = e.shape(n.fwd["x"])
    mean, rstd = e.row_stats(n.fwd["y"])
    outs = list(n.outputs)
    dg = e.p(outs.pop(0)) if n.attrs.get("dw", True) else "NULL"
    db = e.p(outs.pop(0)) if n.attrs.get("db", True) else "NULL"
    e.call(c, "et_layernorm_bwd_f32", e.p(n.inputs[1]), "NULL", mean, rstd, e.p(n.inputs[0]),
           "NULL", dg, db, str(numel(xs[:-1])), str(xs[-1]))
    return c


OPS = [OpDef(
    "layernorm", same_shape, onnx=("LayerNormalization",), importer=import_layernorm, grad=grad,
    row_stats=lambda n, g: numel(g[n.inputs[0]].shape[:-1]),
    calls={"fwd": Call(lambda n, g, x, gm, bt: stats(x, n.attrs["eps"])[0] * gm + bt,
                       lambda n, g: FWD * _n(n, g), emit_fwd, ("et_layernorm_fwd_f32",)),
           "igrad": Call(ref_igrad, lambda n, g: DX * _n(n, g), emit_igrad, ("et_layernorm_bwd_f32",)),
           "wgrad": Call(ref_wgrad, lambda n, g: (DGAMMA * n.attrs.get("dw", True)
                                                  + DBETA * n.attrs.get("db", True)) * _n(n, g),
                         emit_wgrad, ("et_layernorm_bwd_f32",))})]
FLOP = {"LAYERNORM_FWD": FWD, "LAYERNORM_DX": DX, "LAYERNORM_DGAMMA": DGAMMA,
        "LAYERNORM_DBETA": DBETA}
