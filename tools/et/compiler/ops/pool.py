"""Pooling, kernels/include/et_pool.h: maxpool2d (ONNX MaxPool, NCHW; tiled through L1 by planes
N*C) and reduce_mean, the mean over contiguous axes (ONNX ReduceMean, GlobalAveragePool, and
AveragePool whose window is the whole input: the global average pooling of ResNet, MobileNet,
DS-CNN; the token mean of a ViT). A windowed AveragePool is imported as a depthwise
convolution with a constant weight (``_windowed_mean``)."""
from __future__ import annotations

import numpy as np

from ..kernelmap import IN, OUT, CCall, CodegenError
from .base import plane_pre, symmetric_pads, F32, Call, OpDef, conv_out, ints, numel, per_input, per_output, unary_grad
from .conv import scatter_windows, windows

COMPARE = 1   # FLOP per comparison of a window element with the running maximum
SCATTER = 1   # FLOP per output gradient added into dx (backward)
MEAN = 1      # FLOP per element summed (forward) and per element of dx scaled (backward)


def import_maxpool(imp, op, node, a) -> None:
    if a.get("ceil_mode", 0) or any(d != 1 for d in a.get("dilations", [1, 1])) \
            or a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID") \
            or (len(node.output) > 1 and node.output[1]):
        imp.unsupported("only ceil_mode=0, dilation 1, explicit pads, no Indices")
    k = list(a["kernel_shape"])
    imp.emit("maxpool2d", list(node.input)[:1], node.output[0], kernel=k,
             strides=list(a.get("strides", k)), pads=list(a.get("pads", [0, 0, 0, 0])))


def infer(node, g):
    n, c, h, w = g[node.inputs[0]].shape
    k, st, p = node.attrs["kernel"], node.attrs["strides"], node.attrs["pads"]
    return [(n, c, conv_out(h, k[0], st[0], p[0], p[2]), conv_out(w, k[1], st[1], p[1], p[3]))]


def ref_fwd(node, g, x):
    a = node.attrs
    return windows(x, a["kernel"], a["strides"], a["pads"], -np.inf).max(axis=(4, 5))


def ref_igrad(node, g, dy, x):
    """Each gradient goes to the first maximum of its window (row-major), as in PyTorch."""
    k, st, p = node.attrs["kernel"], node.attrs["strides"], node.attrs["pads"]
    w = windows(x, k, st, p, -np.inf)
    arg = w.reshape(w.shape[:4] + (-1,)).argmax(-1)
    return scatter_windows(x.shape, k, st, p, lambda i, j: np.where(arg == i * k[1] + j, dy, 0))


def flop_fwd(node, g):
    k = node.attrs["kernel"]
    return COMPARE * (k[0] * k[1] - 1) * numel(g[node.outputs[0]].shape)


def flop_igrad(node, g):
    return SCATTER * numel(g[node.inputs[0]].shape)


def _args(e, idx, n, c, x):
    xs = e.shape(x)
    k, st, p = n.attrs["kernel"], n.attrs["strides"], n.attrs["pads"]
    if p[0] != p[2] or p[1] != p[3]:
        raise CodegenError(f"node '{n.name}': max-pool with asymmetric pads {p}")
    name = f"pool{idx}"
    c.decls.append(f"static const et_maxpool2d_args {name} = {{.planes = {xs[0] * xs[1]}, "
                   f".h = {xs[2]}, .w = {xs[3]}, .kh = {k[0]}, .kw = {k[1]}, .sh = {st[0]}, "
                   f".sw = {st[1]}, .ph = {p[0]}, .pw = {p[1]}}};")
    return name


def emit_fwd(e, idx, n):
    c = CCall()
    x, y = n.inputs[0], n.outputs[0]
    a = _args(e, idx, n, c, x)
    e.call(c, "et_maxpool2d_fwd_f32", f"&{a}", e.p(x), e.p(y), "NULL")
    xs, ys = e.shape(x), e.shape(y)
    e.tiled(c, xs[0] * xs[1], [(x, 4 * xs[2] * xs[3], IN), (y, 4 * ys[2] * ys[3], OUT)],
            ["&a_", "@P0@", "@P1@", "NULL"], plane_pre("et_maxpool2d_args", a))
    return c


def emit_igrad(e, idx, n):  # inputs [dy, x] -> dx
    c = CCall()
    dy, x, dx = n.inputs[0], n.inputs[1], n.outputs[0]
    a = _args(e, idx, n, c, n.fwd["x"])
    e.call(c, "et_maxpool2d_bwd_f32", f"&{a}", e.p(x), "NULL", e.p(dy), e.p(dx))
    xs, ys = e.shape(x), e.shape(dy)
    e.tiled(c, xs[0] * xs[1], [(x, 4 * xs[2] * xs[3], IN), (dy, 4 * ys[2] * ys[3], IN),
                               (dx, 4 * xs[2] * xs[3], OUT)],
            ["&a_", "@P0@", "NULL", "@P1@", "@P2@"], plane_pre("et_maxpool2d_args", a))
    return c


