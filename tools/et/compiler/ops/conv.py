"""conv2d (ONNX Conv, NCHW, group 1): import, shapes, FLOP, gradient, numpy reference, C calls
(kernels/include/et_conv2d.h). Pads are [top, left, bottom, right]; the C kernel pads both
sides equally."""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..ir import CompileError
from ..kernelmap import CCall, CodegenError, scratch
from .base import BIAS, MAC, F32, Call, OpDef, conv_out, numel, weighted_grad, where



def import_conv(imp, op, node, a) -> None:
    ins = list(node.input)
    if a.get("group", 1) != 1 or any(d != 1 for d in a.get("dilations", [1, 1])):
        imp.unsupported("only group=1, dilation 1")
    if a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID") or len(imp.shape(ins[0])) != 4:
        imp.unsupported("only 2-D convolution with explicit pads")
    imp.emit("conv2d", [i for i in ins if i], node.output[0], strides=list(a.get("strides", [1, 1])),
             pads=list(a.get("pads", [0, 0, 0, 0])))


def infer(node, g):
    n, c, h, w = g[node.inputs[0]].shape
    f, cw, kh, kw = g[node.inputs[1]].shape
    if cw != c:
        raise CompileError(f"{where(node)}: input has {c} channels, weight expects {cw}")
    st, p = node.attrs["strides"], node.attrs["pads"]
    return [(n, f, conv_out(h, kh, st[0], p[0], p[2]), conv_out(w, kw, st[1], p[1], p[3]))]


# --- numpy reference -------------------------------------------------------------------------
def pad(x, p, value=0.0):
    return np.pad(x, ((0, 0), (0, 0), (p[0], p[2]), (p[1], p[3])), constant_values=value)


def windows(x, k, st, p, value=0.0):
    """[N, C, Ho, Wo, kh, kw] view of the padded input's windows."""
    xp = pad(x, p, value)
    w = sliding_window_view(xp, tuple(k), axis=(2, 3))
    return w[:, :, ::st[0], ::st[1]]


def _cols(x, k, st, p):
    w = windows(x, k, st, p)
    n, c, ho, wo = w.shape[:4]
    return w.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * k[0] * k[1]), (n, ho, wo)


def ref_fwd(node, g, x, w, b=None):
    a = node.attrs
    cols, (n, ho, wo) = _cols(x, w.shape[2:], a["strides"], a["pads"])
    y = cols @ w.reshape(w.shape[0], -1).T
    if b is not None:
        y = y + b
    return y.reshape(n, ho, wo, -1).transpose(0, 3, 1, 2)


