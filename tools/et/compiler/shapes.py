"""Static shape inference and FLOP counts for the IR's ops (forward, loss, backward, update).

FLOP convention (the one the reports and the benchmark use): a multiply-add is 2 FLOP; an
elementwise arithmetic op 1 FLOP per element; transcendental functions count as a small fixed
number of FLOP per element (``_ELEM_FLOP``); data movement (transpose, slice, concat, copies,
max-pool comparisons) counts 0 except where it adds numbers (max-pool backward scatters 1 add
per element).
"""
from __future__ import annotations

import numpy as np

from .ir import CompileError, Graph, Node

FORWARD_OPS = ("conv2d", "maxpool2d", "relu", "gelu", "linear", "matmul", "add", "sub", "mul",
               "div", "pow", "sqrt", "softmax", "layernorm", "transpose", "reshape",
               "reduce_mean", "concat", "slice")
LOSS_OPS = ("softmax_ce", "mse")

_ELEM_FLOP = {"relu": 1, "gelu": 8, "add": 1, "sub": 1, "mul": 1, "div": 1, "pow": 1,
              "sqrt": 1}


def broadcast(a: tuple[int, ...], b: tuple[int, ...], where: str) -> tuple[int, ...]:
    """Numpy broadcasting of two static shapes; CompileError naming ``where`` if impossible."""
    try:
        return tuple(int(d) for d in np.broadcast_shapes(tuple(a), tuple(b)))
    except ValueError:
        raise CompileError(f"{where}: shapes {list(a)} and {list(b)} do not broadcast") from None


def conv_out(size: int, k: int, stride: int, p0: int, p1: int) -> int:
    return (size + p0 + p1 - k) // stride + 1


def infer(node: Node, g: Graph) -> list[tuple[int, ...]]:
    """Output shapes of a forward or loss node from its input shapes and attributes."""
    s = [g[i].shape for i in node.inputs]
    a = node.attrs
    op, where = node.op, f"node '{node.name}' ({node.op})"
    if op == "conv2d":
        n, c, h, w = s[0]
        f, cw, kh, kw = s[1]
        if cw != c:
            raise CompileError(f"{where}: input has {c} channels, weight expects {cw}")
        st, p = a["strides"], a["pads"]
        return [(n, f, conv_out(h, kh, st[0], p[0], p[2]), conv_out(w, kw, st[1], p[1], p[3]))]
    if op == "maxpool2d":
        n, c, h, w = s[0]
        k, st, p = a["kernel"], a["strides"], a["pads"]
        return [(n, c, conv_out(h, k[0], st[0], p[0], p[2]), conv_out(w, k[1], st[1], p[1], p[3]))]
    if op in ("relu", "gelu", "sqrt", "softmax", "layernorm", "erf"):
        return [s[0]]
    if op == "pow":
        return [s[0]]
    if op == "linear":
        k = s[0][-1]
        wk, wn = (s[1][1], s[1][0]) if a.get("trans_w") else (s[1][0], s[1][1])
        if wk != k:
            raise CompileError(f"{where}: input features {k} != weight's {wk}")
        return [tuple(s[0][:-1]) + (wn,)]
    if op == "matmul":
        (sa, sb) = s
        kb = sb[-1] if a.get("trans_b") else sb[-2]
        nb = sb[-2] if a.get("trans_b") else sb[-1]
        if sa[-1] != kb or tuple(sa[:-2]) != tuple(sb[:-2]):
            raise CompileError(f"{where}: cannot multiply {list(sa)} by {list(sb)}")
        return [tuple(sa[:-1]) + (nb,)]
    if op in ("add", "sub", "mul", "div"):
        return [broadcast(s[0], s[1], where)]
    if op == "transpose":
        return [tuple(s[0][p] for p in a["perm"])]
    if op == "reshape":
        shape = tuple(a["shape"])
        if int(np.prod(shape)) != int(np.prod(s[0])):
            raise CompileError(f"{where}: cannot reshape {list(s[0])} to {list(shape)}")
        return [shape]
    if op == "reduce_mean":
        axes = a["axes"]
        return [tuple((1 if i in axes else d) for i, d in enumerate(s[0])
                      if a["keepdims"] or i not in axes)]
    if op == "concat":
        ax = a["axis"]
        out = list(s[0])
        out[ax] = sum(x[ax] for x in s)
        return [tuple(out)]
    if op == "slice":
        out = list(s[0])
        for ax, st, en in zip(a["axes"], a["starts"], a["ends"]):
            out[ax] = en - st
        return [tuple(out)]
    if op in LOSS_OPS:
        return [()]
    raise CompileError(f"internal: no shape rule for {where}")


def _numel(shape) -> int:
    return int(np.prod(shape)) if len(shape) else 1


def flops(node: Node, g: Graph) -> int:
    """FLOP of one node (see the module docstring for the convention)."""
    op, ph, var = node.op, node.phase, node.variant
    if ph == "bwd" and not var and op in ("add", "mul", "div", "sub"):
        ph = "fwd"  # an ordinary elementwise op used by the backward pass
    a = dict(node.attrs)
    if ph == "fwd":
        if op in ("conv2d", "linear"):
            a.update(x=node.inputs[0], w=node.inputs[1], y=node.outputs[0])
        elif op == "matmul":
            a.update(a=node.inputs[0], b=node.inputs[1], y=node.outputs[0])
        elif op in ("layernorm", "softmax", "maxpool2d"):
            a.update(x=node.inputs[0], y=node.outputs[0])
    ins = [g[i].shape for i in node.inputs]
    outs = [g[o].shape for o in node.outputs]
    if op == "conv2d":
        x, w = (g[a["x"]].shape, g[a["w"]].shape)
        y = g[a["y"]].shape
        mac = _numel(y) * w[1] * w[2] * w[3]
        extra = _numel(y) if (ph == "fwd" and len(node.inputs) > 2) or a.get("db") else 0
        if var == "wgrad" and not a.get("dw", True):
            return extra
        return 2 * mac + extra
    if op == "linear":
        x, y = g[a["x"]].shape, g[a["y"]].shape
        mac = _numel(y) * x[-1]
        bias = _numel(y) if a.get("bias") else 0
        if var == "wgrad" and not a.get("dw", True):
            return bias
        return 2 * mac + (bias if ph == "fwd" or var == "wgrad" and a.get("db") else 0)
    if op == "matmul":
        sa, y = g[a["a"]].shape, g[a["y"]].shape
        return 2 * _numel(y) * sa[-1]
    if op == "layernorm":
        n = _numel(g[a["x"]].shape)
        return {"fwd": 8 * n, "igrad": 11 * n, "wgrad": 6 * n}.get(var or ph, 8 * n)
    if op == "softmax":
        n = _numel(g[a["x"]].shape)
        return 5 * n if ph == "fwd" else 4 * n
    if op == "maxpool2d":
        return _numel(g[a["y"]].shape) if ph == "bwd" else 0
    if op in ("softmax_ce",):
        return 6 * _numel(ins[0])
    if op == "mse":
        return 3 * _numel(ins[0])
    if op == "sgd":
        return 4 * _numel(ins[0])
    if op == "reduce_mean" or op == "reduce_sum":
        return _numel(ins[0])
    if op in _ELEM_FLOP:
        n = max(_numel(s) for s in outs)
        return _ELEM_FLOP[op] * n * (2 if ph == "bwd" else 1)
    return 0
