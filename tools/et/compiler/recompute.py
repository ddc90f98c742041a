"""Recomputation (activation checkpointing), a planner option (GenSpec ``recompute``,
``--recompute``): the activations a segment of the forward pass saves for the backward pass
are dropped after their last forward use and recomputed from the segment's input just before
the segment's backward pass, as ``torch.utils.checkpoint`` does per block.

Segments: ``blocks`` (each block of ``structure.find_blocks``), ``stem`` (the forward nodes
before the first block); ``auto`` recomputes only when the plan without it does not fit or
spills activations to L3, and then picks the choice that fits with the least L3 spill, then
the least extra FLOP. The recomputed nodes are ordinary forward calls (phase ``bwd``,
``attrs['recompute']``, named ``<node>/recompute``), so the reference and the C run the same
numerics: results are identical with and without recomputation. A node that writes state
(BatchNorm's running statistics) is never recomputed.
"""
from __future__ import annotations

from .ir import CompileError, Graph, Node
from .ops import flops

CHOICES = ("off", "auto", "blocks", "stem", "stem,blocks")


def check(value: str) -> str:
    if value not in CHOICES:
        raise CompileError(f"recompute '{value}': expected one of {', '.join(CHOICES)}")
    return value


def segments(g: Graph, which: str) -> list[list[int]]:
    """The forward node indices of each segment ``which`` names (see the module docstring):
    a block is every forward node from its first to its last (LoRA adapters included); the
    stem, one segment per micro-batch copy when it was split (batchsplit.py)."""
    parts = set(which.split(",")) if which not in ("off", "auto") else set()
    if not parts:
        return []
    blocks = g.meta.get("block_nodes", [])
    if not blocks:
        raise CompileError(f"recompute '{which}' needs a model with blocks (a subgraph repeated "
                           "two or more times, or a module list '<name>.<index>'); none found")
    pos = {id(n): k for k, n in enumerate(g.nodes)}
    spans = [(min(pos[id(n)] for n in b), max(pos[id(n)] for n in b)) for b in blocks]
    out = []
    if "stem" in parts:
        copies = g.meta.get("stem_copies")
        if copies:
            out += [sorted(pos[id(n)] for n in c) for c in copies]
        else:
            out.append([k for k, n in enumerate(g.nodes[:spans[0][0]]) if n.phase == "fwd"])
    if "blocks" in parts:
        out += [[k for k in range(a, b + 1) if g.nodes[k].phase == "fwd"] for a, b in spans]
    return [s for s in out if s]


def _reads(n: Node) -> set[str]:
    return set(n.inputs) | set(n.fwd.values())


def recompute(g: Graph, which: str) -> dict:
    """Rewrite the training graph ``g`` (before the updates are scheduled) to recompute the
    segments ``which`` names; returns {'segments', 'nodes', 'flop'}: the segments that saved
    something for the backward pass, the recomputed nodes and their FLOP."""
    info = {"choice": which, "segments": 0, "nodes": 0, "flop": 0}
    for seg in segments(g, which):
        nodes = [g.nodes[k] for k in seg]
        made = {o: n for n in nodes for o in n.outputs}
        bwd = [n for n in g.nodes if n.phase == "bwd" and not n.attrs.get("recompute")]
        wanted = {t for n in bwd for t in _reads(n) if t in made}
        if not wanted:
            continue
        need: set[int] = set()          # ids of the segment's nodes to recompute
        todo = list(wanted)
        while todo:
            n = made[todo.pop()]
            if id(n) in need:
                continue
            need.add(id(n))
            todo += [i for i in n.inputs if i in made]
        clones, rename = [], {}
        for n in nodes:
            if id(n) not in need:
                continue
            if any(g[o].kind == "state" for o in n.outputs):
                raise CompileError(f"recompute: node '{n.name}' updates state; not recomputed")
            clones.append(g.clone(n, "/recompute", rename, phase="bwd",
                                  attrs=dict(n.attrs, recompute=True)))
        first = min(k for k, n in enumerate(g.nodes) if n.phase == "bwd"
                    and not n.attrs.get("recompute") and _reads(n) & wanted)
        for n in g.nodes[first:]:
            if n.phase == "bwd" and not n.attrs.get("recompute"):
                n.inputs = [rename.get(i, i) for i in n.inputs]
                n.fwd = {r: rename.get(t, t) for r, t in n.fwd.items()}
        g.nodes[first:first] = clones
        info["segments"] += 1
        info["nodes"] += len(clones)
        info["flop"] += sum(flops(c, g) for c in clones)
    g.meta["recompute"] = info
    return info


AUTO_CHOICES = ("blocks", "stem", "stem,blocks")   # what ``auto`` tries, in this order


def choose(choice: str, build):
    """The (graph, plan) for recompute ``choice``, ``build(c) -> (graph, plan)`` making them for
    a choice ``c`` (the plan made with strict=False); ``auto`` as the module docstring says.
    ``graph.meta['recompute']`` also says what the choice saved against the plan without
    recomputation (``saved``: bytes of the L2 and the L3 arena) and what was asked."""
    check(choice)
    g0, p0 = build("off")
    best = (g0, p0)
    if choice == "auto" and not (p0.fits and not p0.l3_arena_peak):
        key = (not p0.fits, p0.l3_arena_peak, 0)
        for c in AUTO_CHOICES:
            try:
                g, p = build(c)
            except CompileError:    # no blocks
                continue
            k = (not p.fits, p.l3_arena_peak, g.meta["recompute"]["flop"])
            if k < key:
                best, key = (g, p), k
    elif choice not in ("off", "auto"):
        best = build(choice)
    g, plan = best
    g.meta["recompute"].update(asked=choice, saved={
        "l2_arena": p0.arena_peak - plan.arena_peak,
        "l3_arena": p0.l3_arena_peak - plan.l3_arena_peak})
    return g, plan
