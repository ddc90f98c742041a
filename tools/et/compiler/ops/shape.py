"""Data movement: transpose (ONNX Transpose; C ``et_permute_fwd_f32``, rank <= 4), reshape (ONNX
Reshape, Flatten, Squeeze, Unsqueeze: a view, no call), concat (ONNX Concat) and slice (ONNX
Slice with step 1, Gather of one constant index). 0 FLOP."""
from __future__ import annotations

import numpy as np

from ..folding import fold
from ..ir import CompileError, Node
from ..kernelmap import CCall, CodegenError
from .base import F32, Call, OpDef, ints, no_flop, numel, where


# --- transpose -------------------------------------------------------------------------------
def import_transpose(imp, op, node, a) -> None:
    ins = list(node.input)
    rank = len(imp.shape(ins[0]))
    imp.emit("transpose", ins, node.output[0], perm=list(a.get("perm", range(rank - 1, -1, -1))))


def grad_transpose(d, n, dy) -> None:
    x = n.inputs[0]
    inv = list(np.argsort(n.attrs["perm"]))
    dx = d.new_grad(x)
    d.g.add_node(Node("transpose", [dy], [dx], {"perm": [int(p) for p in inv]},
                      phase="bwd", name=f"{n.name}/bwd", scope=n.scope))
    d.contribute(x, dx, n)


def emit_transpose(e, idx, n):
    c = CCall()
    xs, perm = e.shape(n.inputs[0]), list(n.attrs["perm"])
    if len(xs) > 4:
        raise CodegenError(f"node '{n.name}': transpose of rank {len(xs)} (et_permute_fwd_f32 "
                           "handles up to 4)")
    pad = 4 - len(xs)
    dims = [1] * pad + list(xs)
    p4 = list(range(pad)) + [q + pad for q in perm]
    c.decls.append(f"static const size_t dims{idx}[4] = {{{', '.join(map(str, dims))}}};")
    c.decls.append(f"static const unsigned perm{idx}[4] = {{{', '.join(map(str, p4))}}};")
    e.call(c, "et_permute_fwd_f32", e.p(n.inputs[0]), e.p(n.outputs[0]), f"dims{idx}", f"perm{idx}")
    return c


# --- reshape (a view) ------------------------------------------------------------------------
def import_reshape(imp, op, node, a) -> None:
    ins = list(node.input)
    src = imp.shape(ins[0])
    if op == "Reshape":
        shp = imp.const(ins[1], "the target shape of Reshape")
        new = fold("Reshape", [np.zeros(src, np.int8), shp], a, imp.opset).shape
    elif op == "Flatten":
        ax = a.get("axis", 1) % (len(src) + 1) if src else 0
        new = (int(np.prod(src[:ax])), int(np.prod(src[ax:])))
    else:
        axes = ints(a.get("axes", [])) if imp.opset < 13 or len(ins) < 2 else \
            [int(x) for x in imp.const(ins[1], f"{op} axes").reshape(-1)]
        new = fold(op, [np.zeros(src, np.int8), None], {"axes": axes}, 11).shape
    imp.emit("reshape", ins[:1], node.output[0], shape=[int(d) for d in new])


def infer_reshape(node, g):
    shape, src = tuple(node.attrs["shape"]), g[node.inputs[0]].shape
    if numel(shape) != numel(src):
        raise CompileError(f"{where(node)}: cannot reshape {list(src)} to {list(shape)}")
    return [shape]


def grad_reshape(d, n, dy) -> None:
    x = n.inputs[0]
    dx = d.new_grad(x)
    d.g.add_node(Node("reshape", [dy], [dx], {"shape": list(d.g[x].shape)},
                      phase="bwd", name=f"{n.name}/bwd", scope=n.scope))
    d.contribute(x, dx, n)


# --- concat ----------------------------------------------------------------------------------
def import_concat(imp, op, node, a) -> None:
    ins = list(node.input)
    imp.emit("concat", ins, node.output[0], axis=a["axis"] % len(imp.shape(ins[0])))


def infer_concat(node, g):
    s = [g[i].shape for i in node.inputs]
    out = list(s[0])
    out[node.attrs["axis"]] = sum(x[node.attrs["axis"]] for x in s)
    return [tuple(out)]


