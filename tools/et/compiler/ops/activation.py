"""Element-wise functions of one input: relu and gelu (C kernels, kernels/include/et_activations.h,
tiled through L1 by rows of the last axis), and erf, pow, sqrt, which the importer accepts only
for the patterns fusion turns into gelu and layernorm (the reference runs them)."""
from __future__ import annotations

import math

import numpy as np

from ..kernelmap import IN, OUT, CCall
from .base import F32, Call, OpDef, erf, numel, per_output, same_shape, unary_grad

RELU = 1                 # FLOP per element, forward (max) and backward (select)
GELU_ERF_FWD = 5         # scale, erf, +1, *x, *0.5
GELU_ERF_BWD = 11        # cdf 4, pdf 4 (with exp), x * pdf, +, * dy
GELU_TANH_FWD = 9        # x^3 (2), * k1, + x, * k0, tanh, + 1, * x, * 0.5
GELU_TANH_BWD = 18
ELEM = 1                 # FLOP per element of pow / sqrt forward
ELEM_BWD = 2             # and of their backward (derivative, * dy)


def rows_cols(shape) -> tuple[int, int]:
    """Rows x columns of a row-major tensor (columns = the last axis)."""
    cols = int(shape[-1]) if len(shape) else 1
    return numel(shape) // cols, cols


def emit_unary(e, c, kernel, head: list[str], ins: list[str], out: str) -> None:
    """An element-wise kernel (head args, inputs..., output, n), tiled by rows of the last axis."""
    e.call(c, kernel, *head, *(e.p(t) for t in ins), e.p(out), str(numel(e.shape(out))))
    rows, cols = rows_cols(e.shape(out))
    streams = [(t, 4 * cols, IN) for t in ins] + [(out, 4 * cols, OUT)]
    e.tiled(c, rows, streams, head + [f"@P{i}@" for i in range(len(streams))] + [f"@NR@ * {cols}u"])


def unary_call(kernel: str, head=lambda n: [], saved_first: bool = False):
    """The emitter of ``kernel(head..., ins..., out, n)``: forward (input x) or, with
    ``saved_first``, backward (inputs [dy, saved] passed as saved, dy)."""
    def emit(e, idx, n):
        c = CCall()
        ins = [n.inputs[1], n.inputs[0]] if saved_first else [n.inputs[0]]
        emit_unary(e, c, kernel, head(n), ins, n.outputs[0])
        return c
    return emit


# --- relu ------------------------------------------------------------------------------------
def import_relu(imp, op, node, a) -> None:
    imp.emit("relu", list(node.input), node.output[0])


# --- gelu ------------------------------------------------------------------------------------
_GELU_K = math.sqrt(2.0 / math.pi)  # the tanh form: 0.5 x (1 + tanh(k (x + 0.044715 x^3)))


def import_gelu(imp, op, node, a) -> None:
    form = a.get("approximate", "none")
    if form not in ("none", "tanh"):
        imp.unsupported("approximate must be none or tanh")
    imp.emit("gelu", list(node.input)[:1], node.output[0],
             **({"approximate": "tanh"} if form == "tanh" else {}))


def gelu(x, approximate: str = "none"):
    if approximate == "tanh":
        x64 = x.astype(np.float64)
        return (0.5 * x64 * (1.0 + np.tanh(_GELU_K * (x64 + 0.044715 * x64 ** 3)))).astype(F32)
    return (0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))).astype(F32)


def gelu_igrad(dy, x, approximate: str = "none"):
    x64 = x.astype(np.float64)
    if approximate == "tanh":
        t = np.tanh(_GELU_K * (x64 + 0.044715 * x64 ** 3))
        d = 0.5 * (1.0 + t) + 0.5 * x64 * (1.0 - t * t) * _GELU_K * (1.0 + 3 * 0.044715 * x64 * x64)
    else:
        d = 0.5 * (1.0 + erf(x64 / math.sqrt(2.0))) + x64 * np.exp(-0.5 * x64 * x64) / math.sqrt(2 * math.pi)
    return dy * d.astype(F32)


