"""The model's structure as the training strategies need it, read from the graph rather than
from names: its blocks (the repeated subgraphs between the stem and the head) and the role of
each projection in a block's attention (q, k, v, a packed qkv, o; the rest are mlp).

Blocks (``find_blocks``), in this order:
1. named by the user (``of=PREFIX``): the module list ``PREFIX.0``, ``PREFIX.1``, ... (by the
   modules the nodes were exported from);
2. the longest run of two or more consecutive copies of one subgraph (the same ops with the
   same parameter and output shapes, in the same order) holding the most parameters; between
   rotations of the same run, the one whose copies each sit in a module of their own (if the
   export kept module paths), else the earliest;
3. a model without such a run (one block, or blocks of different widths): the module list
   ``<prefix>.<i>`` whose members repeat one structure, else the one holding the most
   parameters (names, as the exporter kept them).

Roles (``projection_roles``): a softmax's input is traced back (through views, transposes,
slices and scalings) to the matmul of the scores, whose operands come from the q and k
projections; the matmul reading the softmax's output takes v from its other operand; the
projection that reads that matmul's output (through views) is o. One projection feeding q, k
and v is ``qkv``.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from .ir import Graph, Node, StrategyError

# ops a role trace walks through: views, layout changes, cuts and scalings
PASS_THROUGH = ("reshape", "transpose", "slice", "mul", "div", "concat")
ATTENTION_ROLES = ("q", "k", "v", "o", "qkv")


@dataclass
class Block:
    name: str
    nodes: list[int] = field(default_factory=list)     # indices into g.nodes (forward)
    params: list[str] = field(default_factory=list)


def _params(g: Graph, nodes) -> list[str]:
    return list(dict.fromkeys(i for k in nodes for i in g.nodes[k].inputs if g[i].kind == "param"))


def _common_scope(scopes: list[str]) -> str:
    parts = [s.split(".") for s in scopes if s]
    if not parts:
        return ""
    out = []
    for comp in zip(*parts):
        if len(set(comp)) != 1:
            break
        out.append(comp[0])
    return ".".join(out)


def _blocks_named(g: Graph, prefix: str) -> list[Block]:
    pat = re.compile(rf"^{re.escape(prefix)}\.(\d+)(\.|$)")
    members: dict[int, list[int]] = {}
    for k, n in enumerate(g.nodes):
        m = pat.match(n.scope) if n.phase == "fwd" else None
        if m:
            members.setdefault(int(m.group(1)), []).append(k)
    return [Block(f"{prefix}.{i}", ks, _params(g, ks)) for i, ks in sorted(members.items())]


def _signature(g: Graph, n: Node) -> tuple:
    return (n.op, tuple(tuple(g[i].shape) for i in n.inputs if g[i].kind == "param"),
            tuple(tuple(g[o].shape) for o in n.outputs))


def _repeated_run(g: Graph) -> list[Block]:
    """Rule 2: the longest run of consecutive copies of one parameterized subgraph."""
    fwd = [k for k, n in enumerate(g.nodes) if n.phase == "fwd" and not n.is_view]
    ids: dict[tuple, int] = {}
    sig = [ids.setdefault(_signature(g, g.nodes[k]), len(ids)) for k in fwd]
    weight = [sum(g[i].size for i in g.nodes[k].inputs if g[i].kind == "param") for k in fwd]
    best, n = None, len(fwd)
    for p in range(1, n // 2 + 1):
        for s in range(0, n - 2 * p + 1):
            unit = sig[s:s + p]
            if not any(weight[s:s + p]):
                continue
            r = 1
            while s + (r + 1) * p <= n and sig[s + r * p:s + (r + 1) * p] == unit:
                r += 1
            if r < 2:
                continue
            blocks = [fwd[s + j * p:s + (j + 1) * p] for j in range(r)]
            names = [_common_scope([g.nodes[k].scope for k in b]) for b in blocks]
            own = len(set(names)) == r and all(names)
            key = (sum(weight[s:s + r * p]), own, -s)
            if best is None or key > best[0]:
                best = (key, blocks, names if own else [f"block{j}" for j in range(r)])
    if best is None:
        return []
    _, blocks, names = best
    # a block owns the views between its nodes too (their scopes do not matter)
    return [Block(nm, list(range(b[0], b[-1] + 1)), _params(g, b)) for nm, b in zip(names, blocks)]


_LIST_ITEM = re.compile(r"^(.*?)\.(\d+)(\.|$)")


def _blocks_by_names(g: Graph) -> list[Block]:
    """Rule 3: the module list whose members repeat one structure (the same parameters by path
    inside the member and shape), else the one holding the most parameters."""
    size: Counter = Counter()
    parts: dict[str, dict[int, list]] = {}
    for p in g.params():
        m = _LIST_ITEM.match(p.scope)
        if m:
            prefix, i = m.group(1), int(m.group(2))
            size[prefix] += p.size
            inside = p.scope[len(f"{prefix}.{i}"):]
            parts.setdefault(prefix, {}).setdefault(i, []).append((inside, p.shape))
    if not size:
        return []
    repeated = [pre for pre, members in parts.items() if len(members) >= 2
                and len({tuple(sorted(v)) for v in members.values()}) == 1]
    return _blocks_named(g, max(repeated or size, key=lambda pre: size[pre]))


def find_blocks(g: Graph, prefix: str = "") -> list[Block]:
    """The model's blocks in order (see the module docstring); [] if it has none."""
    if prefix:
        blocks = _blocks_named(g, prefix)
        if not blocks:
            lists = sorted({m.group(1) for n in g.nodes if (m := _LIST_ITEM.match(n.scope))})
            raise StrategyError(f"no blocks '{prefix}.<i>' in the model; module lists: "
                                f"{', '.join(lists) or '(none)'}")
        return blocks
    return _repeated_run(g) or _blocks_by_names(g)