def grad_concat(d, n, dy) -> None:
    ax, off = n.attrs["axis"], 0
    for t in n.inputs:
        w = d.g[t].shape[ax]
        if d.want(t):
            dt = d.new_grad(t)
            d.g.add_node(Node("slice", [dy], [dt], {"axes": [ax], "starts": [off], "ends": [off + w]},
                              phase="bwd", name=d.g.fresh(f"{n.name}/bwd_slice"), scope=n.scope))
            d.contribute(t, dt, n)
        off += w


# --- slice -----------------------------------------------------------------------------------
def import_slice(imp, op, node, a) -> None:
    """Slice (opset 10+ inputs; the importer rewrites older ones), or Gather of one index."""
    if op == "Gather":
        return import_gather(imp, op, node, a)
    ins = list(node.input)
    src = imp.shape(ins[0])
    starts = imp.const(ins[1], "Slice starts").reshape(-1)
    ends = imp.const(ins[2], "Slice ends").reshape(-1)
    axes = imp.const(ins[3], "Slice axes").reshape(-1) if len(ins) > 3 and ins[3] \
        else np.arange(len(starts))
    steps = imp.const(ins[4], "Slice steps").reshape(-1) if len(ins) > 4 and ins[4] \
        else np.ones(len(starts), np.int64)
    if np.any(steps != 1):
        imp.unsupported("only step 1")
    ax_n, st_n, en_n = [], [], []
    for s, e, ax in zip(starts, ends, axes):
        ax = int(ax) % len(src)
        s, e, _ = slice(int(s), int(e)).indices(src[ax])
        ax_n.append(ax), st_n.append(s), en_n.append(max(s, e))
    imp.emit("slice", ins[:1], node.output[0], axes=ax_n, starts=st_n, ends=en_n)


def import_gather(imp, op, node, a) -> None:
    ins, out = list(node.input), node.output[0]
    idx = imp.const(ins[1], "the index of Gather (on an activation)")
    src = imp.shape(ins[0])
    ax = a.get("axis", 0) % len(src)
    if idx.size != 1:
        imp.unsupported("only a single constant index on an activation")
    i = int(idx.reshape(-1)[0]) % src[ax]
    tmp = imp.g.fresh(out + "_slice")
    imp.emit("slice", ins[:1], tmp, axes=[ax], starts=[i], ends=[i + 1])
    new = list(src)
    if idx.ndim == 0:
        del new[ax]
    imp.node_name = imp.node_name + "_reshape"
    imp.emit("reshape", [tmp], out, shape=new)


def infer_slice(node, g):
    out = list(g[node.inputs[0]].shape)
    for ax, st, en in zip(node.attrs["axes"], node.attrs["starts"], node.attrs["ends"]):
        out[ax] = en - st
    return [tuple(out)]


def _index(a, rank):
    idx = [slice(None)] * rank
    for ax, s, e in zip(a["axes"], a["starts"], a["ends"]):
        idx[ax] = slice(s, e)
    return tuple(idx)


def slice_igrad(n, g, dy):
    xshape = g[n.fwd["x"]].shape
    out = np.zeros(xshape, F32)
    out[_index(n.attrs, len(xshape))] = dy
    return out


def grad_slice(d, n, dy) -> None:
    x = n.inputs[0]
    dx = d.new_grad(x)
    d.emit("slice", [dy], [dx], n, "igrad", tensors=dict(x=x))
    d.contribute(x, dx, n)


OPS = [
    OpDef("transpose", lambda n, g: [tuple(g[n.inputs[0]].shape[p] for p in n.attrs["perm"])],
          onnx=("Transpose",), importer=import_transpose, grad=grad_transpose,
          calls={"fwd": Call(lambda n, g, x: np.ascontiguousarray(np.transpose(x, n.attrs["perm"])),
                             no_flop, emit_transpose, ("et_permute_fwd_f32",))}),
    OpDef("reshape", infer_reshape, onnx=("Reshape", "Flatten", "Squeeze", "Unsqueeze"),
          importer=import_reshape, grad=grad_reshape, view=True),
    OpDef("concat", infer_concat, onnx=("Concat",), importer=import_concat, grad=grad_concat,
          calls={"fwd": Call(lambda n, g, *v: np.concatenate(v, axis=n.attrs["axis"]), no_flop)}),
    OpDef("slice", infer_slice, onnx=("Slice", "Gather"), importer=import_slice, grad=grad_slice,
          calls={"fwd": Call(lambda n, g, x: np.ascontiguousarray(x[_index(n.attrs, x.ndim)]), no_flop),
                 "igrad": Call(slice_igrad, no_flop)}),
]
FLOP: dict = {}
