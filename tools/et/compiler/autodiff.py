"""Backward rules: for each forward IR op, the backward nodes that produce its inputs' gradients.

``Differ`` walks the forward nodes in reverse order and asks each rule only for the gradients
some trainable parameter needs (``needs`` holds the tensors that depend on one). Every node it
emits is one kernel call:
- true backward kernels carry a variant: ``igrad`` (gradient of an input activation) or
  ``wgrad`` (gradients of weight and bias), e.g. et_linear_bwd_igrad_f32;
- data-movement or arithmetic steps that are ordinary forward ops (transpose back, summing two
  gradient contributions, reducing a broadcast, scaling) keep their forward kernel
  (et_transpose_fwd_f32, et_add_fwd_f32, et_reduce_sum_fwd_f32, et_mul_fwd_f32);
- a gradient equal to another (a residual add, a reshape) costs nothing: it is an alias or a view.
Backward nodes record the forward tensors they relate to in ``attrs`` (x, w, y, ...) so FLOP
counts, the reference and the code generator see the full geometry.
"""
from __future__ import annotations

import numpy as np

from .ir import CompileError, Graph, Node, Tensor


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
             variant: str = "", **attrs) -> Node:
        a = dict(fwd.attrs)
        a.update(attrs)
        return self.g.add_node(Node(op, inputs, outputs, a, name=f"{fwd.name}/bwd{('_' + variant) if variant else ''}"
                                    + ("" if "operand" not in attrs else str(attrs["operand"])),
                                    phase="bwd", variant=variant, scope=fwd.scope))

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

    # --- the walk -------------------------------------------------------------------------
    def run(self, fwd_nodes: list[Node], seed: dict[str, str]) -> dict[str, str]:
        self.grad.update(seed)
        for n in reversed(fwd_nodes):
            dys = [self.grad.get(o) for o in n.outputs]
            if dys[0] is None or not any(self.want(i) for i in n.inputs):
                continue
            rule = getattr(self, "_" + n.op, None)
            if rule is None:
                raise CompileError(f"no backward rule for op '{n.op}' (node '{n.name}')")
            rule(n, dys[0])
        return self.grad

    # --- rules ----------------------------------------------------------------------------
    def _weighted(self, n: Node, dy: str) -> None:
        """conv2d and linear: igrad (dX) and wgrad (dW and db), each only if needed."""
        x, w = n.inputs[0], n.inputs[1]
        b = n.inputs[2] if len(n.inputs) > 2 else None
        geo = dict(x=x, w=w, y=n.outputs[0])
        if self.want(x):
            dx = self.new_grad(x)
            self.emit(n.op, [dy, w], [dx], n, "igrad", **geo)
            self.contribute(x, dx, n)
        need_w, need_b = self.want(w), bool(b) and self.want(b)
        if need_w or need_b:
            outs = ([self.new_grad(w)] if need_w else []) + ([self.new_grad(b)] if need_b else [])
            self.emit(n.op, [dy, x], outs, n, "wgrad", dw=need_w, db=need_b, **geo)
            if need_w:
                self.contribute(w, outs[0], n)
            if need_b:
                self.contribute(b, outs[-1], n)

    _conv2d = _weighted
    _linear = _weighted

    def _matmul(self, n: Node, dy: str) -> None:
        a, b = n.inputs
        geo = dict(a=a, b=b, y=n.outputs[0])
        for k, t in enumerate((a, b)):
            if self.want(t):
                dt = self.new_grad(t)
                self.emit("matmul", [dy, b if k == 0 else a], [dt], n, "igrad", operand=k, **geo)
                self.contribute(t, dt, n)

    def _unary(self, n: Node, dy: str, saved: str) -> None:
        x = n.inputs[0]
        dx = self.new_grad(x)
        self.emit(n.op, [dy, saved], [dx], n, "igrad", x=x, y=n.outputs[0])
        self.contribute(x, dx, n)

    def _relu(self, n, dy):
        self._unary(n, dy, n.outputs[0])

    def _softmax(self, n, dy):
        self._unary(n, dy, n.outputs[0])

    def _sqrt(self, n, dy):
        self._unary(n, dy, n.outputs[0])

    def _gelu(self, n, dy):
        self._unary(n, dy, n.inputs[0])

    def _pow(self, n, dy):
        self._unary(n, dy, n.inputs[0])

    def _maxpool2d(self, n, dy):
        self._unary(n, dy, n.inputs[0])

    def _layernorm(self, n: Node, dy: str) -> None:
        x, gamma, beta = n.inputs
        geo = dict(x=x, y=n.outputs[0])
        if self.want(x):
            dx = self.new_grad(x)
            self.emit("layernorm", [dy, x, gamma], [dx], n, "igrad", **geo)
            self.contribute(x, dx, n)
        need_g, need_b = self.want(gamma), self.want(beta)
        if need_g or need_b:
            outs = ([self.new_grad(gamma)] if need_g else []) + ([self.new_grad(beta)] if need_b else [])
            self.emit("layernorm", [dy, x], outs, n, "wgrad", dw=need_g, db=need_b, **geo)
            if need_g:
                self.contribute(gamma, outs[0], n)
            if need_b:
                self.contribute(beta, outs[-1], n)

    def _transpose(self, n: Node, dy: str) -> None:
        x = n.inputs[0]
        inv = list(np.argsort(n.attrs["perm"]))
        dx = self.new_grad(x)
        self.g.add_node(Node("transpose", [dy], [dx], {"perm": [int(p) for p in inv]},
                             phase="bwd", name=f"{n.name}/bwd", scope=n.scope))
        self.contribute(x, dx, n)

    def _reshape(self, n: Node, dy: str) -> None:
        x = n.inputs[0]
        dx = self.new_grad(x)
        self.g.add_node(Node("reshape", [dy], [dx], {"shape": list(self.g[x].shape)},
                             phase="bwd", name=f"{n.name}/bwd", scope=n.scope))
        self.contribute(x, dx, n)

    def _scaled(self, n: Node, dy: str, other: str, k: int, op: str) -> str:
        """dy (op) other, e.g. dy * b for the gradient of a in a * b."""
        tmp = self.g.fresh(f"d[{n.inputs[k]}]_{op}")
        self.g.add_tensor(Tensor(tmp, self.g[dy].shape, "f32", "grad", grad_of=n.inputs[k]))
        self.g.add_node(Node(op, [dy, other], [tmp], {}, phase="bwd",
                             name=f"{n.name}/bwd_{op}{k}", scope=n.scope))
        return tmp

    def _neg_const(self) -> str:
        name = "const_minus_one"
        if name not in self.g.tensors:
            self.g.add_tensor(Tensor(name, (), "f32", "const", np.asarray(-1.0, np.float32)))
        return name

    def _add(self, n: Node, dy: str) -> None:
        for k, t in enumerate(n.inputs):
            if self.want(t):
                self.contribute(t, self.reduce_to(dy, t, n), n)

    def _sub(self, n: Node, dy: str) -> None:
        a, b = n.inputs
        if self.want(a):
            self.contribute(a, self.reduce_to(dy, a, n), n)
        if self.want(b):
            neg = self._scaled(n, dy, self._neg_const(), 1, "mul")
            self.contribute(b, self.reduce_to(neg, b, n), n)

    def _mul(self, n: Node, dy: str) -> None:
        a, b = n.inputs
        for k, (t, other) in enumerate(((a, b), (b, a))):
            if self.want(t):
                self.contribute(t, self.reduce_to(self._scaled(n, dy, other, k, "mul"), t, n), n)

    def _div(self, n: Node, dy: str) -> None:
        a, b = n.inputs
        if self.want(a):
            self.contribute(a, self.reduce_to(self._scaled(n, dy, b, 0, "div"), a, n), n)
        if self.want(b):
            tmp = self.g.fresh(f"d[{b}]_div")
            self.g.add_tensor(Tensor(tmp, self.g[dy].shape, "f32", "grad", grad_of=b))
            self.emit("div", [dy, a, b], [tmp], n, "igrad", operand=1)
            self.contribute(b, self.reduce_to(tmp, b, n), n)

    def _reduce_mean(self, n: Node, dy: str) -> None:
        x = n.inputs[0]
        dx = self.new_grad(x)
        self.emit("reduce_mean", [dy], [dx], n, "igrad", x=x)
        self.contribute(x, dx, n)

    def _concat(self, n: Node, dy: str) -> None:
        ax, off = n.attrs["axis"], 0
        for t in n.inputs:
            w = self.g[t].shape[ax]
            if self.want(t):
                dt = self.new_grad(t)
                self.g.add_node(Node("slice", [dy], [dt], {"axes": [ax], "starts": [off],
                                                           "ends": [off + w]},
                                     phase="bwd", name=self.g.fresh(f"{n.name}/bwd_slice"),
                                     scope=n.scope))
                self.contribute(t, dt, n)
            off += w

    def _slice(self, n: Node, dy: str) -> None:
        x = n.inputs[0]
        dx = self.new_grad(x)
        self.emit("slice", [dy], [dx], n, "igrad", x=x)
        self.contribute(x, dx, n)