def ref_igrad(node, g, dy, w):
    n, c, h, wd = g[node.fwd["x"]].shape
    f, _, kh, kw = w.shape
    st, p = node.attrs["strides"], node.attrs["pads"]
    ho, wo = dy.shape[2:]
    dcols = (dy.transpose(0, 2, 3, 1).reshape(-1, f) @ w.reshape(f, -1)).reshape(n, ho, wo, c, kh, kw)
    dxp = np.zeros((n, c, h + p[0] + p[2], wd + p[1] + p[3]), F32)
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i:i + st[0] * ho:st[0], j:j + st[1] * wo:st[1]] += \
                dcols[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return dxp[:, :, p[0]:p[0] + h, p[1]:p[1] + wd]


def ref_wgrad(node, g, dy, x):
    a = node.attrs
    wshape = g[node.fwd["w"]].shape
    cols, _ = _cols(x, wshape[2:], a["strides"], a["pads"])
    dy2 = dy.transpose(0, 2, 3, 1).reshape(-1, wshape[0])
    res = ((dy2.T @ cols).reshape(wshape), dy2.sum(0))
    return [o for o, keep in zip(res, (a["dw"], a["db"])) if keep]


# --- FLOP ------------------------------------------------------------------------------------
def _mac(node, g):
    w, y = g[node.fwd.get("w", node.inputs[1])].shape, g[node.fwd.get("y", node.outputs[0])].shape
    return numel(y) * w[1] * w[2] * w[3], numel(y)


def flop_fwd(node, g):
    mac, ny = _mac(node, g)
    return MAC * mac + (BIAS * ny if len(node.inputs) > 2 else 0)


def flop_igrad(node, g):
    return MAC * _mac(node, g)[0]


def flop_wgrad(node, g):
    mac, ny = _mac(node, g)
    return (MAC * mac if node.attrs.get("dw", True) else 0) + (BIAS * ny if node.attrs.get("db") else 0)


# --- C calls (et_conv2d.h) -------------------------------------------------------------------
def _args(e, idx, n, c, x, w):
    """The et_conv2d_args declaration; returns its name and the geometry (for tile queries)."""
    xs, ws = e.shape(x), e.shape(w)
    st, p = n.attrs["strides"], n.attrs["pads"]
    if p[0] != p[2] or p[1] != p[3]:
        raise CodegenError(f"node '{n.name}': conv2d with asymmetric pads {p} (et_conv2d.h "
                           "pads both sides equally)")
    name = f"conv{idx}"
    c.decls.append(f"static const et_conv2d_args {name} = {{.n = {xs[0]}, .c_in = {xs[1]}, "
                   f".h = {xs[2]}, .w = {xs[3]}, .c_out = {ws[0]}, .kh = {ws[2]}, .kw = {ws[3]}, "
                   f".sh = {st[0]}, .sw = {st[1]}, .ph = {p[0]}, .pw = {p[1]}}};")
    return name, (xs[0], xs[1], xs[2], xs[3], ws[0], ws[2], ws[3], st[0], st[1], p[0], p[1])


def emit_fwd(e, idx, n):
    c = CCall()
    a, dims = _args(e, idx, n, c, n.inputs[0], n.inputs[1])
    b = e.p(n.inputs[2]) if len(n.inputs) > 2 else "NULL"
    e.call(c, "et_conv2d_fwd_f32", f"&{a}", e.p(n.inputs[0]), e.p(n.inputs[1]), b, e.p(n.outputs[0]))
    c.scratch.append(scratch("et_conv2d_scratch_size", a))
    c.kernel_q.append(("et_conv2d_fwd_f32", ("conv", 0) + dims))
    return c


def emit_igrad(e, idx, n):
    c = CCall()
    a, dims = _args(e, idx, n, c, n.fwd["x"], n.fwd["w"])
    e.call(c, "et_conv2d_bwd_igrad_f32", f"&{a}", e.p(n.inputs[1]), e.p(n.inputs[0]), e.p(n.outputs[0]))
    c.scratch.append(scratch("et_conv2d_scratch_size", a))
    c.kernel_q.append(("et_conv2d_bwd_igrad_f32", ("conv", 1) + dims))
    return c


def emit_wgrad(e, idx, n):
    c = CCall()
    a, dims = _args(e, idx, n, c, n.fwd["x"], n.fwd["w"])
    dy, x = e.p(n.inputs[0]), e.p(n.inputs[1])
    outs = list(n.outputs)
    if n.attrs.get("dw", True):
        e.call(c, "et_conv2d_bwd_wgrad_f32", f"&{a}", x, dy, e.p(outs.pop(0)))
        c.scratch.append(scratch("et_conv2d_scratch_size", a))
        c.kernel_q.append(("et_conv2d_bwd_wgrad_f32", ("conv", 2) + dims))
    if n.attrs.get("db"):
        e.call(c, "et_conv2d_bwd_bgrad_f32", f"&{a}", dy, e.p(outs.pop(0)))
        c.scratch.append(scratch("et_conv2d_scratch_size", a))
    return c


OPS = [OpDef(
    "conv2d", infer, onnx=("Conv",), importer=import_conv, grad=weighted_grad,
    calls={"fwd": Call(ref_fwd, flop_fwd, emit_fwd, ("et_conv2d_fwd_f32",)),
           "igrad": Call(ref_igrad, flop_igrad, emit_igrad, ("et_conv2d_bwd_igrad_f32",)),
           "wgrad": Call(ref_wgrad, flop_wgrad, emit_wgrad,
                         ("et_conv2d_bwd_wgrad_f32", "et_conv2d_bwd_bgrad_f32"))})]
