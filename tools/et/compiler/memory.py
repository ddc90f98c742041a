"""Static memory plan, first version: one liveness-based arena in L2, weights placed by level.

Interface (kept small so the three-level planner of the memory-planner issue can replace it):
``MemoryPlanner.plan(graph, target) -> Plan``. A Plan lists, per tensor, its level, offset,
size and lifetime (first and last step = node index), and the totals the reports print.

Algorithm of ``ArenaPlanner``:
1. Buffers. Views (reshape) share their input's buffer. An elementwise node whose input dies
   at that node and has the output's size writes in place (relu, add, mul, the relu/gelu
   backward and the gradient accumulation): output and input share a buffer.
2. Lifetimes. A buffer lives from the step that first writes any of its tensors to the last
   step that reads one (parameter gradients live until their SGD step).
3. Offsets. Buffers sorted by size (largest first, then by start) go to the lowest 16-byte
   aligned offset that overlaps no placed buffer alive at the same time (greedy by size).
4. Levels. The arena (activations, gradients) lives in L2; L1 is the kernels' scratch
   (``workspace``: capacity minus the cores' stacks). Persistent tensors (inputs, trainable
   parameters, momentum, frozen parameters, constants, in this order) fill what is left of L2
   after the arena and ``l2_reserve`` (code, stacks, runtime), then L3.
If the arena does not fit L2, or the rest does not fit L3, DoesNotFitError gives the numbers:
needed vs available, and which tensor at which step crosses the limit.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ..targets import KIB, Target, get_target
from .ir import DoesNotFitError, Graph

log = logging.getLogger("pt.compiler.memory")

ALIGN = 16
PERSISTENT = ("param", "const", "state", "input", "loss")
INPLACE = {("relu", "fwd", ""), ("add", "fwd", ""), ("mul", "fwd", ""), ("sub", "fwd", ""),
           ("add", "bwd", ""), ("mul", "bwd", ""), ("relu", "bwd", "igrad"),
           ("gelu", "bwd", "igrad")}


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass
class Placement:
    """Where one tensor lives: level, byte offset in that level's area, size, lifetime."""
    tensor: str
    level: str
    offset: int
    size: int
    first: int
    last: int
    kind: str
    buffer: str  # the buffer it shares (itself unless a view or in place)


@dataclass
class Plan:
    """The memory plan of one training graph on one target."""
    target: str
    placements: dict[str, Placement] = field(default_factory=dict)
    arena_peak: int = 0          # bytes of the L2 arena (activations + gradients)
    live_peak: int = 0           # max over steps of the live bytes (a lower bound of the arena)
    peak_step: int = 0
    peak_node: str = ""
    no_reuse: int = 0            # sum of all arena tensors (no reuse baseline)
    level_bytes: dict[str, int] = field(default_factory=dict)   # persistent bytes per level
    workspace: dict[str, int] = field(default_factory=dict)     # kernel scratch per level
    error: str = ""              # set (instead of raising) when planned with strict=False

    @property
    def fits(self) -> bool:
        return not self.error

    def to_dict(self) -> dict:
        return {"target": self.target, "arena_peak": self.arena_peak,
                "live_peak": self.live_peak, "peak_step": self.peak_step,
                "peak_node": self.peak_node, "no_reuse": self.no_reuse,
                "level_bytes": self.level_bytes, "workspace": self.workspace,
                "error": self.error,
                "tensors": {k: vars(v) for k, v in self.placements.items()}}


class MemoryPlanner:
    """Interface: turn a training graph into a Plan for a target (name or Target)."""

    def plan(self, graph: Graph, target: Target | str, strict: bool = True) -> Plan:
        """Plan ``graph`` for ``target``; DoesNotFitError if it does not fit (``strict``),
        else the returned Plan carries the message in ``error``."""
        raise NotImplementedError  # pragma: no cover


