"""ONNX -> IR import: opset checks, constant and shape folding, op translation, fusion, shapes.

Accepted: graphs as ``torch.onnx.export`` (TorchScript exporter) and ONNX Runtime's transformer
optimizer write them, default-domain opsets 7..21 (attribute or input forms of axes, starts and
ends, as each opset has them) plus ``com.microsoft`` Gelu. One ONNX node
becomes at most one IR node; patterns (erf-GELU, decomposed LayerNorm, MatMul + bias Add) are
fused afterwards by ``fusion``. Anything else raises UnsupportedOpError naming the op, the node
and the supported set; nothing is skipped silently.

Graphs need not be sorted (the nodes are put in dependency order first). A 0-d float
initializer (an exponent, an epsilon, an attention scale stored by ONNX Runtime's optimizer or
the dynamo exporter) is a constant, never a trained parameter.

Two export artefacts are undone here:
- torch deduplicates equal initializers (e.g. every LayerNorm's fresh weight of ones) and writes
  ``Identity(shared) -> name``; each such Identity becomes its own parameter (a copy), because
  the modules had separate parameters and train separately;
- the batch dimension, symbolic in a dynamic-batch export, is fixed to the ``batch`` option.
"""
from __future__ import annotations

import ast
import logging
import os

import numpy as np
import onnx
from onnx import numpy_helper

from . import fusion, shapes
from .folding import FOLDABLE, MAX_FOLD_BYTES, attrs_of, fold
from .ir import CompileError, Graph, Node, Tensor, UnsupportedOpError

log = logging.getLogger("et.compiler.onnx_import")

OPSET_MIN, OPSET_MAX = 7, 21
SUPPORTED_OPS = ("Conv", "MaxPool", "Relu", "Gelu", "Gemm", "MatMul", "Add", "Mul", "Sub", "Div",
                 "Pow", "Sqrt", "ReduceMean", "Softmax", "Transpose", "Reshape", "Flatten",
                 "Squeeze", "Unsqueeze", "Concat", "Slice", "Gather", "LayerNormalization",
                 "Erf", "Identity", "Dropout", "Constant", "Shape", "Cast", "ConstantOfShape")
MS_DOMAIN_OPS = ("Gelu",)


def _ints(v) -> list[int]:
    """An INT or INTS attribute as a list (exporters write a single axis either way)."""
    return [int(v)] if isinstance(v, (int, np.integer)) else [int(x) for x in v]


def topological(nodes, available: set[str]) -> list:
    """The nodes in dependency order, keeping the file's order where it already is one. A node
    whose input nobody produces is left where it stands: its import names the missing input."""
    produced = {o for n in nodes for o in n.output if o}
    have = set(available) | {""}
    out, waiting = [], list(nodes)
    while waiting:
        rest = []
        for n in waiting:
            if all(i in have or i not in produced for i in n.input):
                out.append(n)
                have.update(n.output)
            else:
                rest.append(n)
        if len(rest) == len(waiting):  # a cycle: import them as they are, the first one fails
            return out + rest
        waiting = rest
    return out


def scope_of(node_name: str) -> str:
    """Module path from a torch node name: '/blocks.0/attn/q/MatMul' -> 'blocks.0.attn.q'."""
    parts = [p for p in node_name.split("/") if p]
    return ".".join(parts[:-1]) if node_name.startswith("/") else ""


_NAME_SCOPES = "pkg.torch.onnx.name_scopes"  # the dynamo exporter's module path of a node


def node_scope(node) -> str:
    """The PyTorch module a node was exported from: the dynamo exporter's metadata
    (``['', 'blocks.0', 'blocks.0.attn', 'blocks.0.attn.q', 'linear_6']`` -> 'blocks.0.attn.q'),
    else the TorchScript exporter's node name (``scope_of``)."""
    for prop in node.metadata_props:
        if prop.key == _NAME_SCOPES:
            try:
                path = ast.literal_eval(prop.value)
            except (ValueError, SyntaxError):
                break
            if isinstance(path, list) and len(path) >= 2 and all(isinstance(p, str) for p in path):
                return path[-2]
            break
    return scope_of(node.name)


