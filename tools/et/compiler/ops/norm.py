"""layernorm over the last axis (ONNX LayerNormalization, or the decomposed pattern fusion
finds; inputs [x, gamma, beta], or [x] alone for no affine): import, shapes, FLOP, gradient,
numpy reference, C calls (kernels/include/et_layernorm.h). Also the import of
BatchNormalization (``import_batchnorm``), with frozen running statistics or with batch
statistics and the running-statistics update (``bn_running``), as the user chooses.

The forward saves mean and 1/std per row in small static buffers of the generated program
(``OpDef.row_stats``, ``Emitter.row_stats``); the reference recomputes them from X."""
from __future__ import annotations

import numpy as np

from ..ir import Node, Tensor
from ..kernelmap import IN, LATER_CHUNK, OUT, WHOLE, CCall, cfloat
from .base import WEIGHT_BIAS, F32, Call, OpDef, numel, same_shape

FWD = 8        # FLOP per element: mean 1, variance 3, normalize and affine 4
DX = 10        # backward per element: dx
DGAMMA = 2     # dgamma = sum(dy * xhat)
DBETA = 1      # dbeta = sum(dy)
RUNNING = 10   # per channel: variance from rstd 3, unbiased 1, the two running updates 3 each


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


BN_MODES = ("export", "frozen", "batch")


def batchnorm_mode(imp, a) -> str:
    """"batch" (batch statistics) or "frozen" (running statistics) for a BatchNormalization
    node: the importer's ``batchnorm`` option, where "export" follows the node's
    ``training_mode`` (1 in a TorchScript export with ``training=TrainingMode.TRAINING``)."""
    if imp.batchnorm == "export":
        return "batch" if int(a.get("training_mode", 0)) else "frozen"
    return imp.batchnorm


def import_batchnorm(imp, op, node, a) -> None:
    """BatchNormalization over the channels of [N, C, ...]; ``batchnorm_mode`` picks how."""
    ins = list(node.input)
    shape = imp.shape(ins[0])
    if len(shape) < 2:
        imp.unsupported(f"input of rank {len(shape)}; expected [N, C, ...]")
    c = shape[1]
    for k, what in ((3, "running mean"), (4, "running variance")):
        size = int(np.prod(imp.shape(ins[k]))) if imp.name(ins[k]) in imp.g.tensors \
            else _values(imp, ins[k], f"the {what} of BatchNormalization").size
        if size != c:
            imp.unsupported(f"a {what} of {size} values for {c} channels")
    if batchnorm_mode(imp, a) == "batch":
        _batch_statistics(imp, node, a, shape)
    else:
        _frozen_statistics(imp, node, a, shape)


def _channel_affine(imp, x, scale, shift, out, shape) -> None:
    """out = x * scale[c] + shift[c] over the channels of ``x`` [N, C, ...] (``shape``): a
    depthwise 1x1 convolution of x viewed as [N, C, L, 1] with weight ``scale`` and bias
    ``shift``, so both train through the convolution's weight gradient."""
    n, c, length = shape[0], shape[1], numel(shape[2:])
    fresh = imp.g.fresh
    w4, x4, y4 = fresh(out + "_w"), fresh(out + "_x"), fresh(out + "_y")
    imp.emit("reshape", [scale], w4, shape=[c, 1, 1, 1])
    imp.emit("reshape", [x], x4, shape=[n, c, length, 1])
    imp.emit("dwconv2d", [x4, w4, shift], y4, strides=[1, 1], pads=[0, 0, 0, 0])
    imp.emit("reshape", [y4], out, shape=list(shape))