# --- reduce_mean: mean over contiguous axes ---------------------------------------------------
def import_mean(imp, op, node, a) -> None:
    ins = list(node.input)
    shape = imp.shape(ins[0])
    rank, keep = len(shape), 1
    if op == "ReduceMean":
        axes = ints(a.get("axes", [])) if imp.opset < 18 or len(ins) < 2 else \
            [int(x) for x in imp.const(ins[1], "ReduceMean axes").reshape(-1)]
        axes = sorted(x % rank for x in axes) if axes else list(range(rank))
        keep = int(a.get("keepdims", 1))
    else:
        if rank < 3:
            imp.unsupported(f"input of rank {rank}; expected [N, C, spatial...]")
        axes = list(range(2, rank))
        if op == "AveragePool":
            k, pads = list(a.get("kernel_shape", [])), list(a.get("pads", [0] * 2 * (rank - 2)))
            if a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
                imp.unsupported(f"auto_pad {a['auto_pad']}: give explicit pads")
            if k != list(shape[2:]) or any(pads):
                return _windowed_mean(imp, node, a, shape, k, pads)
    if axes != list(range(axes[0], axes[-1] + 1)):
        imp.unsupported(f"axes {axes}: only contiguous axes")
    imp.emit("reduce_mean", ins[:1], node.output[0], axes=axes, keepdims=keep)


def _windowed_mean(imp, node, a, shape, k, pads) -> None:
    """AveragePool with a window smaller than the map (or padded): a depthwise convolution
    with a constant weight 1 / (kh * kw) per channel, so the depthwise kernels run it forward
    and backward (the weight does not train). The divisor counts the padding, as PyTorch's
    AvgPool2d does by default (count_include_pad=True)."""
    if len(shape) != 4:
        imp.unsupported(f"a windowed average pooling of rank {len(shape)}: only 2-D")
    if a.get("ceil_mode", 0) or any(d != 1 for d in a.get("dilations", [1, 1])):
        imp.unsupported("ceil_mode=1 or dilation: only floor mode without dilation")
    if any(pads) and not a.get("count_include_pad", 0):
        imp.unsupported(f"pads {pads} with count_include_pad=0 (the border windows divide by "
                        "fewer values): only count_include_pad=1 (PyTorch's default)")
    symmetric_pads(imp, pads)
    c = shape[1]
    w = imp.g.fresh(node.output[0] + "_window")
    imp.consts[w] = np.full((c, 1, k[0], k[1]), 1.0 / (k[0] * k[1]), np.float32)
    imp.emit("dwconv2d", [node.input[0], w], node.output[0],
             strides=list(a.get("strides", [1, 1])), pads=pads)


def infer_mean(node, g):
    a, s = node.attrs, g[node.inputs[0]].shape
    return [tuple((1 if i in a["axes"] else d) for i, d in enumerate(s)
                  if a["keepdims"] or i not in a["axes"])]


def ref_mean_igrad(n, g, dy):
    a, xshape = n.attrs, g[n.fwd["x"]].shape
    k = numel([xshape[i] for i in a["axes"]])
    if not a["keepdims"]:
        for ax in sorted(a["axes"]):
            dy = np.expand_dims(dy, ax)
    return np.broadcast_to(dy * (F32(1) / F32(k)), xshape)


def _outer_len_inner(shape, axes) -> list[str]:
    """et_avgpool's view of the input: [outer, len, inner] with the mean over len."""
    lo, hi = axes[0], axes[-1] + 1
    return [str(numel(shape[:lo])), str(numel(shape[lo:hi])), str(numel(shape[hi:]))]


def emit_mean(e, idx, n):
    c = CCall()
    x = n.inputs[0]
    e.call(c, "et_avgpool_fwd_f32", e.p(x), e.p(n.outputs[0]),
           *_outer_len_inner(e.shape(x), n.attrs["axes"]))
    return c


def emit_mean_igrad(e, idx, n):  # inputs [dy] -> dx
    c = CCall()
    e.call(c, "et_avgpool_bwd_f32", e.p(n.inputs[0]), e.p(n.outputs[0]),
           *_outer_len_inner(e.shape(n.fwd["x"]), n.attrs["axes"]))
    return c


OPS = [
    OpDef("maxpool2d", infer, onnx=("MaxPool",), importer=import_maxpool, grad=unary_grad("x"),
          calls={"fwd": Call(ref_fwd, flop_fwd, emit_fwd, ("et_maxpool2d_fwd_f32",)),
                 "igrad": Call(ref_igrad, flop_igrad, emit_igrad, ("et_maxpool2d_bwd_f32",))}),
    OpDef("reduce_mean", infer_mean, onnx=("ReduceMean", "GlobalAveragePool", "AveragePool"),
          importer=import_mean, grad=unary_grad(None),
          calls={"fwd": Call(lambda n, g, x: x.mean(axis=tuple(n.attrs["axes"]),
                                                     keepdims=bool(n.attrs["keepdims"])),
                             per_input(MEAN), emit_mean, ("et_avgpool_fwd_f32",)),
                 "igrad": Call(ref_mean_igrad, per_output(MEAN), emit_mean_igrad,
                               ("et_avgpool_bwd_f32",))}),
]
FLOP = {"MAXPOOL_COMPARE": COMPARE, "MAXPOOL_SCATTER": SCATTER, "MEAN": MEAN}
