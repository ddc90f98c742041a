"""linear (ONNX Gemm, MatMul by a 2-D initializer) and matmul (MatMul of two activations):
import, shapes, FLOP, gradients, numpy reference and C calls (kernels/include/et_gemm.h).

linear: Y = X W + b with W [K, N], or Y = X W^T + b with W [N, K] when ``trans_w`` (the ONNX
Gemm transB / torch nn.Linear layout); X may have leading batch dimensions. C ``et_linear_*``
is Y = X W^T (``trans_w``); a linear with W [in][out] (inserted LoRA adapters) runs on
``et_gemm_fwd_f32``. matmul and its gradients run on the batched ``et_gemm_fwd_f32``; the
gradient of a batch-broadcast operand is summed with ``accumulate``."""
from __future__ import annotations

import numpy as np

from ..ir import CompileError
from ..kernelmap import IN, LATER_CHUNK, OUT, CCall, CodegenError, scratch
from .base import WEIGHT_BIAS, BIAS, MAC, Call, OpDef, numel, weighted_grad, where



# --- import ----------------------------------------------------------------------------------
def import_gemm(imp, op, node, a) -> None:
    """Gemm, also with operands of rank > 2 (a batched product over the leading axes, as ONNX
    Runtime's optimizer and Deeploy write it): an initializer B (leading axes of 1 dropped) is a
    linear layer; a computed B is a matmul; transA transposes A's last two axes first. beta
    only scales C, so beta=0 drops it."""
    ins, out = list(node.input), node.output[0]
    if a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) not in (0.0, 1.0):
        imp.unsupported(f"alpha={a.get('alpha', 1.0)}, beta={a.get('beta', 1.0)}: only alpha=1 "
                        "and beta 1 (or 0: no C)")
    if a.get("beta", 1.0) == 0.0:
        ins = ins[:2]
    if a.get("transA", 0):
        rank = len(imp.shape(ins[0]))
        at = imp.g.fresh(out + "_a_t")
        imp.emit("transpose", ins[:1], at, perm=list(range(rank - 2)) + [rank - 1, rank - 2])
        ins[0] = at
    w = imp.name(ins[1])
    if w in imp.g.tensors and imp.g[w].kind == "param" and len(imp.g[w].shape) > 2:
        t = imp.g[w]
        if any(d != 1 for d in t.shape[:-2]):
            imp.unsupported(f"B initializer {list(t.shape)}: only 2-D (or leading axes of 1)")
        t.model_shape = t.model_shape or t.shape
        t.shape, t.data = t.shape[-2:], t.data.reshape(t.shape[-2:])
    if w not in imp.g.tensors or imp.g[w].kind != "param":
        if imp.is_const(ins[1]):
            imp.unsupported("a constant B that is no initializer")
        if len(ins) > 2 and ins[2]:
            imp.unsupported("a computed B with a bias C")
        sa, sb = imp.shape(ins[0]), imp.shape(ins[1])
        if len(sa) != len(sb):
            imp.unsupported(f"operands {list(sa)} x {list(sb)}: equal ranks only")
        imp.emit("matmul", ins[:2], out, trans_b=int(a.get("transB", 0)))
        return
    bias = None
    if len(ins) > 2 and ins[2]:
        bias = imp.ref(ins[2])
        n = imp.g[w].shape[0 if a.get("transB", 0) else 1]
        if imp.g[bias].size != n:
            imp.unsupported("only a per-column bias C")
        if imp.g[bias].shape != (n,):
            imp.g[bias].shape = (n,)
            imp.g[bias].data = imp.g[bias].data.reshape(n)
    imp.emit("linear", [ins[0], w] + ([bias] if bias else []), out,
             trans_w=int(a.get("transB", 0)), bias=bool(bias))


