"""The compiler's intermediate representation: a typed, static-shaped graph of kernel-level ops.

Every tensor has a static shape and a dtype; every node is one call of one C kernel (or a view,
such as a reshape, that costs no call). Forward, loss, backward and update nodes live in one
ordered node list: the order is the execution order of the generated code and of the numpy
reference, so ``Graph.nodes`` *is* the kernel call sequence.

Tensor kinds:
- ``input``: data fed per step (images, labels, regression targets);
- ``param``: an initializer of the model (trainable or frozen, see ``Tensor.trainable``);
- ``const``: a constant the compiler made or folded (never trained);
- ``act``: a forward activation; ``grad``: a gradient; ``state``: optimizer state (momentum);
- ``loss``: the scalar loss.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

KINDS = ("input", "param", "const", "act", "grad", "state", "loss")
PHASES = ("fwd", "loss", "bwd", "update")
DTYPE_BYTES = {"f32": 4, "i32": 4, "i64": 8}


class CompileError(Exception):
    """Base class of every error the compiler reports to the user."""


class UnsupportedOpError(CompileError):
    """An ONNX node the importer cannot translate (names the op, the node and the supported set)."""

    def __init__(self, op: str, node: str, supported: Iterable[str], detail: str = ""):
        self.op, self.node = op, node
        self.supported = sorted(set(supported))
        msg = f"unsupported ONNX op '{op}' in node '{node}'"
        if detail:
            msg += f" ({detail})"
        msg += "; supported ops: " + ", ".join(self.supported)
        super().__init__(msg)


class StrategyError(CompileError):
    """A training strategy that is malformed or names something the model does not have."""


class DoesNotFitError(CompileError):
    """The memory plan exceeds a level's capacity (message carries the numbers)."""


@dataclass
class Tensor:
    """A graph tensor: static shape, dtype, kind; ``data`` holds the value of params and consts."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "f32"
    kind: str = "act"
    data: np.ndarray | None = None
    trainable: bool = False
    scope: str = ""          # module path of the layer that owns it (e.g. "blocks.1.attn.q")
    grad_of: str = ""        # for gradients: the tensor this is the gradient of
    # a parameter the importer stores in another shape than the model's (a 1-D convolution's
    # weight [F, C, k] trains as [F, C, 1, k]): the model's shape, the one results are given in
    model_shape: tuple[int, ...] | None = None

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= int(d)
        return n

    @property
    def nbytes(self) -> int:
        return self.size * DTYPE_BYTES[self.dtype]

    @property
    def is_initializer(self) -> bool:
        return self.kind in ("param", "const")

    def __repr__(self) -> str:
        return f"Tensor({self.name}, {list(self.shape)}, {self.dtype}, {self.kind})"


@dataclass
class Node:
    """One kernel call: ``op`` (IR op name, a key of the op registry, ops/), ``phase`` and
    ``variant`` (igrad, wgrad, ...) select which of the op's calls it is (``key``); the registry
    holds its reference, FLOP count and C emitter. View ops (reshape) alias their input's
    buffer and cost no call.
    """

    op: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    phase: str = "fwd"
    variant: str = ""
    scope: str = ""
    # a backward call's forward tensors by role (x, w, y; a, b for matmul): its geometry
    fwd: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The op's call this node makes: its variant, else ``fwd`` (the op's own call, also
        for backward and update nodes that are ordinary forward ops: transpose back, add)."""
        return self.variant or "fwd"

    @property
    def is_view(self) -> bool:
        from .ops import op
        return op(self.op).view

    def __repr__(self) -> str:
        return f"Node({self.name}: {self.op}/{self.phase}{'/' + self.variant if self.variant else ''})"


class Graph:
    """Tensors by name, the ordered node list, the graph's inputs and outputs."""

    def __init__(self, name: str = "model"):
        self.name = name
        self.tensors: dict[str, Tensor] = {}
        self.nodes: list[Node] = []
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self.meta: dict[str, Any] = {}
        self._uid = 0

    def add_tensor(self, t: Tensor) -> Tensor:
        if t.name in self.tensors:
            raise CompileError(f"internal: tensor '{t.name}' defined twice")
        self.tensors[t.name] = t
        return t

    def clone(self, n: Node, suffix: str, rename: dict[str, str], first_dim: int | None = None,
              **fields) -> Node:
        """A copy of node ``n`` writing new tensors ``<output><suffix>`` (added to the graph and
        to ``rename``; ``first_dim`` replaces their leading dimension), reading its inputs and
        forward tensors through ``rename``, named ``<name><suffix>``; ``fields`` override the
        copy's (phase, attrs, ...). Not inserted into the node list."""
        outs = []
        for o in n.outputs:
            t = self.tensors[o]
            shape = t.shape if first_dim is None else (first_dim,) + tuple(t.shape[1:])
            rename[o] = self.add_tensor(Tensor(self.fresh(f"{o}{suffix}"), shape, t.dtype,
                                               t.kind, scope=t.scope)).name
            outs.append(rename[o])
        return Node(**dict(dict(op=n.op, inputs=[rename.get(i, i) for i in n.inputs],
                                outputs=outs, attrs=dict(n.attrs), name=f"{n.name}{suffix}",
                                phase=n.phase, variant=n.variant, scope=n.scope,
                                fwd={r: rename.get(t, t) for r, t in n.fwd.items()}), **fields))

    def fresh(self, base: str) -> str:
        """A tensor or node name not used yet, derived from ``base``."""
        name = base
        while name in self.tensors:
            self._uid += 1
            name = f"{base}_{self._uid}"
        return name

    def add_node(self, node: Node, index: int | None = None) -> Node:
        if not node.name:
            self._uid += 1
            node.name = f"{node.op}_{node.phase}_{self._uid}"
        if index is None:
            self.nodes.append(node)
        else:
            self.nodes.insert(index, node)
        return node

    def __getitem__(self, name: str) -> Tensor:
        return self.tensors[name]

    def params(self) -> list[Tensor]:
        return [t for t in self.tensors.values() if t.kind == "param"]

    def trainable(self) -> list[Tensor]:
        return [t for t in self.tensors.values() if t.kind == "param" and t.trainable]

    def producers(self) -> dict[str, Node]:
        return {o: n for n in self.nodes for o in n.outputs}

    def consumers(self) -> dict[str, list[Node]]:
        out: dict[str, list[Node]] = {}
        for n in self.nodes:
            for i in n.inputs:
                out.setdefault(i, []).append(n)
        return out

    def prune(self) -> None:
        """Drop nodes whose outputs nothing needs (an update, or a node writing state such as
        BatchNorm's running statistics, is always needed), then tensors no node or port
        references."""
        needed = set(self.outputs)
        keep: list[Node] = []
        for n in reversed(self.nodes):
            if any(o in needed or self.tensors[o].kind == "state" for o in n.outputs) \
                    or n.phase == "update":
                keep.append(n)
                needed.update(n.inputs)
        self.nodes = keep[::-1]
        used = set(self.inputs) | set(self.outputs)
        for n in self.nodes:
            used.update(n.inputs)
            used.update(n.outputs)
        self.tensors = {k: v for k, v in self.tensors.items() if k in used}

    def summary(self) -> str:
        """Readable listing: one line per node with its kernel and output shapes."""
        lines = []
        for i, n in enumerate(self.nodes):
            outs = ", ".join(f"{o}{list(self.tensors[o].shape)}" for o in n.outputs)
            call = "(view)" if n.is_view else f"{n.op}/{n.key}"
            lines.append(f"{i:4d} {n.phase:6s} {call:24s} {n.name}: {outs}")
        return "\n".join(lines)