class _Importer:
    def __init__(self, model: onnx.ModelProto, batch: int | None, max_fold_bytes: int):
        self.m = model
        self.batch = batch
        self.max_fold_bytes = max_fold_bytes
        self.g = Graph(model.graph.name or "model")
        self.consts: dict[str, np.ndarray] = {}
        self.alias: dict[str, str] = {}
        self.opset = 0
        self.node_name = ""
        self.node_scope = ""
        self.node_names: set[str] = set()
        self.param_scope: dict[str, str] = {}          # parameter -> first module using it
        self.untied: dict[tuple[str, str], str] = {}   # (parameter, module) -> its own copy

    # --- helpers --------------------------------------------------------------------------
    def name(self, n: str) -> str:
        while n in self.alias:
            n = self.alias[n]
        return n

    def ref(self, n: str) -> str:
        """Tensor name for an IR input; a folded constant becomes a ``const`` tensor on first use."""
        n = self.name(n)
        if n in self.g.tensors:
            return n
        if n in self.consts:
            v = self.consts[n]
            self.g.add_tensor(Tensor(n, tuple(v.shape), "f32", "const",
                                     np.asarray(v, dtype=np.float32)))
            return n
        raise CompileError(f"node '{self.node_name}': input '{n}' is not defined")

    _ROLES = {"layernorm": ("", "weight", "bias"), "linear": ("", "weight", "bias"),
              "conv2d": ("", "weight", "bias")}

    def _untie(self, n: str, op: str, k: int) -> str:
        """A parameter the exporter shared between modules because its values were equal
        (the dynamo exporter merges every fresh LayerNorm's ones and zeros into one
        initializer, where the TorchScript exporter writes an Identity per module) gets a copy
        per module, named ``<module>.weight`` / ``.bias``: the modules train separately, as in
        PyTorch. A shared tensor whose values differ is a real tie and stays shared."""
        t = self.g.tensors[n]
        scope = self.node_scope
        if t.kind != "param" or not scope or self.param_scope.setdefault(n, scope) == scope:
            return n
        flat = t.data.reshape(-1)
        if flat.size == 0 or not np.all(flat == flat[0]):
            return n
        if (n, scope) not in self.untied:
            role = self._ROLES.get(op, ())
            base = f"{scope}.{role[k]}" if k < len(role) and role[k] else f"{scope}.{n}"
            copy = self.g.fresh(base)
            self.g.add_tensor(Tensor(copy, t.shape, "f32", "param", t.data.copy()))
            self.untied[(n, scope)] = copy
            log.info("parameter %s is shared by %s and %s with equal values: untied as %s",
                     n, self.param_scope[n], scope, copy)
        return self.untied[(n, scope)]

    def const(self, n: str, what: str) -> np.ndarray:
        n = self.name(n)
        if n not in self.consts:
            raise CompileError(f"node '{self.node_name}': {what} must be a constant "
                               f"(input '{n}' is computed at run time)")
        return self.consts[n]

    def emit(self, op: str, inputs: list[str], out: str, **attrs) -> Node:
        name = self.node_name
        while name in self.node_names:
            name = f"{self.node_name}_{op}_{len(self.node_names)}"
        self.node_names.add(name)
        node = Node(op, [self._untie(self.ref(i), op, k) for k, i in enumerate(inputs)], [out],
                    attrs, name=name, scope=self.node_scope)
        shp = shapes.infer(node, self.g)
        self.g.add_tensor(Tensor(out, shp[0], "f32", "act"))
        return self.g.add_node(node)

    def shape(self, n: str) -> tuple[int, ...]:
        n = self.name(n)
        if n in self.g.tensors:
            return self.g[n].shape
        return tuple(self.consts[n].shape)

    def is_const(self, n: str) -> bool:
        return n == "" or self.name(n) in self.consts

    # --- top level ------------------------------------------------------------------------
    def run(self) -> Graph:
        for imp in self.m.opset_import:
            if imp.domain in ("", "ai.onnx"):
                self.opset = imp.version
        if not OPSET_MIN <= self.opset <= OPSET_MAX:
            raise CompileError(f"ONNX default-domain opset {self.opset} is not supported "
                               f"(supported: {OPSET_MIN}..{OPSET_MAX})")
        gp = self.m.graph
        inits = {t.name for t in gp.initializer}
        for t in gp.initializer:
            v = numpy_helper.to_array(t)
            if v.dtype.kind == "f" and v.ndim > 0:
                self.g.add_tensor(Tensor(t.name, tuple(v.shape), "f32", "param",
                                         v.astype(np.float32).copy()))
            else:
                self.consts[t.name] = v
        for vi in gp.input:
            if vi.name in inits:
                continue
            self._add_input(vi)
        for node in topological(gp.node, inits | {vi.name for vi in gp.input}):
            self._node(node)
        self.g.outputs = [self.name(o.name) for o in gp.output]
        for o in self.g.outputs:
            if o not in self.g.tensors:
                raise CompileError(f"graph output '{o}' is a constant; nothing to train")
        fusion.run_all(self.g)
        self.g.prune()
        self._check_final()
        self._assign_scopes()
        return self.g

    def _add_input(self, vi) -> None:
        tt = vi.type.tensor_type
        dims = []
        for i, d in enumerate(tt.shape.dim):
            if d.HasField("dim_value") and d.dim_value > 0:
                dims.append(d.dim_value)
            elif i == 0:
                dims.append(self.batch or 1)
            else:
                raise CompileError(f"input '{vi.name}': dimension {i} is symbolic; only the "
                                   "batch dimension may be")
        if self.batch and dims and dims[0] != self.batch:
            if tt.shape.dim[0].HasField("dim_value"):
                raise CompileError(f"input '{vi.name}' has a fixed batch of {dims[0]}, batch "
                                   f"{self.batch} was asked: export with a dynamic batch axis")
        if tt.elem_type != onnx.TensorProto.FLOAT:
            raise CompileError(f"input '{vi.name}' is not float32")
        self.g.add_tensor(Tensor(vi.name, tuple(dims), "f32", "input"))
        self.g.inputs.append(vi.name)

    def _node(self, node) -> None:
        op, self.node_name = node.op_type, node.name or f"{node.op_type}_{len(self.g.nodes)}"
        self.node_scope = node_scope(node)
        a = attrs_of(node)
        if node.domain not in ("", "ai.onnx"):
            if node.domain == "com.microsoft" and op in MS_DOMAIN_OPS:
                return self._translate(op, node, a)
            raise UnsupportedOpError(f"{node.domain}.{op}", self.node_name,
                                     list(SUPPORTED_OPS) + [f"com.microsoft.{o}" for o in MS_DOMAIN_OPS])
        if op == "Slice" and self.opset < 10:   # starts, ends, axes were attributes then
            node = self._slice_inputs(node, a)
        ins = [i for i in node.input]
        if op in ("Identity", "Dropout"):
            src = self.name(ins[0])
            if src in self.g.tensors and self.g[src].kind == "param":
                t = self.g[src]
                self.g.add_tensor(Tensor(node.output[0], t.shape, "f32", "param", t.data.copy()))
            elif src in self.consts:
                self.consts[node.output[0]] = self.consts[src]
            else:
                self.alias[node.output[0]] = src
            return
        if op in ("Shape", "Size"):
            self.consts[node.output[0]] = fold(op, [], a, self.opset, [self.shape(ins[0])])
            return
        if op in FOLDABLE and all(self.is_const(i) for i in ins):
            vals = [self.consts[self.name(i)] if i else None for i in ins]
            self.consts[node.output[0]] = fold(op, vals, a, self.opset,
                                               max_bytes=self.max_fold_bytes, node=self.node_name)
            return
        if op not in SUPPORTED_OPS:
            raise UnsupportedOpError(op, self.node_name, SUPPORTED_OPS)
        self._translate(op, node, a)

    # --- translation of the runtime ops ---------------------------------------------------
    def _translate(self, op: str, node, a: dict) -> None:
        ins, out = list(node.input), node.output[0]
        nn = self.node_name
        if op == "Conv":
            if a.get("group", 1) != 1 or any(d != 1 for d in a.get("dilations", [1, 1])):
                raise UnsupportedOpError(op, nn, SUPPORTED_OPS, "only group=1, dilation 1")
            if a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID") or len(self.shape(ins[0])) != 4:
                raise UnsupportedOpError(op, nn, SUPPORTED_OPS, "only 2-D convolution with explicit pads")
            self.emit("conv2d", [i for i in ins if i], out, strides=list(a.get("strides", [1, 1])),
                      pads=list(a.get("pads", [0, 0, 0, 0])))
        elif op == "MaxPool":
            if a.get("ceil_mode", 0) or any(d != 1 for d in a.get("dilations", [1, 1])) \
                    or a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID") \
                    or (len(node.output) > 1 and node.output[1]):
                raise UnsupportedOpError(op, nn, SUPPORTED_OPS,
                                         "only ceil_mode=0, dilation 1, explicit pads, no Indices")
            k = list(a["kernel_shape"])
            self.emit("maxpool2d", ins[:1], out, kernel=k, strides=list(a.get("strides", k)),
                      pads=list(a.get("pads", [0, 0, 0, 0])))
        elif op == "Relu":
            self.emit("relu", ins, out)
        elif op == "Gelu":
            form = a.get("approximate", "none")
            if form not in ("none", "tanh"):
                raise UnsupportedOpError(op, nn, SUPPORTED_OPS, "approximate must be none or tanh")
            self.emit("gelu", ins[:1], out, **({"approximate": "tanh"} if form == "tanh" else {}))
        elif op == "Erf":
            self.emit("erf", ins, out)
        elif op == "Gemm":
            self._gemm(ins, out, a)
        elif op == "MatMul":
            self._matmul(ins, out)
        elif op in ("Add", "Sub", "Mul", "Div"):
            self.emit(op.lower(), ins, out)
        elif op == "Pow":
            e = self.const(ins[1], "the exponent of Pow")
            if e.size != 1:
                raise UnsupportedOpError(op, nn, SUPPORTED_OPS, "only a scalar exponent")
            self.emit("pow", ins[:1], out, exponent=float(e.reshape(-1)[0]))
        elif op == "Sqrt":
            self.emit("sqrt", ins, out)
        elif op == "ReduceMean":
            rank = len(self.shape(ins[0]))
            axes = _ints(a.get("axes", [])) if self.opset < 18 or len(ins) < 2 else \
                [int(x) for x in self.const(ins[1], "ReduceMean axes").reshape(-1)]
            axes = sorted(x % rank for x in axes) if axes else list(range(rank))
            self.emit("reduce_mean", ins[:1], out, axes=axes, keepdims=int(a.get("keepdims", 1)))
        elif op == "Softmax":
            rank = len(self.shape(ins[0]))
            axis = a.get("axis", -1 if self.opset >= 13 else 1) % rank
            if axis != rank - 1:
                raise UnsupportedOpError(op, nn, SUPPORTED_OPS, "only over the last axis")
            self.emit("softmax", ins, out, axis=-1)
        elif op == "Transpose":
            rank = len(self.shape(ins[0]))
            self.emit("transpose", ins, out, perm=list(a.get("perm", range(rank - 1, -1, -1))))
        elif op in ("Reshape", "Flatten", "Squeeze", "Unsqueeze"):
            self._reshape(op, ins, out, a)
        elif op == "LayerNormalization":
            rank = len(self.shape(ins[0]))
            if a.get("axis", -1) % rank != rank - 1:
                raise UnsupportedOpError(op, nn, SUPPORTED_OPS, "only over the last axis")
            if len(ins) < 3 or not ins[2]:
                d = self.shape(ins[0])[-1]
                self.consts[out + "_zero_bias"] = np.zeros(d, np.float32)
                ins = ins[:2] + [out + "_zero_bias"]
            self.emit("layernorm", ins[:3], out, eps=float(a.get("epsilon", 1e-5)), axis=-1)
        elif op == "Concat":
            rank = len(self.shape(ins[0]))
            self.emit("concat", ins, out, axis=a["axis"] % rank)
        elif op == "Slice":
            self._slice(ins, out)
        elif op == "Gather":
            self._gather(ins, out, a)
        else:
            raise UnsupportedOpError(op, nn, SUPPORTED_OPS)

    def _gemm(self, ins, out, a) -> None:
        nn = self.node_name
        if a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
            raise UnsupportedOpError("Gemm", nn, SUPPORTED_OPS, "only alpha=beta=1, transA=0")
        w = self.name(ins[1])
        if w not in self.g.tensors or self.g[w].kind != "param":
            raise UnsupportedOpError("Gemm", nn, SUPPORTED_OPS, "B must be an initializer")
        bias = None
        if len(ins) > 2 and ins[2]:
            bias = self.ref(ins[2])
            n = self.g[w].shape[0 if a.get("transB", 0) else 1]
            if self.g[bias].size != n:
                raise UnsupportedOpError("Gemm", nn, SUPPORTED_OPS, "only a per-column bias C")
            if self.g[bias].shape != (n,):
                self.g[bias].shape = (n,)
                self.g[bias].data = self.g[bias].data.reshape(n)
        self.emit("linear", [ins[0], w] + ([bias] if bias else []), out,
                  trans_w=int(a.get("transB", 0)), bias=bool(bias))

    def _matmul(self, ins, out) -> None:
        b = self.name(ins[1])
        prod = self.g.producers().get(b)
        if b in self.g.tensors and self.g[b].kind == "param" and len(self.g[b].shape) == 2:
            self.emit("linear", [ins[0], b], out, trans_w=0, bias=False)
        elif prod is not None and prod.op == "transpose" and prod.attrs["perm"] == [1, 0] \
                and self.g[prod.inputs[0]].kind == "param":
            self.emit("linear", [ins[0], prod.inputs[0]], out, trans_w=1, bias=False)
        elif b in self.consts:
            raise UnsupportedOpError("MatMul", self.node_name, SUPPORTED_OPS,
                                     "constant right operand (not an initializer)")
        else:
            sa, sb = self.shape(ins[0]), self.shape(ins[1])
            if len(sa) != len(sb) or len(sa) < 2:
                raise UnsupportedOpError("MatMul", self.node_name, SUPPORTED_OPS,
                                         f"operands {list(sa)} x {list(sb)}: equal ranks >= 2 only")
            self.emit("matmul", ins, out, trans_b=0)

    def _reshape(self, op, ins, out, a) -> None:
        src = self.shape(ins[0])
        if op == "Reshape":
            shp = self.const(ins[1], "the target shape of Reshape")
            new = fold("Reshape", [np.zeros(src, np.int8), shp], a, self.opset).shape
        elif op == "Flatten":
            ax = a.get("axis", 1) % (len(src) + 1) if src else 0
            new = (int(np.prod(src[:ax])), int(np.prod(src[ax:])))
        else:
            axes = _ints(a.get("axes", [])) if self.opset < 13 or len(ins) < 2 else \
                [int(x) for x in self.const(ins[1], f"{op} axes").reshape(-1)]
            dummy = np.zeros(src, np.int8)
            new = (fold("Squeeze", [dummy, None], {"axes": axes}, 11) if op == "Squeeze"
                   else fold("Unsqueeze", [dummy, None], {"axes": axes}, 11)).shape
        self.emit("reshape", ins[:1], out, shape=[int(d) for d in new])

    def _slice(self, ins, out) -> None:
        src = self.shape(ins[0])
        starts = self.const(ins[1], "Slice starts").reshape(-1)
        ends = self.const(ins[2], "Slice ends").reshape(-1)
        axes = self.const(ins[3], "Slice axes").reshape(-1) if len(ins) > 3 and ins[3] \
            else np.arange(len(starts))
        steps = self.const(ins[4], "Slice steps").reshape(-1) if len(ins) > 4 and ins[4] \
            else np.ones(len(starts), np.int64)
        if np.any(steps != 1):
            raise UnsupportedOpError("Slice", self.node_name, SUPPORTED_OPS, "only step 1")
        ax_n, st_n, en_n = [], [], []
        for s, e, ax in zip(starts, ends, axes):
            ax = int(ax) % len(src)
            s, e, _ = slice(int(s), int(e)).indices(src[ax])
            ax_n.append(ax), st_n.append(s), en_n.append(max(s, e))
        self.emit("slice", ins[:1], out, axes=ax_n, starts=st_n, ends=en_n)

    def _slice_inputs(self, node, a: dict):
        """An opset 1-9 Slice (attributes) as the opset 10+ form (constant inputs)."""
        extra = []
        for key in ("starts", "ends", "axes"):
            if key in a:
                name = f"{node.output[0]}__{key}"
                self.consts[name] = np.asarray(_ints(a[key]), np.int64)
                extra.append(name)
        return onnx.helper.make_node("Slice", [node.input[0]] + extra, list(node.output),
                                     name=node.name)

    def _gather(self, ins, out, a) -> None:
        idx = self.const(ins[1], "the index of Gather (on an activation)")
        src = self.shape(ins[0])
        ax = a.get("axis", 0) % len(src)
        if idx.size != 1:
            raise UnsupportedOpError("Gather", self.node_name, SUPPORTED_OPS,
                                     "only a single constant index on an activation")
        i = int(idx.reshape(-1)[0]) % src[ax]
        tmp = self.g.fresh(out + "_slice")
        self.emit("slice", ins[:1], tmp, axes=[ax], starts=[i], ends=[i + 1])
        new = list(src)
        if idx.ndim == 0:
            del new[ax]
        self.node_name = self.node_name + "_reshape"
        self.emit("reshape", [tmp], out, shape=new)

    # --- final checks ---------------------------------------------------------------------
    def _check_final(self) -> None:
        for n in self.g.nodes:
            if n.op not in shapes.FORWARD_OPS:
                onnx_op = {"erf": "Erf"}.get(n.op, n.op)
                raise UnsupportedOpError(onnx_op, n.name, SUPPORTED_OPS,
                                         "only as part of the erf-GELU pattern"
                                         if n.op == "erf" else "")

    def _assign_scopes(self) -> None:
        for n in self.g.nodes:
            for i in n.inputs:
                t = self.g[i]
                if t.kind == "param" and not t.scope:
                    t.scope = n.scope or t.name.rsplit(".", 1)[0]


