"""Constant folding at import: evaluates ONNX nodes whose inputs are all known constants.

This is what removes the shape arithmetic ``torch.onnx.export`` writes (Shape -> Gather ->
Unsqueeze -> Concat -> Reshape, Slice of shapes, Cast, ConstantOfShape, ...). ``Shape`` of an
activation is itself a constant because every shape is static once the batch size is chosen.
Trainable initializers are never folded (a Transpose of a weight stays an op on a parameter).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from onnx import helper, numpy_helper

from .ir import CompileError

_ONNX_DTYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 5: np.int16, 6: np.int32, 7: np.int64,
                9: np.bool_, 10: np.float16, 11: np.float64, 12: np.uint32, 13: np.uint64}


def attrs_of(node) -> dict:
    """ONNX node attributes as a plain dict (tensors as numpy arrays)."""
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        if a.type == a.TENSOR:
            v = numpy_helper.to_array(v)
        elif isinstance(v, bytes):
            v = v.decode()
        out[a.name] = v
    return out


def _axes(node, vals, attrs, opset, arg_index):
    if len(vals) > arg_index and vals[arg_index] is not None:
        return [int(x) for x in np.asarray(vals[arg_index]).reshape(-1)]
    return list(attrs.get("axes", []))


def _slice(x, vals):
    starts, ends = vals[1].reshape(-1), vals[2].reshape(-1)
    axes = vals[3].reshape(-1) if len(vals) > 3 and vals[3] is not None else range(len(starts))
    steps = vals[4].reshape(-1) if len(vals) > 4 and vals[4] is not None else [1] * len(starts)
    idx = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        idx[int(a)] = slice(int(s), int(e), int(st))
    return x[tuple(idx)]


def _reshape(x, shape, allowzero=0):
    shape = [int(d) for d in shape.reshape(-1)]
    if not allowzero:
        shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return x.reshape(shape)


def _constant(attrs):
    if "value" in attrs:
        return np.asarray(attrs["value"])
    for key, dt in (("value_float", np.float32), ("value_int", np.int64),
                    ("value_floats", np.float32), ("value_ints", np.int64)):
        if key in attrs:
            return np.asarray(attrs[key], dtype=dt)
    raise CompileError(f"Constant with attributes {sorted(attrs)} is not supported")


def _squeeze(x, axes):
    if not axes:
        return np.squeeze(x)
    return np.squeeze(x, axis=tuple(a % x.ndim for a in axes))


def _unsqueeze(x, axes):
    rank = x.ndim + len(axes)
    for a in sorted(a % rank for a in axes):
        x = np.expand_dims(x, a)
    return x


def _binary(f):
    def run(vals, attrs, opset):
        a, b = vals
        r = f(a, b)
        return r.astype(np.result_type(a, b)) if isinstance(r, np.ndarray) else r
    return run


_FOLD: dict[str, Callable] = {
    "Constant": lambda v, a, o: _constant(a),
    "Identity": lambda v, a, o: v[0],
    "Cast": lambda v, a, o: v[0].astype(_ONNX_DTYPES[a["to"]]),
    "Gather": lambda v, a, o: np.take(v[0], v[1].astype(np.int64), axis=a.get("axis", 0)),
    "Slice": lambda v, a, o: _slice(v[0], v),
    "Concat": lambda v, a, o: np.concatenate([np.atleast_1d(x) if x.ndim == 0 else x for x in v],
                                             axis=a["axis"]),
    "Unsqueeze": lambda v, a, o: _unsqueeze(v[0], _axes(None, v, a, o, 1)),
    "Squeeze": lambda v, a, o: _squeeze(v[0], _axes(None, v, a, o, 1)),
    "Reshape": lambda v, a, o: _reshape(v[0], v[1], a.get("allowzero", 0)),
    "Flatten": lambda v, a, o: v[0].reshape(int(np.prod(v[0].shape[:a.get("axis", 1)])), -1),
    "Transpose": lambda v, a, o: np.transpose(v[0], a.get("perm")),
    "ConstantOfShape": lambda v, a, o: np.full([int(d) for d in v[0].reshape(-1)],
                                               np.asarray(a.get("value", np.zeros(1, np.float32))).reshape(-1)[0]),
    "Range": lambda v, a, o: np.arange(v[0], v[1], v[2]).astype(v[0].dtype),
    "Expand": lambda v, a, o: v[0] * np.ones([int(d) for d in v[1]], dtype=v[0].dtype),
    "Equal": lambda v, a, o: np.equal(v[0], v[1]),
    "Where": lambda v, a, o: np.where(v[0], v[1], v[2]),
    "Add": _binary(np.add), "Sub": _binary(np.subtract), "Mul": _binary(np.multiply),
    "Div": _binary(lambda x, y: (x // y) if np.issubdtype(np.result_type(x, y), np.integer)
                   else x / y),
    "Pow": lambda v, a, o: np.power(v[0], v[1]).astype(v[0].dtype),
    "Sqrt": lambda v, a, o: np.sqrt(v[0]), "Neg": lambda v, a, o: -v[0],
    "Floor": lambda v, a, o: np.floor(v[0]), "Ceil": lambda v, a, o: np.ceil(v[0]),
    "Min": lambda v, a, o: np.minimum.reduce(v), "Max": lambda v, a, o: np.maximum.reduce(v),
    "ReduceProd": lambda v, a, o: np.prod(v[0], keepdims=bool(a.get("keepdims", 1))),
}

FOLDABLE = frozenset(_FOLD) | {"Shape", "Size"}


def fold(op: str, vals: list, attrs: dict, opset: int, in_shapes: list | None = None):
    """Value of ONNX op ``op`` on constant inputs ``vals`` (``Shape``/``Size`` take the static shape)."""
    if op == "Shape":
        shape = np.asarray(in_shapes[0], dtype=np.int64)
        start, end = attrs.get("start", 0), attrs.get("end", None)
        return shape[start:end]
    if op == "Size":
        return np.asarray(int(np.prod(in_shapes[0])), dtype=np.int64)
    return np.asarray(_FOLD[op](vals, attrs, opset))
