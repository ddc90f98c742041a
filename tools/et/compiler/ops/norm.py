"""layernorm over the last axis (ONNX LayerNormalization, or the decomposed pattern fusion
finds): import, shapes, FLOP, gradient, numpy reference, C calls (kernels/include/et_layernorm.h).
Also the import of BatchNormalization with frozen statistics (see ``import_batchnorm``).

The forward saves mean and 1/std per row in small static buffers of the generated program
(``OpDef.row_stats``, ``Emitter.row_stats``); the reference recomputes them from X."""
from __future__ import annotations

import numpy as np

from ..kernelmap import IN, OUT, WHOLE, CCall, cfloat
from .base import WEIGHT_BIAS, F32, Call, OpDef, numel, same_shape

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


def _values(imp, name: str, what: str) -> np.ndarray:
    """The values of an initializer or constant input (a running statistic)."""
    n = imp.name(name)
    if n in imp.g.tensors and imp.g[n].data is not None:
        return np.asarray(imp.g[n].data, np.float64)
    return np.asarray(imp.const(name, what), np.float64)


def import_batchnorm(imp, op, node, a) -> None:
    """BatchNormalization with frozen statistics (an eval-mode export): per channel
    y = x * s + t with s = gamma / sqrt(var + eps), t = beta - mean * s, built from registry ops:
    s and t from the trained gamma and beta (mul, add of [C] vectors), then a depthwise 1x1
    convolution of x viewed as [N, C, L, 1] with weight s and bias t. gamma and beta train as
    in PyTorch (their gradients flow through s and t); mean and var stay constants."""
    ins, out = list(node.input), node.output[0]
    if int(a.get("training_mode", 0)) or any(o for o in list(node.output)[1:]):
        imp.unsupported("training_mode=1 (batch statistics): export the model in eval mode, "
                        "which freezes the running statistics")
    shape = imp.shape(ins[0])
    if len(shape) < 2:
        imp.unsupported(f"input of rank {len(shape)}; expected [N, C, ...]")
    n, c, rest = shape[0], shape[1], shape[2:]
    eps = float(a.get("epsilon", 1e-5))
    mean = _values(imp, ins[3], "the running mean of BatchNormalization").reshape(-1)
    var = _values(imp, ins[4], "the running variance of BatchNormalization").reshape(-1)
    if mean.size != c or var.size != c:
        imp.unsupported(f"statistics of {mean.size} and {var.size} values for {c} channels")
    fresh = imp.g.fresh
    rstd, neg_mean = fresh(out + "_rstd"), fresh(out + "_neg_mean")
    imp.consts[rstd] = (1.0 / np.sqrt(var + eps)).astype(np.float32)
    imp.consts[neg_mean] = (-mean).astype(np.float32)
    s, sm, t = fresh(out + "_scale"), fresh(out + "_scaled_mean"), fresh(out + "_shift")
    imp.emit("mul", [ins[1], rstd], s)
    imp.emit("mul", [s, neg_mean], sm)
    imp.emit("add", [ins[2], sm], t)
    length = numel(rest)
    w4, x4, y4 = fresh(out + "_w"), fresh(out + "_x"), fresh(out + "_y")
    imp.emit("reshape", [s], w4, shape=[c, 1, 1, 1])
    imp.emit("reshape", [ins[0]], x4, shape=[n, c, length, 1])
    imp.emit("dwconv2d", [x4, w4, t], y4, strides=[1, 1], pads=[0, 0, 0, 0])
    imp.emit("reshape", [y4], out, shape=list(shape))


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
    roles=WEIGHT_BIAS,
    row_stats=lambda n, g: numel(g[n.inputs[0]].shape[:-1]),
    calls={"fwd": Call(lambda n, g, x, gm, bt: stats(x, n.attrs["eps"])[0] * gm + bt,
                       lambda n, g: FWD * _n(n, g), emit_fwd, ("et_layernorm_fwd_f32",)),
           "igrad": Call(ref_igrad, lambda n, g: DX * _n(n, g), emit_igrad, ("et_layernorm_bwd_f32",)),
           "wgrad": Call(ref_wgrad, lambda n, g: (DGAMMA * n.attrs.get("dw", True)
                                                  + DBETA * n.attrs.get("db", True)) * _n(n, g),
                         emit_wgrad, ("et_layernorm_bwd_f32",))})]
# BatchNormalization is no op of its own: its import rule builds it from mul, add, reshape and
# dwconv2d (the registry maps the ONNX type to this module's importer)
IMPORTS = {"BatchNormalization": import_batchnorm}
FLOP = {"LAYERNORM_FWD": FWD, "LAYERNORM_DX": DX, "LAYERNORM_DGAMMA": DGAMMA,
        "LAYERNORM_DBETA": DBETA}