def import_matmul(imp, op, node, a) -> None:
    ins, out = list(node.input), node.output[0]
    g = imp.g
    b = imp.name(ins[1])
    prod = g.producers().get(b)
    if b in g.tensors and g[b].kind == "param" and len(g[b].shape) == 2:
        imp.emit("linear", [ins[0], b], out, trans_w=0, bias=False)
    elif prod is not None and prod.op == "transpose" and prod.attrs["perm"] == [1, 0] \
            and g[prod.inputs[0]].kind == "param":
        imp.emit("linear", [ins[0], prod.inputs[0]], out, trans_w=1, bias=False)
    elif b in imp.consts:
        imp.unsupported("constant right operand (not an initializer)")
    else:
        sa, sb = imp.shape(ins[0]), imp.shape(ins[1])
        if len(sa) != len(sb) or len(sa) < 2:
            imp.unsupported(f"operands {list(sa)} x {list(sb)}: equal ranks >= 2 only")
        imp.emit("matmul", ins, out, trans_b=0)


# --- shapes ----------------------------------------------------------------------------------
def infer_linear(node, g):
    s0, s1 = g[node.inputs[0]].shape, g[node.inputs[1]].shape
    k = s0[-1]
    wk, wn = (s1[1], s1[0]) if node.attrs.get("trans_w") else (s1[0], s1[1])
    if wk != k:
        raise CompileError(f"{where(node)}: input features {k} != weight's {wk}")
    return [tuple(s0[:-1]) + (wn,)]


def infer_matmul(node, g):
    sa, sb = g[node.inputs[0]].shape, g[node.inputs[1]].shape
    tb = node.attrs.get("trans_b")
    kb, nb = (sb[-1], sb[-2]) if tb else (sb[-2], sb[-1])
    if sa[-1] != kb or tuple(sa[:-2]) != tuple(sb[:-2]):
        raise CompileError(f"{where(node)}: cannot multiply {list(sa)} by {list(sb)}")
    return [tuple(sa[:-1]) + (nb,)]


# --- numpy reference -------------------------------------------------------------------------
def ref_linear(node, g, x, w, b=None):
    y = x @ (w.T if node.attrs.get("trans_w") else w)
    return y + b if b is not None else y


def ref_linear_igrad(node, g, dy, w):
    return dy @ (w if node.attrs.get("trans_w") else w.T)


def ref_linear_wgrad(node, g, dy, x):
    a = node.attrs
    k, n = x.shape[-1], dy.shape[-1]
    x2, d2 = x.reshape(-1, k), dy.reshape(-1, n)
    out = []
    if a.get("dw", True):
        out.append(d2.T @ x2 if a.get("trans_w") else x2.T @ d2)
    if a.get("db"):
        out.append(d2.sum(0))
    return out


def ref_matmul(node, g, x, y):
    return x @ (np.swapaxes(y, -1, -2) if node.attrs.get("trans_b") else y)


def ref_matmul_igrad(node, g, dy, other):
    t = lambda m: np.swapaxes(m, -1, -2)  # noqa: E731
    tb = node.attrs.get("trans_b")
    if node.attrs["operand"] == 0:
        return dy @ (other if tb else t(other))
    return t(dy) @ other if tb else t(other) @ dy


# --- FLOP ------------------------------------------------------------------------------------
def _lin_geo(node, g):
    x, y = g[node.fwd.get("x", node.inputs[0])].shape, g[node.fwd.get("y", node.outputs[0])].shape
    return numel(y) * x[-1], numel(y)


def flop_linear(node, g):
    mac, ny = _lin_geo(node, g)
    return MAC * mac + (BIAS * ny if node.attrs.get("bias") else 0)


def flop_linear_igrad(node, g):
    return MAC * _lin_geo(node, g)[0]


def flop_linear_wgrad(node, g):
    mac, ny = _lin_geo(node, g)
    bias = BIAS * ny if node.attrs.get("bias") and node.attrs.get("db") else 0
    return (MAC * mac if node.attrs.get("dw", True) else 0) + bias


def flop_matmul(node, g):
    a, y = g[node.fwd.get("a", node.inputs[0])].shape, g[node.fwd.get("y", node.outputs[0])].shape
    return MAC * numel(y) * a[-1]


# --- C calls ---------------------------------------------------------------------------------
GEMM_MIN = "ET_GEMM_SCRATCH_MIN"   # et_gemm.h: every kernel of the header works with this much