def _tanh(n) -> bool:
    return n.attrs.get("approximate") == "tanh"


def _gelu_mode(n) -> list[str]:
    return ["ET_GELU_TANH" if _tanh(n) else "ET_GELU_ERF"]


def _gelu_flop(erf_k: int, tanh_k: int):
    return lambda n, g: (tanh_k if _tanh(n) else erf_k) * numel(g[n.outputs[0]].shape)


# --- erf, pow, sqrt (imported for the patterns fusion removes) -------------------------------
def import_erf(imp, op, node, a) -> None:
    imp.emit("erf", list(node.input), node.output[0])


def import_pow(imp, op, node, a) -> None:
    ins = list(node.input)
    e = imp.const(ins[1], "the exponent of Pow")
    if e.size != 1:
        imp.unsupported("only a scalar exponent")
    imp.emit("pow", ins[:1], node.output[0], exponent=float(e.reshape(-1)[0]))


def import_sqrt(imp, op, node, a) -> None:
    imp.emit("sqrt", list(node.input), node.output[0])


def _pow(n, g, x):
    return np.power(x, F32(n.attrs["exponent"]))


def _pow_igrad(n, g, dy, x):
    return dy * F32(n.attrs["exponent"]) * np.power(x, F32(n.attrs["exponent"] - 1))


NO_C = ("runs only inside the decomposed LayerNorm pattern, which the importer fuses into "
        "layernorm (a division by a constant becomes a multiplication)")
OPS = [
    OpDef("relu", same_shape, onnx=("Relu",), importer=import_relu, grad=unary_grad("y"),
          calls={"fwd": Call(lambda n, g, x: np.maximum(x, 0), per_output(RELU),
                             unary_call("et_relu_fwd_f32"), ("et_relu_fwd_f32",), inplace=True),
                 # inputs [dy, y]: the sign test on y equals the one on x
                 "igrad": Call(lambda n, g, dy, y: np.where(y > 0, dy, 0), per_output(RELU),
                               unary_call("et_relu_bwd_f32", saved_first=True),
                               ("et_relu_bwd_f32",), inplace=True)}),
    OpDef("gelu", same_shape, onnx=("Gelu",), ms_domain=("Gelu",), importer=import_gelu,
          grad=unary_grad("x"),
          calls={"fwd": Call(lambda n, g, x: gelu(x, n.attrs.get("approximate", "none")),
                             _gelu_flop(GELU_ERF_FWD, GELU_TANH_FWD),
                             unary_call("et_gelu_fwd_f32", _gelu_mode), ("et_gelu_fwd_f32",)),
                 "igrad": Call(lambda n, g, dy, x: gelu_igrad(dy, x, n.attrs.get("approximate", "none")),
                               _gelu_flop(GELU_ERF_BWD, GELU_TANH_BWD),
                               unary_call("et_gelu_bwd_f32", _gelu_mode, saved_first=True),
                               ("et_gelu_bwd_f32",), inplace=True)}),
    OpDef("erf", same_shape, onnx=("Erf",), importer=import_erf,
          fusion_only="only as part of the erf-GELU pattern"),
    OpDef("pow", same_shape, onnx=("Pow",), importer=import_pow, grad=unary_grad("x"), no_c=NO_C,
          calls={"fwd": Call(_pow, per_output(ELEM)),
                 "igrad": Call(_pow_igrad, per_output(ELEM_BWD))}),
    OpDef("sqrt", same_shape, onnx=("Sqrt",), importer=import_sqrt, grad=unary_grad("y"), no_c=NO_C,
          calls={"fwd": Call(lambda n, g, x: np.sqrt(x), per_output(ELEM)),
                 "igrad": Call(lambda n, g, dy, y: dy * F32(0.5) / y, per_output(ELEM_BWD))}),
]
FLOP = {"RELU": RELU, "GELU_ERF_FWD": GELU_ERF_FWD, "GELU_ERF_BWD": GELU_ERF_BWD,
        "GELU_TANH_FWD": GELU_TANH_FWD, "GELU_TANH_BWD": GELU_TANH_BWD}
