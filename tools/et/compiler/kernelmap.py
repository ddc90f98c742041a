"""IR node -> C kernel calls: the one explicit table between the compiler's IR and kernels/include.

The IR names a node's kernel ``et_<op>_<fwd|bwd>[_<variant>]_f32`` (``Node.kernel``); the C
kernels differ in a few places, resolved here (``KERNEL_MAP``, keyed by the IR's kernel name):
- losses: IR ``softmax_ce`` is C ``et_softmax_xent_*``; the backward is seeded with dloss = 1;
- relu/gelu/maxpool2d/softmax backward: IR ``*_bwd_igrad`` is C ``*_bwd`` (no suffix);
- layernorm: C computes dx, dgamma, dbeta in one call from the forward's saved mean/rstd; the
  IR splits igrad and wgrad and saves nothing. The generated forward keeps mean/rstd per
  layernorm in small static buffers; igrad calls the kernel with dgamma = dbeta = NULL, wgrad
  calls it again with its dx going to the L1 scratch (layernorm does not use ctx->l1), so the
  IR's order and memory plan stay valid;
- bias gradients: the IR's wgrad node also yields db; C has its own ``*_bwd_bgrad`` call;
- linear: C ``et_linear_*`` is fixed to Y = X W^T (W [out][in], IR ``trans_w=1``); an IR linear
  with W [in][out] (inserted LoRA adapters) runs on ``et_gemm_fwd_f32``;
- matmul, its gradients and the broadcast reductions map onto ``et_gemm_fwd_f32`` (batched,
  transposed operands; a gradient of a batch-broadcast operand is summed with ``accumulate``);
- transpose (any rank <= 4) is ``et_permute_fwd_f32``; reduce_sum (the gradient of a broadcast
  add) is ``et_add_bwd_f32`` with da = NULL.
Ops without a C kernel (sub, div, pow, sqrt, reduce_mean, concat, slice) raise
``CodegenError`` naming the node and the supported kernels.

Each emitter returns a ``CCall``: argument structs (static const, declared before the call),
the kernel calls (C expressions returning et_status) and a comment with the shapes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .ir import CompileError, Graph, Node


class CodegenError(CompileError):
    """The code generator cannot express a node with the C kernels."""


# et_tile.h stream directions
IN, OUT, INOUT, WHOLE = "ET_TILE_IN", "ET_TILE_OUT", "ET_TILE_INOUT", "ET_TILE_WHOLE"


@dataclass
class RowTile:
    """A row-separable kernel call the generated code tiles through L1 (sdk/include/et_tile.h).

    ``streams``: (operand, C pointer, bytes per row, direction); a WHOLE operand is copied once
    (bytes = its size). ``call``: the kernel call with ``@P<i>@`` for stream i's L1 pointer,
    ``@NR@`` for the tile's row count and ``@CTX@`` for the context; ``pre``: statements before
    it in the tile loop. ``rows_c``: the row count as C (default: ``rows``)."""
    kernel: str
    rows: int
    streams: list
    call: str
    pre: list = field(default_factory=list)
    rows_c: str = ""


@dataclass
class CCall:
    decls: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    kernels: list[str] = field(default_factory=list)
    scratch: list[str] = field(default_factory=list)  # C expressions: L1 bytes a call wants
    tile: RowTile | None = None   # the same work as one call per L1 tile (row-separable ops)
    # per call of a kernel that tiles itself: (kernel, query) for tiles.query, minus the L1 size
    kernel_q: list = field(default_factory=list)


def numel(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def _f(v: float) -> str:
    s = repr(float(v))
    return s + "f" if ("." in s or "e" in s) else s + ".0f"


# IR ops the importer accepts and the reference runs, but with C code only when fused (layernorm)
UNFUSED_ONLY = {"sub": "Sub", "div": "Div", "pow": "Pow", "sqrt": "Sqrt",
                "reduce_mean": "ReduceMean"}


def no_kernel_message(n: Node) -> str:
    """Why node ``n`` cannot become C: the ONNX op it came from and what is supported."""
    onnx_op = UNFUSED_ONLY.get(n.op)
    if onnx_op:
        return (f"node '{n.name}' ({n.phase}): ONNX {onnx_op} on computed tensors has no C kernel "
                f"(IR kernel {n.kernel}); {', '.join(UNFUSED_ONLY.values())} run only inside "
                "the decomposed LayerNorm pattern, which the importer fuses into layernorm (a "
                "division by a constant becomes a multiplication); the code generator "
                f"supports: {', '.join(sorted(KERNEL_MAP))}")
    return (f"node '{n.name}' (op '{n.op}', {n.phase}) has no C kernel (IR kernel {n.kernel}); "
            f"the code generator supports: {', '.join(sorted(KERNEL_MAP))}")


def check_kernels(g: Graph) -> None:
    """CodegenError (a CompileError) naming the first node without a C kernel. Called right
    after the training graph is built, so ``plan`` and ``train`` refuse the same models with
    the same words, before any memory planning or build."""
    for n in g.nodes:
        if not n.is_view and n.kernel not in KERNEL_MAP:
            raise CodegenError(no_kernel_message(n))


class Emitter:
    """Turns IR nodes into C calls. ``ptr(name)`` gives a tensor's C pointer expression;
    ``ln_stats(y)`` the (mean, rstd) buffer names of the layernorm whose output is ``y``."""

    def __init__(self, g: Graph, ptr: Callable[[str], str], ln_stats: Callable[[str], tuple],
                 ctx: str = "&g_ctx", l1: str = "g_l1"):
        self.g, self.ptr, self.ln_stats, self.ctx, self.l1 = g, ptr, ln_stats, ctx, l1
        self.fwd_of = {o: n for n in g.nodes if n.phase == "fwd" for o in n.outputs}
        self.l1_need = 0        # bytes of L1 scratch the layernorm wgrad trick needs

    def emit(self, idx: int, n: Node) -> CCall:
        fn = KERNEL_MAP.get(n.kernel)
        if fn is None:
            raise CodegenError(no_kernel_message(n))
        return fn(self, idx, n)

    # helpers -------------------------------------------------------------------------------
    def shape(self, name: str):
        return tuple(self.g[name].shape)

    def p(self, name: str) -> str:
        return self.ptr(name)

    def call(self, c: CCall, kernel: str, *args: str) -> None:
        c.calls.append(f"{kernel}({', '.join((self.ctx,) + args)})")
        c.kernels.append(kernel)

    def tiled(self, c: CCall, rows: int, streams: list, args: list[str], pre=()) -> None:
        """The node's (single) call as a row tiling: streams (tensor, bytes per row, dir); a
        tensor may also be a (label, C pointer) pair (layernorm statistics)."""
        st = [(t, self.p(t), b, d) if isinstance(t, str) else (t[0], t[1], b, d)
              for t, b, d in streams]
        kernel = c.kernels[-1]
        c.tile = RowTile(kernel, rows, st, f"{kernel}(@CTX@, {', '.join(args)})", list(pre))

    def gemm(self, c: CCall, idx: int, tag: str, m, n, k, ta, tb, a, b, y, bias="NULL",
             batch=1, sa=0, sb=0, sy=0, acc=0) -> None:
        name = f"gemm{idx}_{tag}"
        c.decls.append(f"static const et_gemm_args {name} = {{.m = {m}, .n = {n}, .k = {k}, "
                       f".batch = {batch}, .trans_a = {ta}, .trans_b = {tb}, .stride_a = {sa}, "
                       f".stride_b = {sb}, .stride_y = {sy}, .alpha = 1.0f, .accumulate = {acc}}};")
        self.call(c, "et_gemm_fwd_f32", f"&{name}", a, b, bias, y)
        c.scratch.append(f"et_gemm_scratch_size(&{name})")
        c.kernel_q.append(("et_gemm_fwd_f32", ("gemm", m, n, k, batch, ta, tb)))

    def batched(self, c, idx, tag, m, n, k, ta, tb, a, b, y, nb, a_b, b_b, y_b) -> None:
        """Batched product of nb items; a_b/b_b/y_b: batch items each operand holds (nb or 1).
        An output with one item while nb > 1 is a sum over the batch (accumulate)."""
        sa, sb = (m * k if a_b > 1 else 0), (k * n if b_b > 1 else 0)
        if y_b == nb:
            self.gemm(c, idx, tag, m, n, k, ta, tb, a, b, y, batch=nb, sa=sa, sb=sb, sy=m * n)
            return
        for i in range(nb):
            ai = f"{a} + {i * sa}" if sa else a
            bi = f"{b} + {i * sb}" if sb else b
            self.gemm(c, idx, f"{tag}{i}", m, n, k, ta, tb, ai, bi, y, acc=int(i > 0))


def _rows_cols(shape) -> tuple[int, int]:
    """Rows x columns of a row-major tensor (columns = the last axis)."""
    cols = int(shape[-1]) if len(shape) else 1
    return numel(shape) // cols, cols


def _bcast_mode(ys, bs, where: str):
    """(mode, rows, cols) of et_bcast for operand shape bs against full shape ys."""
    total = numel(ys)
    nb = numel(bs)
    if tuple(bs) == tuple(ys) or nb == total:
        return "ET_BCAST_NONE", 1, total
    if nb == 1:
        return "ET_BCAST_SCALAR", 1, total
    b = (1,) * (len(ys) - len(bs)) + tuple(bs)
    for split in range(len(ys) + 1):
        lead, trail = b[:split], b[split:]
        if all(d == 1 for d in lead) and tuple(trail) == tuple(ys[split:]):
            return "ET_BCAST_ROW", numel(ys[:split]), numel(ys[split:])
        if tuple(lead) == tuple(ys[:split]) and all(d == 1 for d in trail):
            return "ET_BCAST_COL", numel(ys[:split]), numel(ys[split:])
    raise CodegenError(f"{where}: broadcast of {list(bs)} against {list(ys)} is neither a row, "
                       "a column nor a scalar (et_elementwise.h)")


def _scratch(a: str) -> str:
    kind = {"conv": "et_conv2d", "lin": "et_linear"}[a.rstrip("0123456789")]
    return f"{kind}_scratch_size(&{a})"


# --- emitters ------------------------------------------------------------------------------
def _conv_args(e: Emitter, idx: int, n: Node, c: CCall, x: str, w: str) -> tuple[str, tuple]:
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


def conv_fwd(e, idx, n):
    c = CCall()
    a, dims = _conv_args(e, idx, n, c, n.inputs[0], n.inputs[1])
    b = e.p(n.inputs[2]) if len(n.inputs) > 2 else "NULL"
    e.call(c, "et_conv2d_fwd_f32", f"&{a}", e.p(n.inputs[0]), e.p(n.inputs[1]), b, e.p(n.outputs[0]))
    c.scratch.append(_scratch(a))
    c.kernel_q.append(("et_conv2d_fwd_f32", ("conv", 0) + dims))
    return c


def conv_igrad(e, idx, n):
    c = CCall()
    a, dims = _conv_args(e, idx, n, c, n.attrs["x"], n.attrs["w"])
    e.call(c, "et_conv2d_bwd_igrad_f32", f"&{a}", e.p(n.inputs[1]), e.p(n.inputs[0]), e.p(n.outputs[0]))
    c.scratch.append(_scratch(a))
    c.kernel_q.append(("et_conv2d_bwd_igrad_f32", ("conv", 1) + dims))
    return c


def conv_wgrad(e, idx, n):
    c = CCall()
    a, dims = _conv_args(e, idx, n, c, n.attrs["x"], n.attrs["w"])
    dy, x = e.p(n.inputs[0]), e.p(n.inputs[1])
    outs = list(n.outputs)
    if n.attrs.get("dw", True):
        e.call(c, "et_conv2d_bwd_wgrad_f32", f"&{a}", x, dy, e.p(outs.pop(0)))
        c.scratch.append(_scratch(a))
        c.kernel_q.append(("et_conv2d_bwd_wgrad_f32", ("conv", 2) + dims))
    if n.attrs.get("db"):
        e.call(c, "et_conv2d_bwd_bgrad_f32", f"&{a}", dy, e.p(outs.pop(0)))
        c.scratch.append(_scratch(a))
    return c


def _pool_args(e, idx, n, c, x):
    xs = e.shape(x)
    k, st, p = n.attrs["kernel"], n.attrs["strides"], n.attrs["pads"]
    if p[0] != p[2] or p[1] != p[3]:
        raise CodegenError(f"node '{n.name}': max-pool with asymmetric pads {p}")
    name = f"pool{idx}"
    c.decls.append(f"static const et_maxpool2d_args {name} = {{.planes = {xs[0] * xs[1]}, "
                   f".h = {xs[2]}, .w = {xs[3]}, .kh = {k[0]}, .kw = {k[1]}, .sh = {st[0]}, "
                   f".sw = {st[1]}, .ph = {p[0]}, .pw = {p[1]}}};")
    return name


def _plane_pre(a: str) -> list[str]:
    return [f"et_maxpool2d_args a_ = {a};", "a_.planes = @NR@;"]


def pool_fwd(e, idx, n):  # tiled by planes (N*C)
    c = CCall()
    x, y = n.inputs[0], n.outputs[0]
    a = _pool_args(e, idx, n, c, x)
    e.call(c, "et_maxpool2d_fwd_f32", f"&{a}", e.p(x), e.p(y), "NULL")
    xs, ys = e.shape(x), e.shape(y)
    e.tiled(c, xs[0] * xs[1], [(x, 4 * xs[2] * xs[3], IN), (y, 4 * ys[2] * ys[3], OUT)],
            ["&a_", "@P0@", "@P1@", "NULL"], _plane_pre(a))
    return c


def pool_igrad(e, idx, n):  # inputs [dy, x] -> dx, tiled by planes
    c = CCall()
    dy, x, dx = n.inputs[0], n.inputs[1], n.outputs[0]
    a = _pool_args(e, idx, n, c, n.attrs["x"])
    e.call(c, "et_maxpool2d_bwd_f32", f"&{a}", e.p(x), "NULL", e.p(dy), e.p(dx))
    xs, ys = e.shape(x), e.shape(dy)
    e.tiled(c, xs[0] * xs[1], [(x, 4 * xs[2] * xs[3], IN), (dy, 4 * ys[2] * ys[3], IN),
                               (dx, 4 * xs[2] * xs[3], OUT)],
            ["&a_", "@P0@", "NULL", "@P1@", "@P2@"], _plane_pre(a))
    return c


def _unary(e, c, kernel, head: list[str], ins: list[str], out: str) -> None:
    """An element-wise kernel (head args, inputs..., output, n), tiled by rows of the last axis."""
    e.call(c, kernel, *head, *(e.p(t) for t in ins), e.p(out), str(numel(e.shape(out))))
    rows, cols = _rows_cols(e.shape(out))
    streams = [(t, 4 * cols, IN) for t in ins] + [(out, 4 * cols, OUT)]
    e.tiled(c, rows, streams, head + [f"@P{i}@" for i in range(len(streams))] +
            [f"@NR@ * {cols}u"])


def relu_fwd(e, idx, n):
    c = CCall()
    _unary(e, c, "et_relu_fwd_f32", [], [n.inputs[0]], n.outputs[0])
    return c


def relu_igrad(e, idx, n):  # inputs [dy, y]: the sign test on y equals the one on x
    c = CCall()
    _unary(e, c, "et_relu_bwd_f32", [], [n.inputs[1], n.inputs[0]], n.outputs[0])
    return c


def _gelu_mode(n):
    return "ET_GELU_TANH" if n.attrs.get("approximate") == "tanh" else "ET_GELU_ERF"


def gelu_fwd(e, idx, n):
    c = CCall()
    _unary(e, c, "et_gelu_fwd_f32", [_gelu_mode(n)], [n.inputs[0]], n.outputs[0])
    return c


def gelu_igrad(e, idx, n):  # inputs [dy, x]
    c = CCall()
    _unary(e, c, "et_gelu_bwd_f32", [_gelu_mode(n)], [n.inputs[1], n.inputs[0]], n.outputs[0])
    return c


def _lin_args(e, idx, c, x, y, acc=0):
    xs, ys = e.shape(x), e.shape(y)
    name = f"lin{idx}"
    c.decls.append(f"static const et_linear_args {name} = {{.rows = {numel(xs[:-1])}, "
                   f".in = {xs[-1]}, .out = {ys[-1]}, .accumulate = {acc}}};")
    return name, numel(xs[:-1]), xs[-1], ys[-1]


def linear_fwd(e, idx, n):
    c = CCall()
    x, w, y = n.inputs[0], n.inputs[1], n.outputs[0]
    b = e.p(n.inputs[2]) if len(n.inputs) > 2 else "NULL"
    if n.attrs.get("trans_w"):   # the GEMM Y = X W^T
        a, rows, k, nn = _lin_args(e, idx, c, x, y)
        e.call(c, "et_linear_fwd_f32", f"&{a}", e.p(x), e.p(w), b, e.p(y))
        c.scratch.append(_scratch(a))
        c.kernel_q.append(("et_linear_fwd_f32", ("gemm", rows, nn, k, 1, 0, 1)))
    else:  # W [in][out]: Y = X W on the GEMM
        rows, k, nn = numel(e.shape(x)[:-1]), e.shape(x)[-1], e.shape(y)[-1]
        e.gemm(c, idx, "f", rows, nn, k, 0, 0, e.p(x), e.p(w), e.p(y), bias=b)
    return c


def linear_igrad(e, idx, n):  # inputs [dy, w] -> dx
    c = CCall()
    dy, w, dx = n.inputs[0], n.inputs[1], n.outputs[0]
    if n.attrs.get("trans_w"):
        a, rows, k, nn = _lin_args(e, idx, c, n.attrs["x"], n.attrs["y"])
        e.call(c, "et_linear_bwd_igrad_f32", f"&{a}", e.p(dy), e.p(w), e.p(dx))
        c.scratch.append(_scratch(a))
        c.kernel_q.append(("et_linear_bwd_igrad_f32", ("gemm", rows, k, nn, 1, 0, 0)))
    else:  # dX [rows][in] = dY [rows][out] . W^T, W stored [in][out]
        rows, k, nn = numel(e.shape(dx)[:-1]), e.shape(dx)[-1], e.shape(dy)[-1]
        e.gemm(c, idx, "i", rows, k, nn, 0, 1, e.p(dy), e.p(w), e.p(dx))
    return c


def linear_wgrad(e, idx, n):  # inputs [dy, x] -> [dw][, db]
    c = CCall()
    dy, x = n.inputs
    outs = list(n.outputs)
    xs, ys = e.shape(n.attrs["x"]), e.shape(n.attrs["y"])
    rows, k, nn = numel(xs[:-1]), xs[-1], ys[-1]
    if n.attrs.get("trans_w") or n.attrs.get("db"):
        a, *_ = _lin_args(e, idx, c, n.attrs["x"], n.attrs["y"])
    if n.attrs.get("dw", True):
        dw = e.p(outs.pop(0))
        if n.attrs.get("trans_w"):   # dW [out][in] = dY^T X
            e.call(c, "et_linear_bwd_wgrad_f32", f"&{a}", e.p(dy), e.p(x), dw)
            c.scratch.append(_scratch(a))
            c.kernel_q.append(("et_linear_bwd_wgrad_f32", ("gemm", nn, k, rows, 1, 1, 0)))
        else:  # dW [in][out] = X^T . dY
            e.gemm(c, idx, "w", k, nn, rows, 1, 0, e.p(x), e.p(dy), dw)
    if n.attrs.get("db"):
        e.call(c, "et_linear_bwd_bgrad_f32", f"&{a}", e.p(dy), e.p(outs.pop(0)))
        c.scratch.append(_scratch(a))
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


def matmul_fwd(e, idx, n):
    c = CCall()
    a, b, y = n.inputs[0], n.inputs[1], n.outputs[0]
    tb = int(bool(n.attrs.get("trans_b")))
    m, k, nn, nb, ab, bb = _mm_dims(e, a, b, y, tb)
    e.batched(c, idx, "f", m, nn, k, 0, tb, e.p(a), e.p(b), e.p(y), nb, ab, bb, nb)
    return c


def matmul_igrad(e, idx, n):  # inputs [dy, other] -> d(operand)
    c = CCall()
    dy, other, out = n.inputs[0], n.inputs[1], n.outputs[0]
    a, b = n.attrs["a"], n.attrs["b"]
    tb = int(bool(n.attrs.get("trans_b")))
    m, k, nn, nb, ab, bb = _mm_dims(e, a, b, n.attrs["y"], tb)
    if n.attrs["operand"] == 0:  # dA [m][k] = dY [m][n] . op(B)^T
        e.batched(c, idx, "a", m, k, nn, 0, 1 - tb, e.p(dy), e.p(other), e.p(out), nb, nb, bb, ab)
    elif tb:  # dB [n][k] = dY^T . A
        e.batched(c, idx, "b", nn, k, m, 1, 0, e.p(dy), e.p(other), e.p(out), nb, nb, ab, bb)
    else:  # dB [k][n] = A^T . dY
        e.batched(c, idx, "b", k, nn, m, 1, 0, e.p(other), e.p(dy), e.p(out), nb, ab, nb, bb)
    return c


def _binary(kernel):
    def fn(e, idx, n):
        c = CCall()
        a, b, y = n.inputs[0], n.inputs[1], n.outputs[0]
        ys = e.shape(y)
        if numel(e.shape(a)) != numel(ys):  # commutative: the full operand goes first
            a, b = b, a
        mode, rows, cols = _bcast_mode(ys, e.shape(b), f"node '{n.name}'")
        if mode == "ET_BCAST_NONE" and numel(e.shape(a)) != numel(ys):
            raise CodegenError(f"node '{n.name}': operands {list(e.shape(a))}, "
                               f"{list(e.shape(b))} need a two-sided broadcast")
        e.call(c, kernel, mode, e.p(a), e.p(b), e.p(y), str(rows), str(cols))
        if mode in ("ET_BCAST_NONE", "ET_BCAST_SCALAR"):   # element-wise: rows of the last axis
            rows, cols = _rows_cols(ys)
            bs = (b, 4 * cols, IN) if mode == "ET_BCAST_NONE" else (b, 4, WHOLE)
            e.tiled(c, rows, [(a, 4 * cols, IN), bs, (y, 4 * cols, OUT)],
                    [mode, "@P0@", "@P1@", "@P2@", "1", f"@NR@ * {cols}u"])
        else:   # ROW: b is one row (whole); COL: one b value per row
            bs = (b, 4 * cols, WHOLE) if mode == "ET_BCAST_ROW" else (b, 4, IN)
            e.tiled(c, rows, [(a, 4 * cols, IN), bs, (y, 4 * cols, OUT)],
                    [mode, "@P0@", "@P1@", "@P2@", "@NR@", str(cols)])
        return c
    return fn


def reduce_sum(e, idx, n):  # gradient of a broadcast operand: dy summed over the broadcast axes
    c = CCall()
    dy, out = n.inputs[0], n.outputs[0]
    mode, rows, cols = _bcast_mode(e.shape(dy), e.shape(out), f"node '{n.name}'")
    e.call(c, "et_add_bwd_f32", mode, e.p(dy), "NULL", e.p(out), str(rows), str(cols))
    return c


def transpose(e, idx, n):
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


def softmax_fwd(e, idx, n):
    c = CCall()
    xs = e.shape(n.inputs[0])
    if n.attrs.get("axis", -1) not in (-1, len(xs) - 1):
        raise CodegenError(f"node '{n.name}': softmax over axis {n.attrs['axis']} (C: last axis)")
    e.call(c, "et_softmax_fwd_f32", e.p(n.inputs[0]), e.p(n.outputs[0]), str(numel(xs[:-1])),
           str(xs[-1]))
    e.tiled(c, numel(xs[:-1]), [(n.inputs[0], 4 * xs[-1], IN), (n.outputs[0], 4 * xs[-1], OUT)],
            ["@P0@", "@P1@", "@NR@", str(xs[-1])])
    return c


def softmax_igrad(e, idx, n):  # inputs [dy, y]
    c = CCall()
    ys = e.shape(n.inputs[1])
    e.call(c, "et_softmax_bwd_f32", e.p(n.inputs[1]), e.p(n.inputs[0]), e.p(n.outputs[0]),
           str(numel(ys[:-1])), str(ys[-1]))
    row = 4 * ys[-1]
    e.tiled(c, numel(ys[:-1]), [(n.inputs[1], row, IN), (n.inputs[0], row, IN),
                                (n.outputs[0], row, OUT)],
            ["@P0@", "@P1@", "@P2@", "@NR@", str(ys[-1])])
    return c


def ln_fwd(e, idx, n):
    c = CCall()
    xs = e.shape(n.inputs[0])
    mean, rstd = e.ln_stats(n.outputs[0])
    x, gm, bt = (e.p(i) for i in n.inputs)
    e.call(c, "et_layernorm_fwd_f32", x, gm, bt, e.p(n.outputs[0]), mean, rstd,
           str(numel(xs[:-1])), str(xs[-1]), _f(n.attrs["eps"]))
    row = 4 * xs[-1]
    e.tiled(c, numel(xs[:-1]), [(n.inputs[0], row, IN), (n.inputs[1], row, WHOLE),
                                (n.inputs[2], row, WHOLE), (n.outputs[0], row, OUT),
                                (("mean", mean), 4, OUT), (("rstd", rstd), 4, OUT)],
            ["@P0@", "@P1@", "@P2@", "@P3@", "@P4@", "@P5@", "@NR@", str(xs[-1]),
             _f(n.attrs["eps"])])
    return c


def ln_igrad(e, idx, n):  # inputs [dy, x, gamma] -> dx
    c = CCall()
    xs = e.shape(n.attrs["x"])
    mean, rstd = e.ln_stats(n.attrs["y"])
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


def ln_wgrad(e, idx, n):  # inputs [dy, x] -> [dgamma][, dbeta]; dx goes to L1 and is dropped
    """dgamma = sum(dy * xhat) and dbeta = sum(dy) do not depend on gamma: the kernel gets
    gamma = NULL (its dx, dropped, is then the gamma = 1 one), so the node reads no gamma, which
    may live in L3 where the cores cannot read it (Siracusa)."""
    c = CCall()
    xs = e.shape(n.attrs["x"])
    mean, rstd = e.ln_stats(n.attrs["y"])
    outs = list(n.outputs)
    dg = e.p(outs.pop(0)) if n.attrs.get("dw", True) else "NULL"
    db = e.p(outs.pop(0)) if n.attrs.get("db", True) else "NULL"
    e.l1_need = max(e.l1_need, numel(xs) * 4)
    e.call(c, "et_layernorm_bwd_f32", e.p(n.inputs[1]), "NULL", mean, rstd, e.p(n.inputs[0]),
           f"(float *){e.l1}", dg, db, str(numel(xs[:-1])), str(xs[-1]))
    return c


def xent_fwd(e, idx, n):
    c = CCall()
    ys = e.shape(n.inputs[0])
    e.call(c, "et_softmax_xent_fwd_f32", e.p(n.inputs[0]), f"(const int32_t *){e.p(n.inputs[1])}",
           e.p(n.outputs[0]), str(ys[0]), str(numel(ys[1:])))
    return c


def xent_igrad(e, idx, n):
    c = CCall()
    ys = e.shape(n.inputs[0])
    e.call(c, "et_softmax_xent_bwd_f32", e.p(n.inputs[0]), f"(const int32_t *){e.p(n.inputs[1])}",
           "1.0f", e.p(n.outputs[0]), str(ys[0]), str(numel(ys[1:])))
    return c


def mse_fwd(e, idx, n):
    c = CCall()
    e.call(c, "et_mse_fwd_f32", e.p(n.inputs[0]), e.p(n.inputs[1]), e.p(n.outputs[0]),
           str(numel(e.shape(n.inputs[0]))))
    return c


def mse_igrad(e, idx, n):
    c = CCall()
    e.call(c, "et_mse_bwd_f32", e.p(n.inputs[0]), e.p(n.inputs[1]), "1.0f", e.p(n.outputs[0]),
           str(numel(e.shape(n.inputs[0]))))
    return c


def sgd(e, idx, n):
    c = CCall()
    a = n.attrs
    name = f"sgd{idx}"
    c.decls.append(f"static const et_sgd_args {name} = {{.lr = {_f(a['lr'])}, .momentum = "
                   f"{_f(a['momentum'])}, .weight_decay = {_f(a['weight_decay'])}, .nesterov = 0}};")
    v = e.p(n.inputs[2]) if len(n.inputs) > 2 else "NULL"
    e.call(c, "et_sgd_step_f32", f"&{name}", e.p(n.inputs[0]), e.p(n.inputs[1]), v,
           str(numel(e.shape(n.inputs[0]))))
    streams = [(n.inputs[0], 4, INOUT), (n.inputs[1], 4, IN)]   # rows of one element
    if len(n.inputs) > 2:
        streams.append((n.inputs[2], 4, INOUT))
    e.tiled(c, numel(e.shape(n.inputs[0])), streams,
            [f"&{name}", "@P0@", "@P1@", "@P2@" if len(n.inputs) > 2 else "NULL", "@NR@"])
    return c


# IR kernel name (Node.kernel) -> emitter
KERNEL_MAP: dict[str, Callable[[Emitter, int, Node], CCall]] = {
    "et_conv2d_fwd_f32": conv_fwd,
    "et_conv2d_bwd_igrad_f32": conv_igrad,
    "et_conv2d_bwd_wgrad_f32": conv_wgrad,
    "et_maxpool2d_fwd_f32": pool_fwd,
    "et_maxpool2d_bwd_igrad_f32": pool_igrad,
    "et_relu_fwd_f32": relu_fwd,
    "et_relu_bwd_igrad_f32": relu_igrad,
    "et_gelu_fwd_f32": gelu_fwd,
    "et_gelu_bwd_igrad_f32": gelu_igrad,
    "et_linear_fwd_f32": linear_fwd,
    "et_linear_bwd_igrad_f32": linear_igrad,
    "et_linear_bwd_wgrad_f32": linear_wgrad,
    "et_matmul_fwd_f32": matmul_fwd,
    "et_matmul_bwd_igrad_f32": matmul_igrad,
    "et_add_fwd_f32": _binary("et_add_fwd_f32"),
    "et_mul_fwd_f32": _binary("et_mul_fwd_f32"),
    "et_reduce_sum_fwd_f32": reduce_sum,
    "et_transpose_fwd_f32": transpose,
    "et_softmax_fwd_f32": softmax_fwd,
    "et_softmax_bwd_igrad_f32": softmax_igrad,
    "et_layernorm_fwd_f32": ln_fwd,
    "et_layernorm_bwd_igrad_f32": ln_igrad,
    "et_layernorm_bwd_wgrad_f32": ln_wgrad,
    "et_softmax_ce_fwd_f32": xent_fwd,
    "et_softmax_ce_bwd_igrad_f32": xent_igrad,
    "et_mse_fwd_f32": mse_fwd,
    "et_mse_bwd_igrad_f32": mse_igrad,
    "et_sgd_step_f32": sgd,
}