class ArenaPlanner(MemoryPlanner):
    """Version 1: liveness arena in L2 with in-place reuse, weights L2-first then L3."""

    def __init__(self, l2_reserve: int = 64 * KIB):
        self.l2_reserve = l2_reserve

    def plan(self, graph: Graph, target: Target | str, strict: bool = True) -> Plan:
        tgt = get_target(target) if isinstance(target, str) else target
        g = graph
        root: dict[str, str] = {}

        def find(t: str) -> str:
            while root.get(t, t) != t:
                t = root[t]
            return t

        last_use: dict[str, int] = {}
        for k, n in enumerate(g.nodes):
            for i in n.inputs:
                last_use[i] = k
        for o in g.outputs:
            last_use[o] = len(g.nodes)
        # 1. buffers: views and in-place outputs share their input's buffer
        members: dict[str, list[str]] = {}
        for k, n in enumerate(g.nodes):
            if n.phase == "update":
                continue
            src = n.inputs[0] if n.inputs else None
            share = src is not None and g[src].kind not in PERSISTENT and (
                n.is_view or ((n.op, n.phase, n.variant) in INPLACE
                              and g[src].nbytes == g[n.outputs[0]].nbytes
                              and max(last_use.get(m, -1) for m in members.get(find(src), [src]))
                              <= k))
            for o in n.outputs:
                r = find(src) if share and o == n.outputs[0] else o
                root[o] = r
                members.setdefault(r, [r] if r not in members else members[r])
                if o != r:
                    members[r].append(o)
        # 2. lifetimes of arena buffers
        first: dict[str, int] = {}
        for k, n in enumerate(g.nodes):
            for o in n.outputs:
                if g[o].kind not in PERSISTENT:
                    first.setdefault(find(o), k)
        bufs = {}
        for r, ms in members.items():
            if g[r].kind in PERSISTENT:
                continue
            size = _align(max(g[m].nbytes for m in ms))
            last = max(last_use.get(m, first[r]) for m in ms)
            bufs[r] = (size, first[r], last)
        # 3. offsets, greedy by size
        placed: list[tuple[int, int, int, int, str]] = []
        offset: dict[str, int] = {}
        for r, (size, a, b) in sorted(bufs.items(), key=lambda kv: (-kv[1][0], kv[1][1], kv[0])):
            busy = sorted((o, o + s) for (o, s, pa, pb, _) in placed if pa <= b and a <= pb)
            off = 0
            for lo, hi in busy:
                if off + size <= lo:
                    break
                off = max(off, hi)
            offset[r] = off
            placed.append((off, size, a, b, r))
        plan = Plan(target=tgt.name)
        plan.arena_peak = max((o + s for o, s, _, _, _ in placed), default=0)
        plan.no_reuse = sum(_align(t.nbytes) for t in g.tensors.values()
                            if t.kind not in PERSISTENT)
        live = [0] * (len(g.nodes) + 1)
        for size, a, b in bufs.values():
            for k in range(a, min(b, len(g.nodes)) + 1):
                live[k] += size
        plan.live_peak = max(live) if live else 0
        plan.peak_step = live.index(plan.live_peak) if live else 0
        plan.peak_node = g.nodes[plan.peak_step].name if plan.peak_step < len(g.nodes) else ""
        for r, (size, a, b) in bufs.items():
            for m in members[r]:
                plan.placements[m] = Placement(m, "L2", offset[r], g[m].nbytes, a, b,
                                               g[m].kind, r)
        try:
            self._place_persistent(g, tgt, plan, placed)
        except DoesNotFitError as e:
            if strict:
                raise
            plan.error = str(e)
        return plan

    def _place_persistent(self, g: Graph, tgt: Target, plan: Plan, placed) -> None:
        caps = tgt.capacities
        l2_free = caps["L2"] - self.l2_reserve - plan.arena_peak
        if l2_free < 0:
            limit = caps["L2"] - self.l2_reserve
            over = min((p for p in placed if p[0] + p[1] > limit), key=lambda p: p[2])
            t = over[4]
            step = over[2]
            raise DoesNotFitError(
                f"training graph does not fit target {tgt.name}: the L2 arena needs "
                f"{plan.arena_peak} bytes, {limit} available (L2 {caps['L2']} - reserve "
                f"{self.l2_reserve}); tensor '{t}' ({g[t].nbytes} bytes, offset {over[0]}) "
                f"crosses the limit at step {step} (node '{g.nodes[step].name}'); live bytes "
                f"peak at step {plan.peak_step} ('{plan.peak_node}'): {plan.live_peak}")
        order = {"input": 0, "loss": 0, "state": 2, "const": 4}
        pers = [t for t in g.tensors.values() if t.kind in PERSISTENT]
        pers.sort(key=lambda t: (order.get(t.kind, 1 if t.trainable else 3)))
        used = {"L2": plan.arena_peak + self.l2_reserve, "L3": 0}
        plan.level_bytes = {"L2": 0, "L3": 0}
        l3 = caps.get("L3", 0)
        for t in pers:
            size = _align(t.nbytes)
            level = "L2" if used["L2"] + size <= caps["L2"] else "L3"
            if level == "L3" and used["L3"] + size > l3:
                raise DoesNotFitError(
                    f"training graph does not fit target {tgt.name}: {t.kind} '{t.name}' "
                    f"({t.nbytes} bytes) needs {used['L3'] + size} bytes of L3, {l3} available "
                    f"(L2 already holds {used['L2']} of {caps['L2']} bytes)")
            plan.placements[t.name] = Placement(t.name, level, used[level] if level == "L3"
                                                else used[level] - self.l2_reserve - plan.arena_peak
                                                + plan.arena_peak, t.nbytes, -1, len(g.nodes),
                                                t.kind, t.name)
            used[level] += size
            plan.level_bytes[level] += size
        plan.workspace = {"L1": max(0, caps["L1"] - tgt.cores * tgt.stack_per_core)}