def _frozen_statistics(imp, node, a, shape) -> None:
    """Frozen statistics (an eval-mode export): per channel y = x * s + t with
    s = gamma / sqrt(var + eps), t = beta - mean * s, s and t built from the trained gamma and
    beta (mul, add of [C] vectors) before the channel affine; gamma and beta train as in
    PyTorch (their gradients flow through s and t); mean and var stay constants."""
    ins, out = list(node.input), node.output[0]
    eps = float(a.get("epsilon", 1e-5))
    mean = _values(imp, ins[3], "the running mean of BatchNormalization").reshape(-1)
    var = _values(imp, ins[4], "the running variance of BatchNormalization").reshape(-1)
    fresh = imp.g.fresh
    rstd, neg_mean = fresh(out + "_rstd"), fresh(out + "_neg_mean")
    imp.consts[rstd] = (1.0 / np.sqrt(var + eps)).astype(np.float32)
    imp.consts[neg_mean] = (-mean).astype(np.float32)
    s, sm, t = fresh(out + "_scale"), fresh(out + "_scaled_mean"), fresh(out + "_shift")
    imp.emit("mul", [ins[1], rstd], s)
    imp.emit("mul", [s, neg_mean], sm)
    imp.emit("add", [ins[2], sm], t)
    _channel_affine(imp, ins[0], s, t, out, shape)


def _batch_statistics(imp, node, a, shape) -> None:
    """Batch statistics, as PyTorch's BatchNorm in training mode: each channel normalized by
    the mean and biased variance over its N x L values (a layernorm without affine over the
    rows of x viewed as [C, N*L]: a view for N = 1, a transpose of [N, C, L] otherwise), then
    the channel affine with gamma and beta; ``bn_running`` updates the running statistics from
    the layernorm's saved mean and rstd (unbiased variance, PyTorch's momentum = 1 - ONNX's)."""
    ins, out = list(node.input), node.output[0]
    n, c, length = shape[0], shape[1], numel(shape[2:])
    m = n * length
    if m < 2:
        imp.unsupported(f"batch statistics over {m} value per channel (batch {n}, "
                        f"{length} per image): train with a larger batch, or freeze the "
                        "statistics (--batchnorm frozen)")
    eps = float(a.get("epsilon", 1e-5))
    fresh = imp.g.fresh
    rows = fresh(out + "_rows")
    if n == 1:
        imp.emit("reshape", [ins[0]], rows, shape=[c, m])
    else:
        x3, xt = fresh(out + "_x3"), fresh(out + "_xt")
        imp.emit("reshape", [ins[0]], x3, shape=[n, c, length])
        imp.emit("transpose", [x3], xt, perm=[1, 0, 2])
        imp.emit("reshape", [xt], rows, shape=[c, m])
    xh = fresh(out + "_normalized")
    imp.emit("layernorm", [rows], xh, eps=eps, axis=-1)
    stats = []
    for k in (3, 4):
        name = imp.name(ins[k])
        if name in imp.g.tensors:
            t = imp.g[name]
            if t.kind != "param":
                imp.unsupported(f"running statistic '{name}' is computed in the graph")
            t.kind, t.shape = "state", (c,)
            t.data = np.asarray(t.data, np.float32).reshape(c)
        else:
            imp.g.add_tensor(Tensor(name, (c,), "f32", "state", np.asarray(
                _values(imp, ins[k], "a running statistic"), np.float32).reshape(c).copy()))
        stats.append(name)
    imp.g.add_node(Node("bn_running", [rows] + stats, list(stats),
                        {"momentum": 1.0 - float(a.get("momentum", 0.9)), "eps": eps},
                        name=imp.g.fresh(f"{imp.node_name}/running_stats"),
                        scope=imp.node_scope, fwd={"y": xh}))
    imp.g.meta.setdefault("buffers", []).extend(stats)
    back = xh
    if n > 1:
        b3, bt = fresh(out + "_b3"), fresh(out + "_bt")
        imp.emit("reshape", [xh], b3, shape=[c, n, length])
        imp.emit("transpose", [b3], bt, perm=[1, 0, 2])
        back = bt
    _channel_affine(imp, back, ins[1], ins[2], out, shape)


