"""Data movement: transpose (ONNX Transpose; C ``et_permute_fwd_f32``, rank <= 4), reshape (ONNX
Reshape, Flatten, Squeeze, Unsqueeze: a view, no call), concat (ONNX Concat) and slice along one
axis (ONNX Slice with step 1, one slice per axis; Gather of one constant index), both C
``et_block_copy_f32`` (kernels/include/et_shape.h) on the [outer, axis * inner] view; Expand
(a class token broadcast over the batch) is an add to zeros, whose gradient sums the batch. 0 FLOP."""
from __future__ import annotations

import numpy as np

from ..folding import fold
from ..ir import CompileError, Node
from ..kernelmap import IN, OUT, CCall, CodegenError
from .base import unary_grad, F32, Call, OpDef, ints, no_flop, numel, where


# --- transpose -------------------------------------------------------------------------------
MAX_PERMUTE_RANK = 4   # et_permute_fwd_f32


def reduce_perm(shape, perm) -> tuple[list[int], list[int]]:
    """The same permutation on fewer axes: size-1 axes dropped, runs of input axes that stay
    adjacent and in order merged (a permute of [B, N, H, Dh] by (0, 2, 1, 3) stays rank 4; one
    of [1, N, 3, H, Dh] by (2, 0, 3, 1, 4) becomes rank 4)."""
    keep = [p for p in perm if shape[p] != 1]
    if not keep:
        return [1], [0]
    groups: list[list[int]] = []
    for p in keep:
        if groups and groups[-1][-1] + 1 == p:
            groups[-1].append(p)
        else:
            groups.append([p])
    order = sorted(range(len(groups)), key=lambda i: groups[i][0])   # groups in input order
    dims = [numel([shape[p] for p in groups[i]]) for i in order]
    return dims, [order.index(i) for i in range(len(groups))]


def import_transpose(imp, op, node, a) -> None:
    """A transpose; one that stays above rank 4 after ``reduce_perm`` is a chain of transposes
    that each move one axis to its place (each reduces to rank 4 or less)."""
    ins = list(node.input)
    shape = imp.shape(ins[0])
    rank = len(shape)
    perm = [int(p) % rank for p in a.get("perm", range(rank - 1, -1, -1))]
    if len(reduce_perm(shape, perm)[0]) <= MAX_PERMUTE_RANK:
        imp.emit("transpose", ins, node.output[0], perm=perm)
        return
    cur, src, steps = list(range(rank)), ins[0], []
    for k in range(rank):
        j = cur.index(perm[k])
        if j != k:
            steps.append(list(range(k)) + [j] + list(range(k, j)) + list(range(j + 1, rank)))
            cur = cur[:k] + [cur[j]] + cur[k:j] + cur[j + 1:]
    for i, step in enumerate(steps):
        out = node.output[0] if i == len(steps) - 1 else imp.g.fresh(f"{node.output[0]}_move{i}")
        imp.emit("transpose", [src], out, perm=step)
        src = out


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
    if len(xs) > MAX_PERMUTE_RANK:   # (ranks up to 4 keep their axes: the same calls as before)
        xs, perm = reduce_perm(xs, perm)
    if len(xs) > MAX_PERMUTE_RANK:
        raise CodegenError(f"node '{n.name}': transpose of rank {len(xs)} (et_permute_fwd_f32 "
                           "handles up to 4)")
    pad = 4 - len(xs)
    dims = [1] * pad + list(xs)
    p4 = list(range(pad)) + [q + pad for q in perm]
    c.decls.append(f"static const size_t dims{idx}[4] = {{{', '.join(map(str, dims))}}};")
    c.decls.append(f"static const unsigned perm{idx}[4] = {{{', '.join(map(str, p4))}}};")
    e.call(c, "et_permute_fwd_f32", e.p(n.inputs[0]), e.p(n.outputs[0]), f"dims{idx}", f"perm{idx}")
    if perm[0] == 0 and xs[0] > 1:   # the leading axis stays: chunks of its items (L3 chunks)
        item = 4 * numel(xs[1:])
        e.chunks(c, xs[0], [(n.inputs[0], item, IN), (n.outputs[0], item, OUT)],
                 [f"et_permute_fwd_f32(@CTX@, @P0@, @P1@, chd_, perm{idx})"],
                 [f"size_t chd_[4] = {{{', '.join(map(str, dims))}}}; chd_[{pad}] = @NR@;"])
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


def _outer_inner(shape, ax: int) -> tuple[int, int]:
    return numel(shape[:ax]), numel(shape[ax + 1:])


def _block(e, c, idx, tag, src, dst, rows, cols, src_ld, dst_ld, src_off=0, dst_off=0,
           zero=0) -> None:
    name = f"blk{idx}_{tag}"
    c.decls.append(f"static const et_block_args {name} = {{.rows = {rows}, .cols = {cols}, "
                   f".src_ld = {src_ld}, .dst_ld = {dst_ld}, .src_off = {src_off}, "
                   f".dst_off = {dst_off}, .dst_zero = {zero}}};")
    e.call(c, "et_block_copy_f32", f"&{name}", e.p(src), e.p(dst))


def emit_concat(e, idx, n):
    c = CCall()
    ax, y = n.attrs["axis"], n.outputs[0]
    outer, inner = _outer_inner(e.shape(y), ax)
    width, off = e.shape(y)[ax] * inner, 0
    for k, t in enumerate(n.inputs):
        cols = e.shape(t)[ax] * inner
        _block(e, c, idx, str(k), t, y, outer, cols, cols, width, dst_off=off)
        off += cols
    return c


