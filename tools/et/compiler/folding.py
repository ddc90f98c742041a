"""Constant folding at import: evaluates ONNX nodes whose inputs are all known constants.

This is what removes the shape arithmetic ``torch.onnx.export`` writes (Shape -> Gather ->
Unsqueeze -> Concat -> Reshape, Slice of shapes, Cast, ConstantOfShape, ...). ``Shape`` of an
activation is itself a constant because every shape is static once the batch size is chosen.
Trainable initializers are never folded (a Transpose of a weight stays an op on a parameter).
No folded value may exceed a byte bound (``max_bytes``, the target's memory): the ops that can
grow (from a shape, by broadcasting, by gathering) are sized before numpy allocates anything.
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
    "Mod": lambda v, a, o: (np.fmod if a.get("fmod", 0) else np.mod)(v[0], v[1]).astype(
        np.result_type(v[0], v[1])),
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
# default bound on a folded value: Siracusa's L1 + L2 + L3 (a constant the chip cannot hold is
# an error, not 64 GiB of host memory); compile_model passes the resolved target's total
MAX_FOLD_BYTES = (256 + 1024 + 8192) * 1024
_BROADCAST = {"Add", "Sub", "Mul", "Div", "Pow", "Min", "Max", "Equal", "Where"}


def _predicted_shape(op: str, vals: list, attrs: dict) -> tuple[list[int], int] | None:
    """(shape, item size) of the result of the ops whose output can be larger than their
    inputs, computed without evaluating them; None for the others (never larger)."""
    if op in ("ConstantOfShape", "Expand"):
        dims = [int(d) for d in np.asarray(vals[0 if op == "ConstantOfShape" else 1]).reshape(-1)]
        if any(d < 0 for d in dims):
            raise CompileError(f"{op} with a negative dimension in {dims}")
        if op == "Expand":
            dims = list(np.broadcast_shapes(vals[0].shape, tuple(max(d, 1) for d in dims)))
            return dims, vals[0].dtype.itemsize
        value = np.asarray(attrs.get("value", np.zeros(1, np.float32)))
        return dims, value.dtype.itemsize
    if op == "Range":
        start, limit, delta = (float(np.asarray(v).reshape(-1)[0]) for v in vals[:3])
        if delta == 0 or not all(np.isfinite((start, limit, delta))):
            raise CompileError(f"Range({start}, {limit}, {delta}) is not a finite range")
        return [max(0, int(np.ceil((limit - start) / delta)))], np.asarray(vals[0]).dtype.itemsize
    if op in _BROADCAST:
        shapes = [np.asarray(v).shape for v in vals]
        return list(np.broadcast_shapes(*shapes)), max(np.asarray(v).dtype.itemsize for v in vals)
    if op == "Concat":
        n = sum(max(1, np.asarray(v).size) for v in vals)
        return [n], max(np.asarray(v).dtype.itemsize for v in vals)
    if op == "Gather":
        data, idx = np.asarray(vals[0]), np.asarray(vals[1])
        axis = attrs.get("axis", 0) % max(1, data.ndim)
        return list(data.shape[:axis]) + list(idx.shape) + list(data.shape[axis + 1:]), \
            data.dtype.itemsize
    return None


def _check_size(op: str, node: str, shape, itemsize: int, max_bytes: int) -> None:
    n = int(np.prod([int(d) for d in shape], dtype=object)) if len(shape) else 1
    if n * itemsize > max_bytes:
        raise CompileError(f"node '{node}' ({op}): folding it would make a constant of {n} "
                           f"elements ({n * itemsize} bytes, shape {list(shape)}), more than "
                           f"the {max_bytes} bytes of the target's memory (L1+L2+L3)")


def fold(op: str, vals: list, attrs: dict, opset: int, in_shapes: list | None = None,
         max_bytes: int = MAX_FOLD_BYTES, node: str = ""):
    """Value of ONNX op ``op`` on constant inputs ``vals`` (``Shape``/``Size`` take the static
    shape); a result larger than ``max_bytes`` is a CompileError naming ``node`` and the sizes."""
    node = node or op
    try:
        pred = _predicted_shape(op, vals, attrs)
    except ValueError as e:   # shapes that do not broadcast
        raise CompileError(f"node '{node}' ({op}): {e}") from None
    if pred is not None:
        _check_size(op, node, pred[0], pred[1], max_bytes)
    out = _fold(op, vals, attrs, opset, in_shapes)
    _check_size(op, node, out.shape, out.dtype.itemsize, max_bytes)
    return out


def _fold(op: str, vals: list, attrs: dict, opset: int, in_shapes: list | None):
    if op == "Shape":
        shape = np.asarray(in_shapes[0], dtype=np.int64)
        start, end = attrs.get("start", 0), attrs.get("end", None)
        return shape[start:end]
    if op == "Size":
        return np.asarray(int(np.prod(in_shapes[0])), dtype=np.int64)
    return np.asarray(_FOLD[op](vals, attrs, opset))