def load_model(path: str) -> onnx.ModelProto:
    """The ONNX file at ``path``; anything that is not one (truncated, random bytes, a folder,
    an empty file) is a CompileError naming the file and its size."""
    try:
        size = os.path.getsize(path)
        proto = onnx.load(path, load_external_data=False)
    except IsADirectoryError:
        raise CompileError(f"model {path} is a directory, not an ONNX file") from None
    except OSError as e:
        raise CompileError(f"model {path}: cannot read it ({e.strerror or e})") from None
    except Exception as e:  # noqa: BLE001 - protobuf's DecodeError and friends
        raise CompileError(f"model {path} ({size} bytes) is not a valid ONNX file (truncated or "
                           f"corrupt: {type(e).__name__})") from None
    if not proto.graph.node and not proto.graph.input:
        raise CompileError(f"model {path} ({size} bytes) is not a valid ONNX file (no graph)")
    _load_external_data(proto, path)
    return proto


def _load_external_data(proto: onnx.ModelProto, path: str) -> None:
    """Read the tensors a model keeps in files beside it (``torch.onnx.export`` does for models
    over 2 GB, or when asked); a missing or short file is a CompileError naming it."""
    from onnx.external_data_helper import ExternalDataInfo, load_external_data_for_model

    base = os.path.dirname(os.path.abspath(path))
    ext = [t for t in proto.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    for t in ext:
        info = ExternalDataInfo(t)
        where = os.path.join(base, info.location)
        if not os.path.isfile(where):
            raise CompileError(f"model {path}: initializer '{t.name}' keeps its data in the "
                               f"external file '{info.location}', which is not beside the model "
                               f"({where} is missing)")
        have = os.path.getsize(where)
        if info.length and info.offset + info.length > have:
            raise CompileError(f"model {path}: initializer '{t.name}' needs bytes "
                               f"{info.offset}..{info.offset + info.length} of '{info.location}', "
                               f"which has {have} bytes (truncated)")
    if ext:
        try:
            load_external_data_for_model(proto, base)
        except Exception as e:  # noqa: BLE001 - onnx's own checks on the locations
            raise CompileError(f"model {path}: cannot read its external data "
                               f"({type(e).__name__}: {e})") from None


def import_onnx(model: str | onnx.ModelProto, batch: int | None = None,
                max_fold_bytes: int = MAX_FOLD_BYTES) -> Graph:
    """Import an ONNX model (path or proto) into the IR with a static ``batch`` (default: 1).
    No folded constant may exceed ``max_fold_bytes`` (the target's memory, see compile_model)."""
    proto = load_model(model) if isinstance(model, str) else model
    g = _Importer(proto, batch, max_fold_bytes).run()
    g.meta["batch"] = g[g.inputs[0]].shape[0] if g.inputs and g[g.inputs[0]].shape else 1
    log.info("imported %s: %d nodes, %d parameters", g.name, len(g.nodes),
             sum(t.size for t in g.params()))
    return g
