"""ONNX -> IR import: opset checks, constant and shape folding, op translation, fusion, shapes.

Accepted: graphs as ``torch.onnx.export`` (both exporters) and ONNX Runtime's transformer
optimizer write them, default-domain opsets 7..21 (attribute or input forms of axes, starts and
ends, as each opset has them) plus ``com.microsoft`` Gelu. This module walks the graph and
resolves aliases and constants; each runtime op is translated by its entry in the op registry
(ops/), which checks the op's limits. One ONNX node becomes at most one IR node (Gather: two); patterns (erf-GELU, decomposed LayerNorm, MatMul + bias Add) are
fused afterwards by ``fusion``. Anything else raises UnsupportedOpError naming the op, the node
and the supported set; nothing is skipped silently.

Graphs need not be sorted (the nodes are put in dependency order first). A 0-d float
initializer (an exponent, an epsilon, an attention scale stored by ONNX Runtime's optimizer or
the dynamo exporter) is a constant, never a trained parameter; so is a one-element one the
dynamo exporter named itself (``val_78``: a constant it lifted out of the module, such as
nn.MultiheadAttention's scale), since module parameters keep their own names.

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
import re

import numpy as np
import onnx
from onnx import numpy_helper

from . import fusion, ops
from .folding import FOLDABLE, MAX_FOLD_BYTES, attrs_of, fold
from .ir import CompileError, Graph, Node, Tensor, UnsupportedOpError

log = logging.getLogger("et.compiler.onnx_import")

OPSET_MIN, OPSET_MAX = 7, 21
# the ops the registry imports (ops/), plus those resolved here: aliases and constant folding
SUPPORTED_OPS = tuple(sorted(set(ops.onnx_ops()) | {"Identity", "Dropout", "Constant", "Shape",
                                                   "Cast", "ConstantOfShape"}))
MS_DOMAIN_OPS = tuple(sorted(ops.MS_ONNX))
# names the dynamo exporter gives initializers it makes itself: folded copies of parameters
# (a transposed weight, which trains) and lifted constants; a one-element one is a constant
# (nn.MultiheadAttention's scale), as a module parameter keeps its own name
ANONYMOUS = re.compile(r"^(_?val_\d+|_tensor_constant\d+|c_lifted_tensor_\d+)$")


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


LOSS_OPS = ("SoftmaxCrossEntropyLoss", "NegativeLogLikelihoodLoss")
# optimizer ops of training graphs (ONNX preview training, ONNX Runtime, Deeploy's SGD):
# op type -> (position of the weight among the inputs, attribute holding the learning rate)
OPTIMIZER_OPS = {"SGD": (0, "lr"), "SGDOptimizer": (1, ""), "Momentum": (2, ""),
                 "Adagrad": (2, ""), "Adam": (2, ""), "AdamOptimizer": (1, ""),
                 "AdamWOptimizer": (2, "")}


def forward_of_training_graph(nodes) -> tuple | None:
    """A training graph (forward, loss, gradient ops and optimizer updates, as ONNX Runtime's
    training artifacts and Deeploy's published CCT training graphs are) as its forward pass:
    (the nodes the loss's logits need, [logits], {"trainable": the tensors its optimizer
    updates, "lr": its learning rate, "loss": the loss op}); None for a forward graph.
    EdgeTune builds the backward pass and the update itself (strategy ``exported`` trains
    what the graph trained)."""
    losses = [n for n in nodes if n.op_type in LOSS_OPS and n.domain in ("", "ai.onnx")]
    updates = [n for n in nodes if n.op_type in OPTIMIZER_OPS]
    if not losses or not (updates or any(n.op_type.endswith("Grad") for n in nodes)):
        return None
    if len(losses) > 1:
        raise CompileError(f"training graph with {len(losses)} loss nodes "
                           f"({', '.join(n.name for n in losses)}); expected one")
    logits = losses[0].input[0]
    producer = {o: n for n in nodes for o in n.output}
    keep, todo = set(), [logits]
    while todo:
        n = producer.get(todo.pop())
        if n is not None and id(n) not in keep:
            keep.add(id(n))
            todo.extend(n.input)
    trainable, lrs = [], set()
    for u in updates:
        at, lr_attr = OPTIMIZER_OPS[u.op_type]
        if at < len(u.input):
            trainable.append(u.input[at])
        for a in u.attribute:
            if a.name == lr_attr:
                # the shortest decimal of the float32 attribute (0.01, not 0.009999999776)
                lrs.add(float(str(np.float32(onnx.helper.get_attribute_value(a)))))
    meta = {"trainable": trainable, "lr": lrs.pop() if len(lrs) == 1 else None,
            "loss": losses[0].op_type}
    return [n for n in nodes if id(n) in keep], [logits], meta


def scope_of(node_name: str) -> str:
    """Module path from a TorchScript node name: '/blocks.0/attn/q/MatMul' -> 'blocks.0.attn.q'.
    A container's child is written with its parent's segment as prefix
    ('/blocks/blocks.0/attn/MatMul', '/conv/conv.0/Conv'): it replaces that segment."""
    if not node_name.startswith("/"):
        return ""
    segs: list[str] = []
    for part in [p for p in node_name.split("/") if p][:-1]:
        if segs and part.startswith(segs[-1] + "."):
            segs[-1] = part
        else:
            segs.append(part)
    return ".".join(segs)


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
    def __init__(self, model: onnx.ModelProto, batch: int | None, max_fold_bytes: int,
                 batchnorm: str = "export"):
        self.m = model
        self.batch = batch
        self.batchnorm = batchnorm
        self.max_fold_bytes = max_fold_bytes
        self.g = Graph(model.graph.name or "model")
        self.consts: dict[str, np.ndarray] = {}
        self.alias: dict[str, str] = {}
        self.opset = 0
        self.node_name = ""
        self.node_scope = ""
        self.node_names: set[str] = set()
        self.onnx_op = ""
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

    def _untie(self, n: str, op: str, k: int) -> str:
        """A parameter the exporter shared between modules because its values were equal
        (the dynamo exporter merges every fresh LayerNorm's ones and zeros into one
        initializer, where the TorchScript exporter writes an Identity per module) gets a copy
        per module, named ``<module>.weight`` / ``.bias`` (or, for another input, the first
        module's name of it moved to this module: ``layers.1.attn.in_proj_bias``, which
        nn.MultiheadAttention's fresh zero biases get): the modules train separately, as in
        PyTorch. A shared tensor whose values differ is a real tie and stays shared."""
        t = self.g.tensors[n]
        scope = self.node_scope
        if t.kind != "param" or not scope or self.param_scope.setdefault(n, scope) == scope:
            return n
        flat = t.data.reshape(-1)
        if flat.size == 0 or not np.all(flat == flat[0]):
            return n
        if (n, scope) not in self.untied:
            role = ops.op(op).roles
            first = self.param_scope[n]
            if k < len(role) and role[k]:
                base = f"{scope}.{role[k]}"
            elif n.startswith(first + "."):   # the first module's own name, in this module
                base = scope + n[len(first):]
            else:
                base = f"{scope}.{n}"
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
        shp = ops.infer(node, self.g)
        self.g.add_tensor(Tensor(out, shp[0], "f32", "act"))
        return self.g.add_node(node)

    def shape(self, n: str) -> tuple[int, ...]:
        n = self.name(n)
        if n in self.g.tensors:
            return self.g[n].shape
        return tuple(self.consts[n].shape)

    def unsupported(self, detail: str = ""):
        """Refuse the node being imported: UnsupportedOpError naming it, its op and ``detail``."""
        raise UnsupportedOpError(self.onnx_op, self.node_name, SUPPORTED_OPS, detail)

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
            if v.dtype.kind == "f" and v.ndim > 0 and not (v.size == 1 and ANONYMOUS.match(t.name)):
                self.g.add_tensor(Tensor(t.name, tuple(v.shape), "f32", "param",
                                         v.astype(np.float32).copy()))
            else:
                self.consts[t.name] = v
        nodes, outputs = list(gp.node), [o.name for o in gp.output]
        cut = forward_of_training_graph(nodes)
        if cut:
            nodes, outputs, self.g.meta["exported"] = cut
            log.info("a training graph: importing its forward pass to '%s' (it trains %d "
                     "tensors)", outputs[0], len(self.g.meta["exported"]["trainable"]))
        used = {i for n in nodes for i in n.input}
        for vi in gp.input:
            if vi.name in inits or (cut and vi.name not in used):
                continue
            self._add_input(vi)
        for node in topological(nodes, inits | {vi.name for vi in gp.input}):
            self._node(node)
        self.g.outputs = [self.name(o) for o in outputs]
        for o in self.g.outputs:
            if o not in self.g.tensors:
                raise CompileError(f"graph output '{o}' is a constant; nothing to train")
        fusion.run_all(self.g)
        self.g.prune()
        self._check_final()
        self._assign_scopes()
        self._module_names()
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
            if node.domain == "com.microsoft" and op in ops.MS_ONNX:
                self.onnx_op = f"com.microsoft.{op}"
                return ops.MS_ONNX[op].importer(self, op, node, a)
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
        self.onnx_op = op
        if op not in ops.IMPORTERS:
            self.unsupported()
        ops.IMPORTERS[op](self, op, node, a)

    # --- opset normalization ----------------------------------------------------------
    def _slice_inputs(self, node, a: dict):
        """An opset 1-9 Slice (attributes) as the opset 10+ form (constant inputs)."""
        extra = []
        for key in ("starts", "ends", "axes"):
            if key in a:
                name = f"{node.output[0]}__{key}"
                self.consts[name] = np.asarray(ops.base.ints(a[key]), np.int64)
                extra.append(name)
        return onnx.helper.make_node("Slice", [node.input[0]] + extra, list(node.output),
                                     name=node.name)

    # --- final checks ---------------------------------------------------------------------
    def _check_final(self) -> None:
        for n in self.g.nodes:
            d = ops.op(n.op)
            if d.fusion_only:
                raise UnsupportedOpError(d.onnx[0] if d.onnx else n.op, n.name, SUPPORTED_OPS,
                                         d.fusion_only)

    def _assign_scopes(self) -> None:
        for n in self.g.nodes:
            for i in n.inputs:
                t = self.g[i]
                if t.kind == "param" and not t.scope:
                    t.scope = n.scope or t.name.rsplit(".", 1)[0]

    def _module_names(self) -> None:
        """``g.meta["modules"]``: for each parameter the exporter named itself (TorchScript's
        'onnx::Conv_53' for a convolution it folded a BatchNorm into, the dynamo exporter's
        'val_12' for a weight it transposed), the PyTorch module and role it stands for, from
        the layer that uses it: 'stem.0.weight', or 'fc1.weight.T' for a transposed weight."""
        out = {}
        for n in self.g.nodes:
            roles = ops.op(n.op).roles
            for k, i in enumerate(n.inputs):
                if (i in out or self.g[i].kind != "param" or not n.scope or k >= len(roles)
                        or not roles[k] or not (i.startswith("onnx::") or ANONYMOUS.match(i))):
                    continue
                transposed = n.op == "linear" and roles[k] == "weight" and not n.attrs.get("trans_w")
                out[i] = f"{n.scope}.{roles[k]}" + (".T" if transposed else "")
        self.g.meta["modules"] = out


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
                max_fold_bytes: int = MAX_FOLD_BYTES, batchnorm: str = "export") -> Graph:
    """Import an ONNX model (path or proto) into the IR with a static ``batch`` (default: 1).
    No folded constant may exceed ``max_fold_bytes`` (the target's memory, see compile_model).
    ``batchnorm``: how BatchNormalization normalizes, "frozen" (running statistics), "batch"
    (batch statistics, the running ones updated in place: ``g.meta["buffers"]``) or "export"
    (as the node's training_mode says)."""
    from .ops.norm import BN_MODES
    if batchnorm not in BN_MODES:
        raise CompileError(f"batchnorm '{batchnorm}': expected {', '.join(BN_MODES)}")
    proto = load_model(model) if isinstance(model, str) else model
    g = _Importer(proto, batch, max_fold_bytes, batchnorm).run()
    g.meta["batch"] = g[g.inputs[0]].shape[0] if g.inputs and g[g.inputs[0]].shape else 1
    log.info("imported %s: %d nodes, %d parameters", g.name, len(g.nodes),
             sum(t.size for t in g.params()))
    return g