def gemm(e, c: CCall, idx: int, tag: str, m, n, k, ta, tb, a, b, y, bias="NULL",
         batch=1, sa=0, sb=0, sy=0, acc=0) -> str:
    """One et_gemm_fwd_f32 call: Y = op(A) op(B) (+ bias) (+ Y), batched by strides; returns
    the name of its argument struct."""
    name = f"gemm{idx}_{tag}"
    c.decls.append(f"static const et_gemm_args {name} = {{.m = {m}, .n = {n}, .k = {k}, "
                   f".batch = {batch}, .trans_a = {ta}, .trans_b = {tb}, .stride_a = {sa}, "
                   f".stride_b = {sb}, .stride_y = {sy}, .alpha = 1.0f, .accumulate = {acc}}};")
    e.call(c, "et_gemm_fwd_f32", f"&{name}", a, b, bias, y)
    c.scratch.append(scratch("et_gemm_scratch_size", name, GEMM_MIN))
    c.kernel_q.append(("et_gemm_fwd_f32", ("gemm", m, n, k, batch, ta, tb)))
    return name


# chunk-only row tilings (Emitter.chunks): the pointer arguments of the kernels in stream order
GEMM_PTRS = ["@P0@", "@P1@", "NULL", "@P2@"]      # et_gemm_fwd_f32(a, b, bias, y)


def batched(e, c, idx, tag, m, n, k, ta, tb, a, b, y, nb, a_b, b_b, y_b) -> None:
    """Batched product of nb items of the tensors a, b, y; a_b/b_b/y_b: batch items each holds
    (nb or 1). An output with one item while nb > 1 is a sum over the batch (accumulate). A
    product with an output per item chunks by items (the one-item operands whole)."""
    sa, sb = (m * k if a_b > 1 else 0), (k * n if b_b > 1 else 0)
    pa, pb, py = e.p(a), e.p(b), e.p(y)
    if y_b == nb:
        g = gemm(e, c, idx, tag, m, n, k, ta, tb, pa, pb, py, batch=nb, sa=sa, sb=sb, sy=m * n)
        if nb > 1:
            e.chunk_structs(c, nb, [(a, 4 * sa, IN), (b, 4 * sb, IN), (y, 4 * m * n, OUT)],
                     [("et_gemm_fwd_f32", "et_gemm_args", g, {"batch": "@NR@"}, GEMM_PTRS)])
        return
    for i in range(nb):
        ai = f"{pa} + {i * sa}" if sa else pa
        bi = f"{pb} + {i * sb}" if sb else pb
        gemm(e, c, idx, f"{tag}{i}", m, n, k, ta, tb, ai, bi, py, acc=int(i > 0))


def _lin_args(e, idx, c, x, y, acc=0):
    xs, ys = e.shape(x), e.shape(y)
    name = f"lin{idx}"
    c.decls.append(f"static const et_linear_args {name} = {{.rows = {numel(xs[:-1])}, "
                   f".in = {xs[-1]}, .out = {ys[-1]}, .accumulate = {acc}}};")
    return name, numel(xs[:-1]), xs[-1], ys[-1]


def emit_linear(e, idx, n):
    """Y = X W^T + b (et_linear_fwd_f32) or X W + b (W [in][out], the GEMM); chunks of rows."""
    c = CCall()
    x, w, y = n.inputs[0], n.inputs[1], n.outputs[0]
    bias = n.inputs[2] if len(n.inputs) > 2 else None
    b = e.p(bias) if bias else "NULL"
    rows, k, nn = numel(e.shape(x)[:-1]), e.shape(x)[-1], e.shape(y)[-1]
    if n.attrs.get("trans_w"):   # the GEMM Y = X W^T
        a, *_ = _lin_args(e, idx, c, x, y)
        e.call(c, "et_linear_fwd_f32", f"&{a}", e.p(x), e.p(w), b, e.p(y))
        c.scratch.append(scratch("et_linear_scratch_size", a, GEMM_MIN))
        c.kernel_q.append(("et_linear_fwd_f32", ("gemm", rows, nn, k, 1, 0, 1)))
        chunk = ("et_linear_fwd_f32", "et_linear_args", a, {"rows": "@NR@"})
    else:  # W [in][out]: Y = X W on the GEMM
        g = gemm(e, c, idx, "f", rows, nn, k, 0, 0, e.p(x), e.p(w), e.p(y), bias=b)
        chunk = ("et_gemm_fwd_f32", "et_gemm_args", g, {"m": "@NR@"})
    e.chunk_structs(c, rows, [(x, 4 * k, IN), (w, 0, IN), (y, 4 * nn, OUT)]
             + ([(bias, 0, IN)] if bias else []),
             [chunk + (["@P0@", "@P1@", "@P3@" if bias else "NULL", "@P2@"],)])
    return c


