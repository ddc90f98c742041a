"""The op registry: one ``OpDef`` per IR op (ops/base.py), one module per op family. Every stage
of the compiler asks it: the importer (which ONNX ops, with which limits), shape inference, FLOP
counts (also kbench's, through kernels/include/et_flop.h), the backward rules, the numpy
reference, the C emitter and its kernels, the memory planner (in-place calls).

Adding an op (the checklist; kernels/README.md has the C side):
1. its entry: an ``OpDef`` in the family's module (or a new module listed in ``_MODULES``) with
   the ONNX import rule (every limit checked there), ``infer``, the gradient rule, and per call
   kind a ``Call``: numpy reference, FLOP (constants in the module's ``FLOP`` table), emitter and
   the C functions it calls;
2. the C kernel in ``kernels/<family>/`` with its header in ``kernels/include/``, and its test
   beside it in ``apps/ktest/`` (plus a pytest in ``tests/kernels/``);
3. a test that trains a PyTorch model using it against torch (``tests/compiler/``);
4. ``python -m et.compiler.ops`` regenerates et_flop.h if the module's FLOP table grew.
"""
from __future__ import annotations

from ..ir import CompileError, Graph, Node
from . import activation, conv, elementwise, linear, loss, norm, optim, pool, shape, softmax
from . import base
from .base import Call, OpDef

_MODULES = (conv, pool, linear, activation, elementwise, norm, softmax, shape, loss, optim)

REGISTRY: dict[str, OpDef] = {}
IMPORTERS: dict = {}                 # ONNX op type (default domain) -> its import rule
MS_ONNX: dict[str, OpDef] = {}       # com.microsoft op type -> the op importing it
for _m in _MODULES:
    # an entry's own ONNX types, and those a module imports as a composition of registry ops
    _rules = [(o, d.importer) for d in _m.OPS for o in d.onnx]
    _rules += list(getattr(_m, "IMPORTS", {}).items())
    for _o, _f in _rules:
        assert _o not in IMPORTERS, _o
        IMPORTERS[_o] = _f
    for _d in _m.OPS:
        assert _d.name not in REGISTRY, _d.name
        REGISTRY[_d.name] = _d
        for _o in _d.ms_domain:
            MS_ONNX[_o] = _d


def op(name: str) -> OpDef:
    d = REGISTRY.get(name)
    if d is None:
        raise CompileError(f"internal: op '{name}' is not in the registry")
    return d


def call_of(node: Node) -> Call | None:
    """The registry's record of ``node``'s call (None for a view)."""
    d = op(node.op)
    if d.view:
        return None
    c = d.calls.get(node.key)
    if c is None:
        raise CompileError(f"internal: op '{node.op}' has no '{node.key}' call (node '{node.name}')")
    return c


def infer(node: Node, g: Graph) -> list:
    """Output shapes of a node from its input shapes and attributes."""
    return op(node.op).infer(node, g)


def flops(node: Node, g: Graph) -> int:
    """FLOP of one node (the convention is in ops/base.py)."""
    c = call_of(node)
    return int(c.flop(node, g)) if c else 0


def has_c(node: Node) -> bool:
    c = call_of(node)
    return c is None or c.emit is not None


def c_ops() -> list[str]:
    """'op/call' of every call the code generator can write, for messages."""
    return sorted(f"{d.name}/{k}" for d in REGISTRY.values() for k, c in d.calls.items() if c.emit)


def no_kernel_message(n: Node) -> str:
    """Why node ``n`` cannot become C: its op's reason, and what the code generator supports."""
    d = op(n.op)
    supported = f"the code generator supports: {', '.join(c_ops())}"
    if d.no_c:
        return (f"node '{n.name}' ({n.phase}): ONNX {'/'.join(d.onnx)} on computed tensors has no "
                f"C kernel (op '{n.op}', {n.key} call); it {d.no_c}; {supported}")
    return f"node '{n.name}' (op '{n.op}', {n.key} call, {n.phase}) has no C kernel; {supported}"


def check_kernels(g: Graph) -> None:
    """A CompileError naming the first node without a C kernel. Called right after the training
    graph is built, so ``plan`` and ``train`` refuse the same models with the same words,
    before any memory planning or build."""
    from ..kernelmap import CodegenError
    for n in g.nodes:
        if not has_c(n):
            raise CodegenError(no_kernel_message(n))


def onnx_ops() -> list[str]:
    """The ONNX op types the importer translates (default domain)."""
    return sorted(IMPORTERS)


def flop_table() -> dict[str, int]:
    """FLOP constants of every family (ET_FLOP_<key> in kernels/include/et_flop.h)."""
    out: dict[str, int] = {}
    for m in (base,) + _MODULES:
        for k, v in getattr(m, "FLOP", {}).items():
            if out.setdefault(k, v) != v:
                raise AssertionError(f"FLOP constant {k} defined twice with different values")
    return out