def stats(x, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    rstd = 1.0 / np.sqrt(var + F32(eps))
    return (x - mu) * rstd, rstd


def ref_fwd(n, g, x, gamma=None, beta=None):
    xh = stats(x, n.attrs["eps"])[0]
    return xh if gamma is None else xh * gamma + beta


def ref_igrad(n, g, dy, x, gamma=None):
    xh, rstd = stats(x, n.attrs["eps"])
    dxh = dy if gamma is None else dy * gamma
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
    x = n.inputs[0]
    geo = dict(x=x, y=n.outputs[0])
    gamma = n.inputs[1:2]
    if d.want(x):
        dx = d.new_grad(x)
        d.emit("layernorm", [dy, x] + gamma, [dx], n, "igrad", tensors=geo)
        d.contribute(x, dx, n)
    if len(n.inputs) < 3:
        return
    gamma, beta = n.inputs[1:3]
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


def _tiled(e, c, xs, streams, args):
    """The call tiled by rows; ``streams``: (operand or None for a NULL pointer, bytes per row,
    direction), numbered into ``@P<i>@`` in order; ``args``: the C arguments, a stream given
    as its index in ``streams``."""
    live = [st for st in streams if st[0] is not None]
    ptr = {id(st): f"@P{k}@" for k, st in enumerate(live)}
    e.tiled(c, numel(xs[:-1]), live,
            [a if isinstance(a, str) else (ptr[id(streams[a])] if streams[a][0] is not None
                                           else "NULL") for a in args])


def emit_fwd(e, idx, n):
    c = CCall()
    xs = e.shape(n.inputs[0])
    mean, rstd = e.row_stats(n.outputs[0])
    affine = len(n.inputs) == 3
    x = e.p(n.inputs[0])
    gm, bt = (e.p(i) for i in n.inputs[1:]) if affine else ("NULL", "NULL")
    e.call(c, "et_layernorm_fwd_f32", x, gm, bt, e.p(n.outputs[0]), mean, rstd,
           str(numel(xs[:-1])), str(xs[-1]), cfloat(n.attrs["eps"]))
    row = 4 * xs[-1]
    _tiled(e, c, xs, [(n.inputs[0], row, IN), (n.inputs[1] if affine else None, row, WHOLE),
                      (n.inputs[2] if affine else None, row, WHOLE), (n.outputs[0], row, OUT),
                      (("mean", mean), 4, OUT), (("rstd", rstd), 4, OUT)],
           [0, 1, 2, 3, 4, 5, "@NR@", str(xs[-1]), cfloat(n.attrs["eps"])])
    return c


def emit_igrad(e, idx, n):  # inputs [dy, x, gamma] (or [dy, x]: no affine) -> dx
    c = CCall()
    xs = e.shape(n.fwd["x"])
    mean, rstd = e.row_stats(n.fwd["y"])
    gamma = n.inputs[2] if len(n.inputs) > 2 else None
    dy, x = (e.p(i) for i in n.inputs[:2])
    e.call(c, "et_layernorm_bwd_f32", x, e.p(gamma) if gamma else "NULL", mean, rstd, dy,
           e.p(n.outputs[0]), "NULL", "NULL", str(numel(xs[:-1])), str(xs[-1]))
    row = 4 * xs[-1]
    _tiled(e, c, xs, [(n.inputs[1], row, IN), (gamma, row, WHOLE), (("mean", mean), 4, IN),
                      (("rstd", rstd), 4, IN), (n.inputs[0], row, IN), (n.outputs[0], row, OUT)],
           [0, 1, 2, 3, 4, 5, "NULL", "NULL", "@NR@", str(xs[-1])])
    return c


def emit_wgrad(e, idx, n):  # inputs [dy, x] -> [dgamma][, dbeta]
    """dgamma = sum(dy * xhat) and dbeta = sum(dy): the kernel's column sums alone (dx = NULL),
    which read no gamma (it may live in L3, where Siracusa's cores cannot read it)."""
    c = CCall()
    xs = e.shape(n.fwd["x"])
    mean, rstd = e.row_stats(n.fwd["y"])
    outs = list(n.outputs)
    wants = [n.attrs.get("dw", True), n.attrs.get("db", True)]
    grads = [outs.pop(0) if w else None for w in wants]
    rows, dim = numel(xs[:-1]), xs[-1]
    e.call(c, "et_layernorm_bwd_wgrad_f32", e.p(n.inputs[1]), mean, rstd, e.p(n.inputs[0]),
           *(e.p(t) if t else "NULL" for t in grads), str(rows), str(dim), "0")
    # chunks of rows add into the first chunk's sums (bit-identical to one call)
    live = [t for t in grads if t]
    ptr = {t: f"@P{4 + i}@" for i, t in enumerate(live)}
    e.chunks(c, rows, [(n.inputs[1], 4 * dim, IN), (("mean", mean), 4, IN),
                       (("rstd", rstd), 4, IN), (n.inputs[0], 4 * dim, IN)]
             + [(t, 0, OUT) for t in live],
             [f"et_layernorm_bwd_wgrad_f32(@CTX@, @P0@, @P1@, @P2@, @P3@, "
              f"{', '.join(ptr[t] if t else 'NULL' for t in grads)}, @NR@, {dim}, {LATER_CHUNK})"])
    return c


# --- BatchNorm's running statistics -----------------------------------------------------------
def ref_running(n, g, rows, mean, var):
    """PyTorch's update: r = (1 - momentum) r + momentum * s, with the unbiased variance."""
    m, mom = rows.shape[-1], F32(n.attrs["momentum"])
    mu = rows.mean(-1)
    v = ((rows - mu[:, None]) ** 2).mean(-1) * F32(m / (m - 1))
    return [(1 - mom) * mean + mom * mu, (1 - mom) * var + mom * v]


def emit_running(e, idx, n):
    """From the layernorm's saved mean and rstd (the rows are not read again)."""
    c = CCall()
    rows = e.shape(n.inputs[0])
    mean, rstd = e.row_stats(n.fwd["y"])
    e.call(c, "et_batchnorm_running_f32", mean, rstd, str(rows[0]), str(rows[1]),
           cfloat(n.attrs["eps"]), cfloat(n.attrs["momentum"]), e.p(n.inputs[1]),
           e.p(n.inputs[2]))
    return c


OPS = [OpDef(
    "layernorm", same_shape, onnx=("LayerNormalization",), importer=import_layernorm, grad=grad,
    roles=WEIGHT_BIAS,
    row_stats=lambda n, g: numel(g[n.inputs[0]].shape[:-1]),
    calls={"fwd": Call(ref_fwd, lambda n, g: FWD * _n(n, g), emit_fwd, ("et_layernorm_fwd_f32",)),
           "igrad": Call(ref_igrad, lambda n, g: DX * _n(n, g), emit_igrad, ("et_layernorm_bwd_f32",)),
           "wgrad": Call(ref_wgrad, lambda n, g: (DGAMMA * n.attrs.get("dw", True)
                                                  + DBETA * n.attrs.get("db", True)) * _n(n, g),
                         emit_wgrad, ("et_layernorm_bwd_wgrad_f32",))}),
    # BatchNorm's running statistics, updated in place from a layernorm's saved row statistics
    # (inputs [rows, running mean, running var], outputs the same two; no gradient)
    OpDef("bn_running", lambda n, g: [g[i].shape for i in n.inputs[1:]],
          calls={"fwd": Call(ref_running, lambda n, g: RUNNING * g[n.inputs[1]].shape[0],
                             emit_running, ("et_batchnorm_running_f32",))})]
# BatchNormalization is no op of its own: its import rule builds it from registry ops (mul,
# add, reshape, transpose, layernorm, bn_running, dwconv2d)
IMPORTS = {"BatchNormalization": import_batchnorm}
FLOP = {"LAYERNORM_FWD": FWD, "LAYERNORM_DX": DX, "LAYERNORM_DGAMMA": DGAMMA,
        "LAYERNORM_DBETA": DBETA, "BN_RUNNING": RUNNING}