def emit_linear_igrad(e, idx, n):  # inputs [dy, w] -> dx
    c = CCall()
    dy, w, dx = n.inputs[0], n.inputs[1], n.outputs[0]
    rows, k, nn = numel(e.shape(dx)[:-1]), e.shape(dx)[-1], e.shape(dy)[-1]
    if n.attrs.get("trans_w"):
        a, *_ = _lin_args(e, idx, c, n.fwd["x"], n.fwd["y"])
        e.call(c, "et_linear_bwd_igrad_f32", f"&{a}", e.p(w), e.p(dy), e.p(dx))
        c.scratch.append(scratch("et_linear_scratch_size", a, GEMM_MIN))
        c.kernel_q.append(("et_linear_bwd_igrad_f32", ("gemm", rows, k, nn, 1, 0, 0)))
        chunk = ("et_linear_bwd_igrad_f32", "et_linear_args", a, {"rows": "@NR@"},
                 ["@P1@", "@P0@", "@P2@"])
    else:  # dX [rows][in] = dY [rows][out] . W^T, W stored [in][out]
        g = gemm(e, c, idx, "i", rows, k, nn, 0, 1, e.p(dy), e.p(w), e.p(dx))
        chunk = ("et_gemm_fwd_f32", "et_gemm_args", g, {"m": "@NR@"}, GEMM_PTRS)
    e.chunk_structs(c, rows, [(dy, 4 * nn, IN), (w, 0, IN), (dx, 4 * k, OUT)], [chunk])
    return c


def emit_linear_wgrad(e, idx, n):  # inputs [dy, x] -> [dw][, db]
    """dW (and db): sums over the rows, so a chunk of rows after the first adds in."""
    c = CCall()
    dy, x = n.inputs
    outs = list(n.outputs)
    xs, ys = e.shape(n.fwd["x"]), e.shape(n.fwd["y"])
    rows, k, nn = numel(xs[:-1]), xs[-1], ys[-1]
    streams = [(dy, 4 * nn, IN), (x, 4 * k, IN)] + [(t, 0, OUT) for t in outs]
    rowsum = {"rows": "@NR@", "accumulate": LATER_CHUNK}
    chunks = []
    if n.attrs.get("trans_w") or n.attrs.get("db"):
        a, *_ = _lin_args(e, idx, c, n.fwd["x"], n.fwd["y"])
    if n.attrs.get("dw", True):
        dw = e.p(outs.pop(0))
        if n.attrs.get("trans_w"):   # dW [out][in] = dY^T X
            e.call(c, "et_linear_bwd_wgrad_f32", f"&{a}", e.p(x), e.p(dy), dw)
            c.scratch.append(scratch("et_linear_scratch_size", a, GEMM_MIN))
            c.kernel_q.append(("et_linear_bwd_wgrad_f32", ("gemm", nn, k, rows, 1, 1, 0)))
            chunks.append(("et_linear_bwd_wgrad_f32", "et_linear_args", a, rowsum,
                           ["@P1@", "@P0@", "@P2@"]))
        else:  # dW [in][out] = X^T . dY
            g = gemm(e, c, idx, "w", k, nn, rows, 1, 0, e.p(x), e.p(dy), dw)
            chunks.append(("et_gemm_fwd_f32", "et_gemm_args", g,
                           {"k": "@NR@", "accumulate": LATER_CHUNK}, ["@P1@", "@P0@", "NULL", "@P2@"]))
    if n.attrs.get("db"):
        e.call(c, "et_linear_bwd_bgrad_f32", f"&{a}", e.p(dy), e.p(outs.pop(0)))
        c.scratch.append(scratch("et_linear_scratch_size", a, GEMM_MIN))
        chunks.append(("et_linear_bwd_bgrad_f32", "et_linear_args", a, rowsum,
                       ["@P0@", f"@P{len(streams) - 1}@"]))
    e.chunk_structs(c, rows, streams, chunks)
    return c