def _slice_axis(n) -> tuple[int, int, int]:
    (ax,), (s,), (en,) = n.attrs["axes"], n.attrs["starts"], n.attrs["ends"]
    return ax, s, en


def emit_slice(e, idx, n):
    c = CCall()
    x = n.inputs[0]
    ax, s, en = _slice_axis(n)
    outer, inner = _outer_inner(e.shape(x), ax)
    cols = (en - s) * inner
    _block(e, c, idx, "f", x, n.outputs[0], outer, cols, e.shape(x)[ax] * inner, cols,
           src_off=s * inner)
    return c


def emit_slice_igrad(e, idx, n):  # inputs [dy] -> dx: dy into a zeroed dx
    c = CCall()
    xs = e.shape(n.fwd["x"])
    ax, s, en = _slice_axis(n)
    outer, inner = _outer_inner(xs, ax)
    cols = (en - s) * inner
    _block(e, c, idx, "b", n.inputs[0], n.outputs[0], outer, cols, cols, xs[ax] * inner,
           dst_off=s * inner, zero=numel(xs))
    return c


def import_split(imp, op, node, a) -> None:
    """Split into one slice per output (sizes from the ``split`` input or attribute, else equal
    parts, as ``num_outputs`` or the output count give them)."""
    ins, outs = list(node.input), [o for o in node.output]
    src = imp.shape(ins[0])
    ax = int(a.get("axis", 0)) % len(src)
    if len(ins) > 1 and ins[1]:
        sizes = [int(v) for v in imp.const(ins[1], "the sizes of Split").reshape(-1)]
    elif "split" in a:
        sizes = ints(a["split"])
    else:
        k = len(outs)
        step = -(-src[ax] // k)
        sizes = [min(step, src[ax] - i * step) for i in range(k)]
    if sum(sizes) != src[ax] or len(sizes) != len(outs):
        imp.unsupported(f"sizes {sizes} for {len(outs)} outputs of an axis of {src[ax]}")
    off = 0
    for o, size in zip(outs, sizes):
        if o:
            imp.emit("slice", ins[:1], o, axes=[ax], starts=[off], ends=[off + size])
        off += size


def import_expand(imp, op, node, a) -> None:
    """Expand(x, shape) as x + zeros(shape): the broadcast add's gradient sums the expanded
    axes, e.g. a class token [1, 1, D] expanded over the batch."""
    ins, out = list(node.input), node.output[0]
    target = [int(v) for v in imp.const(ins[1], "the shape of Expand").reshape(-1)]
    src = imp.shape(ins[0])
    full = tuple(int(v) for v in np.broadcast_shapes(tuple(src), tuple(target)))
    if full == tuple(src):
        imp.emit("reshape", ins[:1], out, shape=list(src))
        return
    zeros = imp.g.fresh(out + "_zeros")
    imp.consts[zeros] = np.zeros(full, np.float32)
    imp.emit("add", [zeros, ins[0]], out)


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
    cuts = []   # one slice node per axis that is cut, chained
    for s, e, ax in zip(starts, ends, axes):
        ax = int(ax) % len(src)
        s, e, _ = slice(int(s), int(e)).indices(src[ax])
        if (s, max(s, e)) != (0, src[ax]):
            cuts.append((ax, s, max(s, e)))
    if not cuts:
        imp.emit("reshape", ins[:1], node.output[0], shape=list(src))
        return
    cur = ins[0]
    for k, (ax, s, e) in enumerate(cuts):
        out = node.output[0] if k == len(cuts) - 1 else imp.g.fresh(f"{node.output[0]}_cut{k}")
        imp.emit("slice", [cur], out, axes=[ax], starts=[s], ends=[e])
        cur = out


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


BLOCK = ("et_block_copy_f32",)
IMPORTS = {"Expand": import_expand, "Split": import_split}
OPS = [
    OpDef("transpose", lambda n, g: [tuple(g[n.inputs[0]].shape[p] for p in n.attrs["perm"])],
          onnx=("Transpose",), importer=import_transpose, grad=grad_transpose,
          calls={"fwd": Call(lambda n, g, x: np.ascontiguousarray(np.transpose(x, n.attrs["perm"])),
                             no_flop, emit_transpose, ("et_permute_fwd_f32",))}),
    OpDef("reshape", infer_reshape, onnx=("Reshape", "Flatten", "Squeeze", "Unsqueeze"),
          importer=import_reshape, grad=grad_reshape, view=True),
    OpDef("concat", infer_concat, onnx=("Concat",), importer=import_concat, grad=grad_concat,
          calls={"fwd": Call(lambda n, g, *v: np.concatenate(v, axis=n.attrs["axis"]), no_flop,
                             emit_concat, BLOCK)}),
    OpDef("slice", infer_slice, onnx=("Slice", "Gather"), importer=import_slice, grad=unary_grad(None),
          calls={"fwd": Call(lambda n, g, x: np.ascontiguousarray(x[_index(n.attrs, x.ndim)]), no_flop,
                             emit_slice, BLOCK),
                 "igrad": Call(slice_igrad, no_flop, emit_slice_igrad, BLOCK)}),
]
FLOP: dict = {}
