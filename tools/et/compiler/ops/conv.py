"""conv2d (ONNX Conv, NCHW, any group that divides the channels: attribute ``group``) and
dwconv2d (depthwise: group = input channels = output channels, as MobileNet and DS-CNN use it,
a kernel of its own): import, shapes, FLOP, gradient, numpy reference, C
calls (kernels/include/et_conv2d.h). Pads are [top, left, bottom, right]; the C kernels pad both
sides equally. dwconv2d runs through L1 plane range by plane range (et_tile.h)."""
from __future__ import annotations

import numpy as np
import onnx
from numpy.lib.stride_tricks import sliding_window_view

from ..ir import CompileError
from ..kernelmap import IN, LATER_CHUNK, OUT, WHOLE, CCall, scratch
from .base import plane_pre, symmetric_pads, WEIGHT_BIAS, BIAS, MAC, F32, Call, OpDef, conv_out, numel, weighted_grad, where



def _conv1d_as_2d(imp, node, a) -> None:
    """A 1-D convolution [N, C, L] as a 2-D one on [N, C, 1, L]: the input and output are views;
    the weight [F, C/g, k] trains as [F, C/g, 1, k] and is written out as [F, C/g, k]
    (``Tensor.model_shape``)."""
    ins, out = list(node.input), node.output[0]
    w = imp.name(ins[1])
    if w not in imp.g.tensors or imp.g[w].kind != "param" or len(imp.g[w].shape) != 3:
        imp.unsupported("a 1-D convolution needs its weight as an initializer [F, C, k]")
    t = imp.g[w]
    t.model_shape = t.model_shape or t.shape
    t.shape = (t.shape[0], t.shape[1], 1, t.shape[2])
    t.data = t.data.reshape(t.shape)
    n, c, length = imp.shape(ins[0])
    x4, y4 = imp.g.fresh(out + "_2d_in"), imp.g.fresh(out + "_2d")
    imp.emit("reshape", ins[:1], x4, shape=[n, c, 1, length])
    pads = [int(p) for p in a.get("pads", [0, 0])]
    a2 = dict(a, strides=[1] + [int(s) for s in a.get("strides", [1])],
              pads=[0, pads[0], 0, pads[1]], kernel_shape=[1] + list(a.get("kernel_shape", [])))
    node2 = onnx.helper.make_node("Conv", [x4, w] + ins[2:], [y4], name=node.name)
    import_conv(imp, "Conv", node2, a2)
    imp.emit("reshape", [y4], out, shape=list(imp.shape(y4)[:2]) + [imp.shape(y4)[3]])


def import_conv(imp, op, node, a) -> None:
    ins = list(node.input)
    group = int(a.get("group", 1))
    if any(d != 1 for d in a.get("dilations", [1, 1])):
        imp.unsupported("only dilation 1")
    if len(imp.shape(ins[0])) == 3 and a.get("auto_pad", "NOTSET") in ("NOTSET", "VALID"):
        return _conv1d_as_2d(imp, node, a)
    if a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID") or len(imp.shape(ins[0])) != 4:
        imp.unsupported("only 1-D and 2-D convolution with explicit pads")
    c_in, c_out = imp.shape(ins[0])[1], imp.shape(ins[1])[0]
    depthwise = group > 1 and group == c_in == c_out
    if group < 1 or c_in % group or c_out % group:
        imp.unsupported(f"group={group} with {c_in} input and {c_out} output channels (the "
                        "group count must divide both)")
    pads = list(a.get("pads", [0, 0, 0, 0]))
    symmetric_pads(imp, pads)
    extra = {} if group == 1 or depthwise else {"group": group}
    imp.emit("dwconv2d" if depthwise else "conv2d", [i for i in ins if i], node.output[0],
             strides=list(a.get("strides", [1, 1])), pads=pads, **extra)


def infer(node, g):
    n, c, h, w = g[node.inputs[0]].shape
    f, cw, kh, kw = g[node.inputs[1]].shape
    k = int(node.attrs.get("group", 1))
    if cw * k != c or f % k:
        raise CompileError(f"{where(node)}: input has {c} channels, weight {[f, cw, kh, kw]} "
                           f"expects {cw * k} in {k} group(s)")
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


def scatter_windows(xshape, k, st, p, tap):
    """The input gradient of a windowed op (padded, then cropped): ``tap(i, j)`` is the
    [N, C, Ho, Wo] contribution of window position (i, j), added at the stride."""
    n, c, h, w = xshape
    dxp = np.zeros((n, c, h + p[0] + p[2], w + p[1] + p[3]), F32)
    for i in range(k[0]):
        for j in range(k[1]):
            t = tap(i, j)
            ho, wo = t.shape[2:]
            dxp[:, :, i:i + st[0] * ho:st[0], j:j + st[1] * wo:st[1]] += t
    return dxp[:, :, p[0]:p[0] + h, p[1]:p[1] + w]


