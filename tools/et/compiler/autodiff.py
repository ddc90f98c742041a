"""The backward walk: for each forward IR node, in reverse order, its op's gradient rule (the
``grad`` of its registry entry, ops/) emits the nodes that produce its inputs' gradients.

``Differ`` asks each rule only for the gradients some trainable parameter needs (``needs``
holds the tensors that depend on one) and gives the rules their plumbing (new gradient tensors,
summing contributions, reducing broadcasts). Every node a rule emits is one kernel call:
- true backward calls carry a variant: ``igrad`` (gradient of an input activation) or
  ``wgrad`` (gradients of weight and bias), e.g. the linear op's igrad call;
- data-movement or arithmetic steps that are ordinary forward ops (transpose back, summing two
  gradient contributions, reducing a broadcast, scaling) are the ``fwd`` call of transpose,
  add, reduce_sum, mul;
- a gradient equal to another (a residual add, a reshape) costs nothing: it is an alias or a view.
Backward nodes record the forward tensors they relate to in ``attrs`` (x, w, y, ...) so FLOP
counts, the reference and the code generator see the full geometry.
"""
from __future__ import annotations

import numpy as np

from .ir import CompileError, Graph, Node, Tensor
from .ops import op


class Differ:
    """Emits the backward graph of ``g``'s forward nodes into ``g`` (appending to g.nodes)."""

    def __init__(self, g: Graph, needs: set[str]):
        self.g = g
        self.needs = needs
        self.grad: dict[str, str] = {}

    # --- plumbing -------------------------------------------------------------------------
    def new_grad(self, of: str, hint: str = "") -> str:
        t = self.g[of]
        name = self.g.fresh(f"d[{of}]{hint}")
        kind = "grad"
        self.g.add_tensor(Tensor(name, t.shape, "f32", kind, grad_of=of, scope=t.scope))
        return name

    def emit(self, op: str, inputs: list[str], outputs: list[str], fwd: Node,
             variant: str = "", tensors: dict | None = None, **attrs) -> Node:
        """A backward call of ``fwd``'s op: its attributes plus ``attrs``; ``tensors``: the
        forward tensors it relates to by role (``Node.fwd``: x, w, y, ...)."""
        a = dict(fwd.attrs)
        a.update(attrs)
        name = f"{fwd.name}/bwd{('_' + variant) if variant else ''}" + \
            ("" if "operand" not in attrs else str(attrs["operand"]))
        return self.g.add_node(Node(op, inputs, outputs, a, name=name, phase="bwd",
                                    variant=variant, scope=fwd.scope, fwd=dict(tensors or {})))

    def contribute(self, of: str, g_name: str, fwd: Node) -> None:
        """Add a gradient contribution to tensor ``of`` (an add node if it already has one)."""
        if of not in self.grad:
            self.grad[of] = g_name
            return
        out = self.new_grad(of, "_acc")
        self.g.add_node(Node("add", [self.grad[of], g_name], [out], {}, phase="bwd",
                             name=self.g.fresh(f"{fwd.name}/bwd_accumulate"), scope=fwd.scope))
        self.grad[of] = out

    def reduce_to(self, src: str, of: str, fwd: Node) -> str:
        """``src`` summed over the dimensions ``of`` was broadcast along (or ``src`` itself)."""
        ys, xs = self.g[src].shape, self.g[of].shape
        if tuple(ys) == tuple(xs):
            return src
        out = self.new_grad(of, "_red")
        self.g.add_node(Node("reduce_sum", [src], [out], {"shape": list(xs)}, phase="bwd",
                             name=self.g.fresh(f"{fwd.name}/bwd_reduce"), scope=fwd.scope))
        return out

    def want(self, name: str) -> bool:
        return name in self.needs and self.g[name].kind in ("param", "act", "input") \
            and (self.g[name].kind != "param" or self.g[name].trainable)

    def new_temp(self, of: str, like: str, suffix: str) -> str:
        """A gradient-kind temporary shaped like ``like`` (a factor of ``of``'s gradient)."""
        tmp = self.g.fresh(f"d[{of}]{suffix}")
        self.g.add_tensor(Tensor(tmp, self.g[like].shape, "f32", "grad", grad_of=of))
        return tmp

    def scaled(self, n: Node, dy: str, other: str, k: int, kind: str) -> str:
        """dy (kind) other, e.g. dy * b for the gradient of a in a * b."""
        tmp = self.new_temp(n.inputs[k], dy, f"_{kind}")
        self.g.add_node(Node(kind, [dy, other], [tmp], {}, phase="bwd",
                             name=f"{n.name}/bwd_{kind}{k}", scope=n.scope))
        return tmp

    def neg_const(self) -> str:
        name = "const_minus_one"
        if name not in self.g.tensors:
            self.g.add_tensor(Tensor(name, (), "f32", "const", np.asarray(-1.0, np.float32)))
        return name

    # --- the walk -------------------------------------------------------------------------
    def run(self, fwd_nodes: list[Node], seed: dict[str, str]) -> dict[str, str]:
        self.grad.update(seed)
        for n in reversed(fwd_nodes):
            dys = [self.grad.get(o) for o in n.outputs]
            if dys[0] is None or not any(self.want(i) for i in n.inputs):
                continue
            rule = op(n.op).grad
            if rule is None:
                raise CompileError(f"no backward rule for op '{n.op}' (node '{n.name}')")
            rule(self, n, dys[0])
        return self.grad
