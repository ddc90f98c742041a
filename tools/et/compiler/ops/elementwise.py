"""Broadcasting arithmetic: add, sub, mul, div (ONNX Add, Sub, Mul, Div) and reduce_sum, the
gradient of a broadcast operand. C: add and mul (kernels/include/et_elementwise.h, et_bcast
modes: an operand that is a scalar, a row or a column), reduce_sum as ``et_add_bwd_f32`` with
da = NULL; sub and div run only inside the decomposed LayerNorm pattern, which fusion turns into
layernorm."""
from __future__ import annotations


from ..kernelmap import IN, OUT, WHOLE, CCall, CodegenError
from .activation import NO_C, rows_cols
from .base import Call, OpDef, broadcast, numel, per_input, per_output, where

ELEM = 1     # FLOP per output element (add, sub, mul, div; reduce: per input element)
ELEM_BWD = 2  # FLOP per element of div's gradient of the divisor


def import_binary(imp, op, node, a) -> None:
    imp.emit(op.lower(), list(node.input), node.output[0])


def infer_binary(node, g):
    return [broadcast(g[node.inputs[0]].shape, g[node.inputs[1]].shape, where(node))]


def bcast_mode(ys, bs, at: str):
    """(mode, rows, cols) of et_bcast for operand shape bs against full shape ys."""
    total, nb = numel(ys), numel(bs)
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
    raise CodegenError(f"{at}: broadcast of {list(bs)} against {list(ys)} is neither a row, "
                       "a column nor a scalar (et_elementwise.h)")


def binary_call(kernel: str):
    def emit(e, idx, n):
        c = CCall()
        a, b, y = n.inputs[0], n.inputs[1], n.outputs[0]
        ys = e.shape(y)
        if numel(e.shape(a)) != numel(ys):  # commutative: the full operand goes first
            a, b = b, a
        mode, rows, cols = bcast_mode(ys, e.shape(b), f"node '{n.name}'")
        if mode == "ET_BCAST_NONE" and numel(e.shape(a)) != numel(ys):
            raise CodegenError(f"node '{n.name}': operands {list(e.shape(a))}, "
                               f"{list(e.shape(b))} need a two-sided broadcast")
        e.call(c, kernel, mode, e.p(a), e.p(b), e.p(y), str(rows), str(cols))
        if mode in ("ET_BCAST_NONE", "ET_BCAST_SCALAR"):   # element-wise: rows of the last axis
            rows, cols = rows_cols(ys)
            bs = (b, 4 * cols, IN) if mode == "ET_BCAST_NONE" else (b, 4, WHOLE)
            e.tiled(c, rows, [(a, 4 * cols, IN), bs, (y, 4 * cols, OUT)],
                    [mode, "@P0@", "@P1@", "@P2@", "1", f"@NR@ * {cols}u"])
        else:   # ROW: b is one row (whole); COL: one b value per row
            bs = (b, 4 * cols, WHOLE) if mode == "ET_BCAST_ROW" else (b, 4, IN)
            e.tiled(c, rows, [(a, 4 * cols, IN), bs, (y, 4 * cols, OUT)],
                    [mode, "@P0@", "@P1@", "@P2@", "@NR@", str(cols)])
        return c
    return emit


# --- gradient rules --------------------------------------------------------------------------
def grad_add(d, n, dy) -> None:
    for t in n.inputs:
        if d.want(t):
            d.contribute(t, d.reduce_to(dy, t, n), n)


def grad_sub(d, n, dy) -> None:
    a, b = n.inputs
    if d.want(a):
        d.contribute(a, d.reduce_to(dy, a, n), n)
    if d.want(b):
        neg = d.scaled(n, dy, d.neg_const(), 1, "mul")
        d.contribute(b, d.reduce_to(neg, b, n), n)


def grad_mul(d, n, dy) -> None:
    a, b = n.inputs
    for k, (t, other) in enumerate(((a, b), (b, a))):
        if d.want(t):
            d.contribute(t, d.reduce_to(d.scaled(n, dy, other, k, "mul"), t, n), n)


def grad_div(d, n, dy) -> None:
    a, b = n.inputs
    if d.want(a):
        d.contribute(a, d.reduce_to(d.scaled(n, dy, b, 0, "div"), a, n), n)
    if d.want(b):
        tmp = d.new_temp(b, dy, "_div")
        d.emit("div", [dy, a, b], [tmp], n, "igrad", operand=1)
        d.contribute(b, d.reduce_to(tmp, b, n), n)


# --- reductions ------------------------------------------------------------------------------
def reduce_sum(dy, shape):
    shape = tuple(shape)
    lead = dy.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape)
                                      if s == 1 and dy.shape[lead + i] != 1)
    return dy.sum(axis=axes).reshape(shape)


def emit_reduce_sum(e, idx, n):  # gradient of a broadcast operand: dy summed over the broadcast axes
    c = CCall()
    dy, out = n.inputs[0], n.outputs[0]
    mode, rows, cols = bcast_mode(e.shape(dy), e.shape(out), f"node '{n.name}'")
    e.call(c, "et_add_bwd_f32", mode, e.p(dy), "NULL", e.p(out), str(rows), str(cols))
    return c


def _ref(fn):
    return Call(lambda n, g, x, y: fn(x, y), per_output(ELEM))


OPS = [
    OpDef("add", infer_binary, onnx=("Add",), importer=import_binary, grad=grad_add,
          calls={"fwd": Call(lambda n, g, x, y: x + y, per_output(ELEM),
                             binary_call("et_add_fwd_f32"), ("et_add_fwd_f32",), inplace=True)}),
    OpDef("mul", infer_binary, onnx=("Mul",), importer=import_binary, grad=grad_mul,
          calls={"fwd": Call(lambda n, g, x, y: x * y, per_output(ELEM),
                             binary_call("et_mul_fwd_f32"), ("et_mul_fwd_f32",), inplace=True)}),
    OpDef("sub", infer_binary, onnx=("Sub",), importer=import_binary, grad=grad_sub, no_c=NO_C,
          calls={"fwd": Call(lambda n, g, x, y: x - y, per_output(ELEM), inplace=True)}),
    OpDef("div", infer_binary, onnx=("Div",), importer=import_binary, grad=grad_div, no_c=NO_C,
          calls={"fwd": _ref(lambda x, y: x / y),
                 "igrad": Call(lambda n, g, dy, x, y: -dy * x / (y * y), per_output(ELEM_BWD))}),
    OpDef("reduce_sum", lambda n, g: [tuple(n.attrs["shape"])],
          calls={"fwd": Call(lambda n, g, dy: reduce_sum(dy, n.attrs["shape"]), per_input(ELEM),
                             emit_reduce_sum, ("et_add_bwd_f32",))}),
]
FLOP = {"ELEM": ELEM}
