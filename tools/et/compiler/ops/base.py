"""What the compiler knows about one IR op, in one record: ``OpDef`` and its per-call ``Call``.

An op's record holds every stage's rule for it:
- ``onnx`` / ``importer``: the ONNX op types it is imported from and the function that checks
  every limit at import time (``imp.unsupported(detail)`` names the node, the op and the limit)
  and emits IR nodes (``imp.emit``);
- ``infer``: static output shapes from the input shapes and attributes;
- ``grad``: the backward rule, ``grad(d, node, dy)`` on an ``autodiff.Differ`` ``d``, which emits
  the kernel-sized backward nodes only for gradients some trained tensor needs;
- ``calls``: per call kind (``Node.key``: ``fwd``, the op's own call, used also by backward and
  update nodes that are ordinary forward ops; ``igrad``, the gradient of an input; ``wgrad``, of
  weights and bias; ``bwd``, all of them in one call), a ``Call``: the numpy reference, the FLOP
  count, the C emitter and the real C functions it calls, and whether its output may overwrite
  its first input;
- ``no_c``: why an op the reference runs has no C kernel (said when a model needs it);
- ``view``: a reshape-like op that aliases its input and costs no call.

FLOP convention (one table for the compiler, the reports and kbench, see ``ops/flop.py``): a
multiply-add is 2 FLOP; every fmul/fadd/fsub/fdiv/compare/max is 1 and each libm-class function
(exp, erf, tanh, log, sqrt) 1; data movement (transpose, slice, concat, copies) 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..ir import CompileError, Graph, Node
from ..kernelmap import numel  # noqa: F401 - the ops' element count

F32 = np.float32
MAC = 2    # FLOP per multiply-add (GEMM, convolution)
BIAS = 1   # FLOP per bias add (forward) and per dY element summed into db
FLOP = {"MAC": MAC, "BIAS": BIAS}


@dataclass(frozen=True)
class Call:
    """One kind of call of an op (``Node.key``)."""
    ref: Callable                      # (node, graph, *input arrays) -> array | [arrays]
    flop: Callable[[Node, Graph], int]
    emit: Callable | None = None       # (Emitter, index, node) -> kernelmap.CCall
    c: tuple[str, ...] = ()            # the C functions ``emit`` may call (kernels/include)
    inplace: bool = False              # output 0 may share input 0's buffer


@dataclass(frozen=True)
class OpDef:
    name: str
    infer: Callable[[Node, Graph], list]
    calls: dict[str, Call] = field(default_factory=dict)
    grad: Callable | None = None
    onnx: tuple[str, ...] = ()
    importer: Callable | None = None   # (importer, onnx op, onnx node, attrs) -> None
    ms_domain: tuple[str, ...] = ()    # com.microsoft op types it also imports
    no_c: str = ""
    fusion_only: str = ""              # imported only as part of a pattern fusion removes
    view: bool = False
    row_stats: Callable | None = None  # (node, g) -> rows of (mean, rstd) the forward saves
    roles: tuple[str, ...] = ()        # PyTorch's names of its parameter inputs by position
                                       # ("", "weight", "bias"): a copy the importer unties
    chunked: bool = False              # element-wise over same-sized operands (input 0's
                                       # size): L3 operands stream in chunks (memory.SGD_CHUNK)


def where(node: Node) -> str:
    return f"node '{node.name}' ({node.op})"


def broadcast(a: tuple[int, ...], b: tuple[int, ...], at: str) -> tuple[int, ...]:
    """Numpy broadcasting of two static shapes; CompileError naming ``at`` if impossible."""
    try:
        return tuple(int(d) for d in np.broadcast_shapes(tuple(a), tuple(b)))
    except ValueError:
        raise CompileError(f"{at}: shapes {list(a)} and {list(b)} do not broadcast") from None


def conv_out(size: int, k: int, stride: int, p0: int, p1: int) -> int:
    return (size + p0 + p1 - k) // stride + 1


WEIGHT_BIAS = ("", "weight", "bias")   # roles of (x, weight, bias) inputs


def plane_pre(args_type: str, args: str, channels: int = 0) -> list[str]:
    """The statements before a plane-wise kernel's call in an L1 tile (``Emitter.tiled``'s
    ``pre``): a copy of its argument struct for the tile's planes, and with ``channels`` the
    channel of the tile's first plane."""
    pre = [f"{args_type} a_ = {args};", "a_.planes = @NR@;"]
    return pre + ([f"a_.c0 = @R0@ % {channels}u;"] if channels else [])


def symmetric_pads(imp, pads) -> None:
    """Refuse ONNX pads [top, left, bottom, right] that differ per side: the convolution
    kernels pad both sides equally."""
    if pads[0] != pads[2] or pads[1] != pads[3]:
        imp.unsupported(f"asymmetric pads {list(pads)} (the kernels pad both sides equally)")


def same_shape(node: Node, g: Graph) -> list:
    return [g[node.inputs[0]].shape]


def per_output(k: int) -> Callable[[Node, Graph], int]:
    """``k`` FLOP per element of the largest output."""
    return lambda n, g: k * max(numel(g[o].shape) for o in n.outputs)


def per_input(k: int, i: int = 0) -> Callable[[Node, Graph], int]:
    """``k`` FLOP per element of input ``i``."""
    return lambda n, g: k * numel(g[n.inputs[i]].shape)


def no_flop(n: Node, g: Graph) -> int:
    return 0


def ints(v) -> list[int]:
    """An INT or INTS attribute as a list (exporters write a single axis either way)."""
    return [int(v)] if isinstance(v, (int, np.integer)) else [int(x) for x in v]


_erf = np.frompyfunc(math.erf, 1, 1)


def erf(x: np.ndarray) -> np.ndarray:
    return _erf(x.astype(np.float64)).astype(np.float64)


# --- gradient rules several ops share (d: autodiff.Differ) -----------------------------------
def weighted_grad(d, n: Node, dy: str) -> None:
    """conv2d and linear: igrad (dX) and wgrad (dW and db), each only if needed."""
    x, w = n.inputs[0], n.inputs[1]
    b = n.inputs[2] if len(n.inputs) > 2 else None
    geo = dict(x=x, w=w, y=n.outputs[0])
    if d.want(x):
        dx = d.new_grad(x)
        d.emit(n.op, [dy, w], [dx], n, "igrad", tensors=geo)
        d.contribute(x, dx, n)
    need_w, need_b = d.want(w), bool(b) and d.want(b)
    if need_w or need_b:
        outs = ([d.new_grad(w)] if need_w else []) + ([d.new_grad(b)] if need_b else [])
        d.emit(n.op, [dy, x], outs, n, "wgrad", tensors=geo, dw=need_w, db=need_b)
        if need_w:
            d.contribute(w, outs[0], n)
        if need_b:
            d.contribute(b, outs[-1], n)


def unary_grad(saved: str | None) -> Callable:
    """The rule of a one-input op whose igrad reads dy and the forward's ``saved`` tensor
    ("x": its input, "y": its output; None: dy alone, as a mean or a slice)."""
    def rule(d, n: Node, dy: str) -> None:
        x = n.inputs[0]
        dx = d.new_grad(x)
        keep = {"x": [x], "y": [n.outputs[0]], None: []}[saved]
        d.emit(n.op, [dy] + keep, [dx], n, "igrad", tensors=dict(x=x, y=n.outputs[0]))
        d.contribute(x, dx, n)
    return rule