def _mm_dims(e, a, b, y, tb):
    as_, bs, ys = e.shape(a), e.shape(b), e.shape(y)
    m, k = as_[-2], as_[-1]
    nn = bs[-2] if tb else bs[-1]
    nb, ab, bb = numel(ys[:-2]), numel(as_[:-2]), numel(bs[:-2])
    for what, cnt in (("A", ab), ("B", bb)):
        if cnt not in (1, nb):
            raise CodegenError(f"matmul {a} x {b}: operand {what} has {cnt} batch items for "
                               f"{nb} (partial broadcast is not supported)")
    return m, k, nn, nb, ab, bb


def emit_matmul(e, idx, n):
    c = CCall()
    a, b, y = n.inputs[0], n.inputs[1], n.outputs[0]
    tb = int(bool(n.attrs.get("trans_b")))
    m, k, nn, nb, ab, bb = _mm_dims(e, a, b, y, tb)
    batched(e, c, idx, "f", m, nn, k, 0, tb, a, b, y, nb, ab, bb, nb)
    return c


def emit_matmul_igrad(e, idx, n):  # inputs [dy, other] -> d(operand)
    c = CCall()
    dy, other, out = n.inputs[0], n.inputs[1], n.outputs[0]
    a, b = n.fwd["a"], n.fwd["b"]
    tb = int(bool(n.attrs.get("trans_b")))
    m, k, nn, nb, ab, bb = _mm_dims(e, a, b, n.fwd["y"], tb)
    if n.attrs["operand"] == 0:  # dA [m][k] = dY [m][n] . op(B)^T
        batched(e, c, idx, "a", m, k, nn, 0, 1 - tb, dy, other, out, nb, nb, bb, ab)
    elif tb:  # dB [n][k] = dY^T . A
        batched(e, c, idx, "b", nn, k, m, 1, 0, dy, other, out, nb, nb, ab, bb)
    else:  # dB [k][n] = A^T . dY
        batched(e, c, idx, "b", k, nn, m, 1, 0, other, dy, out, nb, ab, nb, bb)
    return c


def grad_matmul(d, n, dy) -> None:
    a, b = n.inputs
    geo = dict(a=a, b=b, y=n.outputs[0])
    for k, t in enumerate((a, b)):
        if d.want(t):
            dt = d.new_grad(t)
            d.emit("matmul", [dy, b if k == 0 else a], [dt], n, "igrad", tensors=geo, operand=k)
            d.contribute(t, dt, n)


GEMM = ("et_gemm_fwd_f32",)
OPS = [
    OpDef("linear", infer_linear, onnx=("Gemm",), importer=import_gemm, grad=weighted_grad,
          roles=WEIGHT_BIAS,
          calls={"fwd": Call(ref_linear, flop_linear, emit_linear, ("et_linear_fwd_f32",) + GEMM),
                 "igrad": Call(ref_linear_igrad, flop_linear_igrad, emit_linear_igrad,
                               ("et_linear_bwd_igrad_f32",) + GEMM),
                 "wgrad": Call(ref_linear_wgrad, flop_linear_wgrad, emit_linear_wgrad,
                               ("et_linear_bwd_wgrad_f32", "et_linear_bwd_bgrad_f32") + GEMM)}),
    OpDef("matmul", infer_matmul, onnx=("MatMul",), importer=import_matmul, grad=grad_matmul,
          calls={"fwd": Call(ref_matmul, flop_matmul, emit_matmul, GEMM),
                 "igrad": Call(ref_matmul_igrad, flop_matmul, emit_matmul_igrad, GEMM)}),
]