def _cols(x, k, st, p):
    w = windows(x, k, st, p)
    n, c, ho, wo = w.shape[:4]
    return w.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * k[0] * k[1]), (n, ho, wo)


def _dense_fwd(x, w, st, p):
    cols, (n, ho, wo) = _cols(x, w.shape[2:], st, p)
    return (cols @ w.reshape(w.shape[0], -1).T).reshape(n, ho, wo, -1).transpose(0, 3, 1, 2)


def _dense_igrad(dy, w, xshape, st, p):
    n, c, h, wd = xshape
    f, _, kh, kw = w.shape
    ho, wo = dy.shape[2:]
    dcols = (dy.transpose(0, 2, 3, 1).reshape(-1, f) @ w.reshape(f, -1)).reshape(n, ho, wo, c, kh, kw)
    return scatter_windows(xshape, (kh, kw), st, p,
                           lambda i, j: dcols[:, :, :, :, i, j].transpose(0, 3, 1, 2))


def _dense_wgrad(dy, x, wshape, st, p):
    cols, _ = _cols(x, wshape[2:], st, p)
    return (dy.transpose(0, 2, 3, 1).reshape(-1, wshape[0]).T @ cols).reshape(wshape)


def _groups(a, *arrays):
    """Per group of a grouped convolution (ONNX Conv's group), the arrays' channel slices
    (axis 1 of activations, axis 0 of the weight; ``None`` passes through)."""
    k = int(a.get("group", 1))
    for j in range(k):
        yield [None if t is None else (t[j * t.shape[0] // k:(j + 1) * t.shape[0] // k] if axis == 0
                                       else t[:, j * t.shape[1] // k:(j + 1) * t.shape[1] // k])
               for t, axis in arrays]


def ref_fwd(node, g, x, w, b=None):
    a = node.attrs
    y = np.concatenate([_dense_fwd(xg, wg, a["strides"], a["pads"])
                        for xg, wg in _groups(a, (x, 1), (w, 0))], axis=1)
    return y + b[None, :, None, None] if b is not None else y


def ref_igrad(node, g, dy, w):
    a = node.attrs
    n, c, h, wd = g[node.fwd["x"]].shape
    k = int(a.get("group", 1))
    return np.concatenate([_dense_igrad(dyg, wg, (n, c // k, h, wd), a["strides"], a["pads"])
                           for dyg, wg in _groups(a, (dy, 1), (w, 0))], axis=1)


def ref_wgrad(node, g, dy, x):
    a = node.attrs
    f, cg, kh, kw = g[node.fwd["w"]].shape
    k = int(a.get("group", 1))
    dw = np.concatenate([_dense_wgrad(dyg, xg, (f // k, cg, kh, kw), a["strides"], a["pads"])
                         for dyg, xg in _groups(a, (dy, 1), (x, 1))], axis=0)
    res = (dw, dy.sum((0, 2, 3)))
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
    st, p = n.attrs["strides"], n.attrs["pads"]   # symmetric: the importer checked
    name = f"conv{idx}"
    k = int(n.attrs.get("group", 1))
    groups = f", .groups = {k}" if k > 1 else ""
    c.decls.append(f"static const et_conv2d_args {name} = {{.n = {xs[0]}, .c_in = {xs[1]}, "
                   f".h = {xs[2]}, .w = {xs[3]}, .c_out = {ws[0]}, .kh = {ws[2]}, .kw = {ws[3]}, "
                   f".sh = {st[0]}, .sw = {st[1]}, .ph = {p[0]}, .pw = {p[1]}{groups}}};")
    # the tiles of one group (each group runs the same dense plan)
    return name, (xs[0], xs[1] // k, xs[2], xs[3], ws[0] // k, ws[2], ws[3], st[0], st[1], p[0],
                  p[1])


def _conv_call(e, c, kernel: str, a: str, dims: tuple, mode: int, *ptrs: str) -> None:
    """One call of a conv2d kernel that tiles itself through L1: its scratch and tile query
    (``mode``: 0 forward, 1 dX, 2 dW, as tiles.py asks the kernel's planner)."""
    e.call(c, kernel, f"&{a}", *ptrs)
    c.scratch.append(scratch("et_conv2d_scratch_size", a))
    c.kernel_q.append((kernel, ("conv", mode) + dims))


# chunks of images for the planner's L3 chunks (Emitter.chunk_structs): the calls run on a copy
# of the geometry with n images; the gradients of the weights sum over the images, so the
# chunks after the first add in
IMAGES = {"n": "@NR@"}
SUM_IMAGES = {"n": "@NR@", "accumulate": LATER_CHUNK}


def _image_bytes(e, t) -> int:
    return 4 * numel(e.shape(t)[1:])


def emit_fwd(e, idx, n):
    c = CCall()
    x, w, y = n.inputs[0], n.inputs[1], n.outputs[0]
    bias = n.inputs[2] if len(n.inputs) > 2 else None
    a, dims = _args(e, idx, n, c, x, w)
    _conv_call(e, c, "et_conv2d_fwd_f32", a, dims, 0, e.p(x), e.p(w),
               e.p(bias) if bias else "NULL", e.p(y))
    e.chunk_structs(c, e.shape(x)[0], [(x, _image_bytes(e, x), IN), (w, 0, IN),
                                       (y, _image_bytes(e, y), OUT)]
                    + ([(bias, 0, IN)] if bias else []),
                    [("et_conv2d_fwd_f32", "et_conv2d_args", a, IMAGES,
                      ["@P0@", "@P1@", "@P3@" if bias else "NULL", "@P2@"])])
    return c


def emit_igrad(e, idx, n):  # inputs [dy, w] -> dx
    c = CCall()
    dy, w, dx = n.inputs[0], n.inputs[1], n.outputs[0]
    a, dims = _args(e, idx, n, c, n.fwd["x"], n.fwd["w"])
    _conv_call(e, c, "et_conv2d_bwd_igrad_f32", a, dims, 1, e.p(w), e.p(dy), e.p(dx))
    e.chunk_structs(c, e.shape(dx)[0], [(dy, _image_bytes(e, dy), IN), (w, 0, IN),
                                        (dx, _image_bytes(e, dx), OUT)],
                    [("et_conv2d_bwd_igrad_f32", "et_conv2d_args", a, IMAGES,
                      ["@P1@", "@P0@", "@P2@"])])
    return c


def emit_wgrad(e, idx, n):  # inputs [dy, x] -> [dw][, db]
    c = CCall()
    a, dims = _args(e, idx, n, c, n.fwd["x"], n.fwd["w"])
    dy, x = n.inputs
    outs = list(n.outputs)
    streams = [(dy, _image_bytes(e, dy), IN), (x, _image_bytes(e, x), IN)] + \
        [(t, 0, OUT) for t in outs]
    chunks = []
    if n.attrs.get("dw", True):
        _conv_call(e, c, "et_conv2d_bwd_wgrad_f32", a, dims, 2, e.p(x), e.p(dy), e.p(outs[0]))
        chunks.append(("et_conv2d_bwd_wgrad_f32", "et_conv2d_args", a, SUM_IMAGES,
                       ["@P1@", "@P0@", "@P2@"]))
    if n.attrs.get("db"):
        e.call(c, "et_conv2d_bwd_bgrad_f32", f"&{a}", e.p(dy), e.p(outs[-1]))
        c.scratch.append(scratch("et_conv2d_scratch_size", a))
        chunks.append(("et_conv2d_bwd_bgrad_f32", "et_conv2d_args", a, SUM_IMAGES,
                       ["@P0@", f"@P{len(streams) - 1}@"]))
    e.chunk_structs(c, e.shape(x)[0], streams, chunks)
    return c


# --- dwconv2d: one filter per channel -------------------------------------------------------
def infer_dw(node, g):
    n, c, h, w = g[node.inputs[0]].shape
    f, cw, kh, kw = g[node.inputs[1]].shape
    if (f, cw) != (c, 1):
        raise CompileError(f"{where(node)}: depthwise weight {[f, cw, kh, kw]} for {c} channels")
    st, p = node.attrs["strides"], node.attrs["pads"]
    return [(n, c, conv_out(h, kh, st[0], p[0], p[2]), conv_out(w, kw, st[1], p[1], p[3]))]


def ref_dw_fwd(node, g, x, w, b=None):
    a = node.attrs
    win = windows(x, w.shape[2:], a["strides"], a["pads"])          # [N, C, Ho, Wo, kh, kw]
    y = np.einsum("ncyxij,cij->ncyx", win, w[:, 0])
    return y + b[None, :, None, None] if b is not None else y


def ref_dw_igrad(node, g, dy, w):
    return scatter_windows(g[node.fwd["x"]].shape, w.shape[2:], node.attrs["strides"],
                           node.attrs["pads"], lambda i, j: dy * w[None, :, 0, i, j, None, None])


def ref_dw_wgrad(node, g, dy, x):
    a = node.attrs
    wshape = g[node.fwd["w"]].shape
    win = windows(x, wshape[2:], a["strides"], a["pads"])
    res = (np.einsum("ncyxij,ncyx->cij", win, dy)[:, None], dy.sum((0, 2, 3)))
    return [o for o, keep in zip(res, (a["dw"], a["db"])) if keep]


def _dw_args(e, idx, n, c, x, w):
    xs, ws = e.shape(x), e.shape(w)
    st, p = n.attrs["strides"], n.attrs["pads"]
    name = f"dw{idx}"
    c.decls.append(f"static const et_dwconv2d_args {name} = {{.planes = {xs[0] * xs[1]}, "
                   f".c = {xs[1]}, .c0 = 0, .h = {xs[2]}, .w = {xs[3]}, .kh = {ws[2]}, "
                   f".kw = {ws[3]}, .sh = {st[0]}, .sw = {st[1]}, .ph = {p[0]}, .pw = {p[1]}}};")
    return name, xs


def emit_dw_fwd(e, idx, n):
    c = CCall()
    x, w, y = n.inputs[0], n.inputs[1], n.outputs[0]
    a, xs = _dw_args(e, idx, n, c, x, w)
    b = n.inputs[2] if len(n.inputs) > 2 else None
    e.call(c, "et_dwconv2d_fwd_f32", f"&{a}", e.p(x), e.p(w), e.p(b) if b else "NULL", e.p(y))
    ys = e.shape(y)
    streams = [(x, 4 * xs[2] * xs[3], IN), (y, 4 * ys[2] * ys[3], OUT),
               (w, 4 * numel(e.shape(w)), WHOLE)] + ([(b, 4 * xs[1], WHOLE)] if b else [])
    e.tiled(c, xs[0] * xs[1], streams,
            ["&a_", "@P0@", "@P2@", "@P3@" if b else "NULL", "@P1@"], plane_pre("et_dwconv2d_args", a, xs[1]))
    return c


def emit_dw_igrad(e, idx, n):  # inputs [dy, w] -> dx
    c = CCall()
    dy, w, dx = n.inputs[0], n.inputs[1], n.outputs[0]
    a, xs = _dw_args(e, idx, n, c, n.fwd["x"], n.fwd["w"])
    e.call(c, "et_dwconv2d_bwd_igrad_f32", f"&{a}", e.p(w), e.p(dy), e.p(dx))
    ys = e.shape(dy)
    e.tiled(c, xs[0] * xs[1], [(dy, 4 * ys[2] * ys[3], IN), (dx, 4 * xs[2] * xs[3], OUT),
                               (w, 4 * numel(e.shape(w)), WHOLE)],
            ["&a_", "@P2@", "@P0@", "@P1@"], plane_pre("et_dwconv2d_args", a, xs[1]))
    return c


def emit_dw_wgrad(e, idx, n):  # inputs [dy, x] -> [dw][, db]
    """Sums over the planes of each channel; chunks of whole images add in."""
    c = CCall()
    a, xs = _dw_args(e, idx, n, c, n.fwd["x"], n.fwd["w"])
    dy, x = n.inputs
    outs = list(n.outputs)
    grads = [outs.pop(0) if n.attrs.get("dw", True) else None,
             outs.pop(0) if n.attrs.get("db") else None]
    e.call(c, "et_dwconv2d_bwd_wgrad_f32", f"&{a}", e.p(x), e.p(dy),
           *(e.p(t) if t else "NULL" for t in grads))
    live = [t for t in grads if t]
    ptr = {t: f"@P{2 + i}@" for i, t in enumerate(live)}
    e.chunk_structs(c, xs[0], [(dy, _image_bytes(e, dy), IN), (x, _image_bytes(e, x), IN)]
                    + [(t, 0, OUT) for t in live],
                    [("et_dwconv2d_bwd_wgrad_f32", "et_dwconv2d_args", a,
                      {"planes": f"@NR@ * {xs[1]}u", "accumulate": LATER_CHUNK},
                      ["@P1@", "@P0@"] + [ptr[t] if t else "NULL" for t in grads])])
    return c


OPS = [OpDef(
    "conv2d", infer, onnx=("Conv",), importer=import_conv, grad=weighted_grad,
    roles=WEIGHT_BIAS,
    calls={"fwd": Call(ref_fwd, flop_fwd, emit_fwd, ("et_conv2d_fwd_f32",)),
           "igrad": Call(ref_igrad, flop_igrad, emit_igrad, ("et_conv2d_bwd_igrad_f32",)),
           "wgrad": Call(ref_wgrad, flop_wgrad, emit_wgrad,
                         ("et_conv2d_bwd_wgrad_f32", "et_conv2d_bwd_bgrad_f32"))}),
    OpDef(
    "dwconv2d", infer_dw, grad=weighted_grad, roles=WEIGHT_BIAS,  # imported from Conv
    calls={"fwd": Call(ref_dw_fwd, flop_fwd, emit_dw_fwd, ("et_dwconv2d_fwd_f32",)),
           "igrad": Call(ref_dw_igrad, flop_igrad, emit_dw_igrad, ("et_dwconv2d_bwd_igrad_f32",)),
           "wgrad": Call(ref_dw_wgrad, flop_wgrad, emit_dw_wgrad, ("et_dwconv2d_bwd_wgrad_f32",))})]