# --- roles ------------------------------------------------------------------------------------
def _trace(g: Graph, t: str, producers: dict, stop: str = "linear") -> Node | None:
    """The ``stop`` node ``t`` comes from through pass-through ops (first operand of each)."""
    seen = 0
    while seen < 64:
        n = producers.get(t)
        if n is None:
            return None
        if n.op == stop:
            return n
        acts = [i for i in n.inputs if g[i].kind not in ("param", "const")]
        # an add of a constant or parameter (a mask, a bias) passes too
        if not acts or (n.op not in PASS_THROUGH and not (n.op == "add" and len(acts) == 1)):
            return None
        t = acts[0]
        seen += 1
    return None


def projection_roles(g: Graph, nodes) -> dict[int, str]:
    """Role of each forward linear node among ``nodes`` (indices into g.nodes, the keys of the
    answer): q, k, v, qkv, o or mlp."""
    producers = g.producers()
    consumers = g.consumers()
    inside = {g.nodes[k].name for k in nodes}
    roles: dict[str, set] = {}

    def mark(n: Node | None, role: str) -> None:
        if n is not None and n.op == "linear" and n.name in inside:
            roles.setdefault(n.name, set()).add(role)

    for k in nodes:
        sm = g.nodes[k]
        if sm.op != "softmax" or sm.phase != "fwd":
            continue
        scores = _trace(g, sm.inputs[0], producers, "matmul")
        if scores is not None:
            mark(_trace(g, scores.inputs[0], producers), "q")
            mark(_trace(g, scores.inputs[1], producers), "k")
        todo, seen = [sm.outputs[0]], set()
        while todo:
            t = todo.pop()
            for c in consumers.get(t, []):
                if c.name in seen:
                    continue
                seen.add(c.name)
                if c.op in PASS_THROUGH:
                    todo.extend(c.outputs)
                elif c.op == "matmul":
                    for other in (i for i in c.inputs if i != t):
                        mark(_trace(g, other, producers), "v")
                    for o in _consumers_through(g, c.outputs[0], consumers):
                        mark(o, "o")
    out = {}
    for k in nodes:
        n = g.nodes[k]
        if n.op == "linear" and n.phase == "fwd":
            r = roles.get(n.name, set())
            out[k] = ("qkv" if len(r & {"q", "k", "v"}) > 1 else
                           next(iter(r)) if len(r) == 1 else "mlp")
    return out


def _consumers_through(g: Graph, t: str, consumers: dict) -> list[Node]:
    """The non-pass-through nodes reading ``t`` through views, transposes and cuts."""
    out, todo, seen = [], [t], set()
    while todo:
        for c in consumers.get(todo.pop(), []):
            if c.name in seen:
                continue
            seen.add(c.name)
            if c.op in ("reshape", "transpose", "concat"):
                todo.extend(c.outputs)
            else:
                out.append(c)
    return out
