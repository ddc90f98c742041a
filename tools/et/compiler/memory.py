"""Static memory plan over L1/L2/L3: a liveness-based arena in L2, weights placed by level, L3
tensors streamed through L2, and arena buffers spilled to L3 when the arena does not fit L2.

Interface: ``MemoryPlanner.plan(graph, target) -> Plan``. A Plan lists, per tensor, its level,
offset, size and lifetime (first and last step = node index), and the totals the reports print.

Algorithm of ``ArenaPlanner``:
1. Buffers. Views (reshape) share their input's buffer. An elementwise node whose input dies
   at that node and has the output's size writes in place (relu, add, mul, the relu/gelu
   backward and the gradient accumulation): output and input share a buffer.
2. Lifetimes. A buffer lives from the step that first writes any of its tensors to the last
   step that reads one (parameter gradients live until their SGD step).
3. Offsets. Buffers sorted by size (largest first, then by start) go to the lowest 16-byte
   aligned offset that overlaps no placed buffer alive at the same time (greedy by size); the
   topological order is tried too and the smaller peak kept.
4. Levels. The arena (activations, gradients, staging buffers) lives in L2; L1 is the kernels'
   scratch. Persistent tensors (inputs first, then by staging pressure) fill what is left of L2
   after the arena and ``l2_reserve`` (code, stacks, runtime), then L3.
5. Streaming. Every kernel node that touches an L3 tensor gets L2 staging buffers (arena
   buffers, double-buffered; ``staging_entries``). If the arena does not fit L2, the buffer
   ``spill_candidate`` picks moves to an L3 arena and is staged the same way; steps 3-5 repeat
   until the plan is stable. The optimizer's element-wise nodes stream in chunks; when the
   plan does not fit or spills, it is made again with row chunks (a row-separable node that
   would stage more than an eighth of the arena streams its operands in chunks of rows,
   ``row_chunking``) and kept if that fits or spills less. Kernels that tile themselves
   (GEMM, conv2d, permute) chunk by their leading items (matrix rows, images, batch items);
   operands they need whole are staged whole once, and sums over the items (weight
   gradients) add chunk after chunk.
6. If the plan still does not fit, it is made again with the samples (the batch input) in L3
   instead of pinned in L2: the layers that read them stream them like any L3 tensor.
If the arena does not fit L2, or the rest does not fit L3, DoesNotFitError gives the numbers:
needed vs available, and which tensor at which step crosses the limit.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ..targets import KIB, Target, get_target
from .ir import DoesNotFitError, Graph
from .ops import call_of, op

log = logging.getLogger("et.compiler.memory")

ALIGN = 16
PERSISTENT = ("param", "const", "state", "input", "loss")


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _first_fit(bufs: dict, key) -> tuple[dict[str, int], int, list]:
    """Place buffers (name -> (size, first, last)) in ``key`` order, each at the lowest aligned
    offset free during its lifetime. Returns (offsets, peak, placed)."""
    placed: list[tuple[int, int, int, int, str]] = []
    offset: dict[str, int] = {}
    for r, (size, a, b) in sorted(bufs.items(), key=key):
        busy = sorted((o, o + s) for (o, s, pa, pb, _) in placed if pa <= b and a <= pb)
        off = 0
        for lo, hi in busy:
            if off + size <= lo:
                break
            off = max(off, hi)
        offset[r] = off
        placed.append((off, size, a, b, r))
    return offset, max((o + s for o, s, _, _, _ in placed), default=0), placed


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
    naive_peak: int = 0          # first-fit in topological order (naive liveness baseline)
    size_peak: int = 0           # first-fit by decreasing size (the planner's own order)
    arena_order: str = "size"    # which of the two orders gave arena_peak (the smaller)
    stream: bool = True          # L3 tensors staged through L2 by DMA (double-buffered)
    staging: int = 0             # bytes of one L2 staging slot (two slots when streaming)
    stream_nodes: list = field(default_factory=list)  # per streaming node: see staging_plan
    traffic: dict[str, int] = field(default_factory=dict)  # bytes per step by direction
    l2_reserve: int = 0
    placed: list = field(default_factory=list, repr=False)
    live: list = field(default_factory=list, repr=False)  # live arena bytes per step
    level_bytes: dict[str, int] = field(default_factory=dict)   # persistent bytes per level
    workspace: dict[str, int] = field(default_factory=dict)     # kernel scratch per level
    error: str = ""              # set (instead of raising) when planned with strict=False
    l3_arena_peak: int = 0       # bytes of the L3 arena (arena buffers spilled to L3)
    spilled: list = field(default_factory=list)  # the spilled arena buffers (roots)

    @property
    def fits(self) -> bool:
        return not self.error

    @property
    def dynamic(self) -> int:
        """Peak dynamic bytes over all levels: the L2 arena plus the L3 arena (spilled
        activations and gradients)."""
        return self.arena_peak + self.l3_arena_peak

    def to_dict(self) -> dict:
        return {"target": self.target, "arena_peak": self.arena_peak,
                "live_peak": self.live_peak, "peak_step": self.peak_step,
                "peak_node": self.peak_node, "no_reuse": self.no_reuse,
                "naive_peak": self.naive_peak, "size_peak": self.size_peak,
                "arena_order": self.arena_order, "stream": self.stream,
                "staging": self.staging, "l2_reserve": self.l2_reserve,
                "level_bytes": self.level_bytes, "workspace": self.workspace,
                "traffic": self.traffic, "error": self.error,
                "l3_arena_peak": self.l3_arena_peak, "spilled": self.spilled,
                "tensors": {k: vars(v) for k, v in self.placements.items()}}


class MemoryPlanner:
    """Interface: turn a training graph into a Plan for a target (name or Target)."""

    def plan(self, graph: Graph, target: Target | str, strict: bool = True) -> Plan:
        """Plan ``graph`` for ``target``; DoesNotFitError if it does not fit (``strict``),
        else the returned Plan carries the message in ``error``."""
        raise NotImplementedError  # pragma: no cover


class ArenaPlanner(MemoryPlanner):
    """Version 1: liveness arena in L2 with in-place reuse, weights L2-first then L3."""

    def __init__(self, l2_reserve: int = 64 * KIB, stream: bool = True):
        self.l2_reserve = l2_reserve
        self.stream = stream
        self.l3_inputs: set[str] = set()   # the samples, when they must live in L3

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
            share = src is not None and g[src].kind not in PERSISTENT and \
                g[n.outputs[0]].kind not in PERSISTENT and (
                n.is_view or (call_of(n).inplace
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
        # 3.-5. offsets and levels, iterated: the L3 tensors' staging buffers (streaming) are
        # arena buffers too, which can push more persistent tensors to L3; when the arena itself
        # does not fit L2, arena buffers live across the peak untouched are spilled to L3 (an
        # L3 arena) and staged like L3 weights. Both sets only grow, so this stops.
        limit = self._arena_limit(g, tgt)
        # staging pressure of a persistent tensor: the live arena bytes at the busiest node
        # that touches it (a tensor staged there raises the peak; one used where the arena is
        # small streams for free), so the L2 places go to the high-pressure tensors first
        live0 = live_bytes(bufs.values(), len(g.nodes))
        roots = view_roots(g)
        self.pressure = {}
        touched: dict[str, set[int]] = {}   # arena buffer -> kernel nodes that touch it
        for k, n in enumerate(g.nodes):
            for t in n.inputs + n.outputs:
                r = roots.get(t, t)
                if g[r].kind in PERSISTENT:
                    self.pressure[r] = max(self.pressure.get(r, 0), live0[k] + g[r].nbytes)
                elif not n.is_view:
                    touched.setdefault(find(t), set()).add(k)
        rows = row_layouts(g) if self.stream else {}
        self.l3_inputs = set()
        plan = self._chunked_if_better(g, tgt, bufs, members, touched, limit, rows)
        # the samples in L3 only when the plan with them in L2 does not fit: the first layer
        # streams them like any L3 tensor, the batch is copied L3 -> L3 through L2
        if plan.error and self.stream and g.inputs and g[g.inputs[0]].kind == "input":
            self.l3_inputs = {g.inputs[0]}
            alt = self._chunked_if_better(g, tgt, bufs, members, touched,
                                          self._arena_limit(g, tgt), rows)
            if alt.error:
                self.l3_inputs = set()
            else:
                plan = alt
        if plan.error and strict:
            raise DoesNotFitError(plan.error)
        plan.traffic = traffic_of(g, plan)
        plan.workspace = {"L1": max(0, tgt.capacities["L1"] - tgt.cores * tgt.stack_per_core)}
        return plan

    def _chunked_if_better(self, g: Graph, tgt: Target, bufs: dict, members: dict,
                           touched: dict, limit: int, rows: dict) -> Plan:
        """Row chunks only when the plan without them does not fit or spills to L3, and only
        if they make it fit or spill less (a chunked node loses the prefetch overlap); when
        neither fits, the plan with row chunks (its message names what limits it)."""
        plan = self._levels(g, tgt, bufs, members, touched, limit, rows, (0, 0))
        if self.stream and (plan.error or plan.spilled):
            alt = self._levels(g, tgt, bufs, members, touched, limit, rows, row_chunking(limit))
            if plan.error or alt.l3_arena_peak < plan.l3_arena_peak and not alt.error:
                plan = alt
        return plan

    def _levels(self, g: Graph, tgt: Target, bufs: dict, members: dict, touched: dict,
                limit: int, rows: dict, chunking: tuple[int, int]) -> Plan:
        """Steps 3.-5. with the given row chunking (``staging_entries``); a plan that does not
        fit carries the message in ``error``."""
        plan = Plan(target=tgt.name, stream=self.stream, l2_reserve=self.l2_reserve)
        forced: set[str] = set(self.l3_inputs)
        spilled: dict[str, None] = {}       # arena buffers in L3, in the order they were spilled
        for _ in range(2 * len(g.tensors) + 2):
            l3_arena = {m for r in spilled for m in members[r]}
            entries = (staging_entries(g, forced | l3_arena, rows, chunking)
                       if self.stream else [])
            allbufs = {r: v for r, v in bufs.items() if r not in spilled}
            for e in entries:
                for t in e["tensors"]:
                    size, a, b = allbufs.get(t["buffer"], (0, t["first"], t["last"]))
                    allbufs[t["buffer"]] = (max(size, _align(t["stage_bytes"])),
                                            min(a, t["first"]), max(b, t["last"]))
            plan.stream_nodes = entries
            self._arena(g, plan, allbufs, members)
            if self.stream and plan.arena_peak > limit:
                r = spill_candidate(plan, allbufs, touched, limit,
                                    chunked_at(g, rows, members, chunking))
                if r is not None:
                    spilled[r] = None
                    continue
            self._l3_arena(g, plan, {r: bufs[r] for r in spilled}, members)
            try:
                l3 = self._place_levels(g, tgt, plan, forced)
            except DoesNotFitError as e:
                plan.error = str(e)
                break
            if l3 <= forced or not self.stream:
                break
            forced |= l3
        return plan

    def _l3_arena(self, g: Graph, plan: Plan, bufs: dict, members: dict) -> None:
        """Offsets of the spilled arena buffers in the L3 arena (first-fit by size, with reuse
        over lifetimes as in L2)."""
        offset, plan.l3_arena_peak, _ = _first_fit(bufs, lambda kv: (-kv[1][0], kv[1][1], kv[0]))
        plan.spilled = list(bufs)
        for r, (size, a, b) in bufs.items():
            for m in members[r]:
                plan.placements[m] = Placement(m, "L3", offset[r], g[m].nbytes, a, b,
                                               g[m].kind, r)

    def _arena(self, g: Graph, plan: Plan, bufs: dict, members: dict) -> None:
        """Offsets of the arena buffers: first-fit by decreasing size (the planner) and in
        topological order (the naive baseline); the smaller peak is kept."""
        by_size = _first_fit(bufs, lambda kv: (-kv[1][0], kv[1][1], kv[0]))
        naive = _first_fit(bufs, lambda kv: (kv[1][1], kv[0]))
        plan.size_peak, plan.naive_peak = by_size[1], naive[1]
        offset, plan.arena_peak, plan.placed = by_size
        plan.arena_order = "size"
        if naive[1] < by_size[1]:
            offset, plan.arena_peak, plan.placed = naive
            plan.arena_order = "topological"
        staged = {t["buffer"]: t for e in plan.stream_nodes for t in e["tensors"]
                  if not t["reuse"]}
        plan.no_reuse = sum(_align(t.nbytes) for t in g.tensors.values()
                            if t.kind not in PERSISTENT) + sum(_align(t["size"])
                                                               for t in staged.values())
        plan.no_reuse -= sum(_align(t["size"]) - _align(t["stage_bytes"]) for t in staged.values())
        live = live_bytes(bufs.values(), len(g.nodes))
        stage_live = live_bytes((v for r, v in bufs.items() if r in staged), len(g.nodes))
        plan.live = live
        plan.live_peak = max(live) if live else 0
        plan.staging = max(stage_live) if stage_live else 0
        plan.peak_step = live.index(plan.live_peak) if live else 0
        plan.peak_node = g.nodes[plan.peak_step].name if plan.peak_step < len(g.nodes) else ""
        plan.placements = {}
        for r, (size, a, b) in bufs.items():
            if r in staged:
                t = staged[r]
                plan.placements[r] = Placement(r, "L2", offset[r], t["stage_bytes"], a, b, "staging",
                                               t["tensor"])
                continue
            for m in members[r]:
                plan.placements[m] = Placement(m, "L2", offset[r], g[m].nbytes, a, b,
                                               g[m].kind, r)
        for e in plan.stream_nodes:
            for t in e["tensors"]:
                t["arena_offset"] = offset[t["buffer"]]

    def _arena_limit(self, g: Graph, tgt: Target) -> int:
        """The L2 arena's share of L2: what the reserve and the tensors that must stay in L2
        (the batch and the loss, which the CPU reads) leave."""
        return tgt.capacities["L2"] - self.l2_reserve - self._pinned(g, self.l3_inputs)

    @staticmethod
    def _pinned(g: Graph, l3_inputs=()) -> int:
        """Bytes of the batch and the loss kept in L2 (the samples too, unless in L3)."""
        return sum(_align(t.nbytes) for t in g.tensors.values()
                   if t.kind in ("input", "loss") and t.name not in l3_inputs)

    def _place_levels(self, g: Graph, tgt: Target, plan: Plan, forced: set) -> set:
        """Persistent tensors L2-first (``forced`` ones in L3), then L3; returns the L3 set."""
        caps = tgt.capacities
        limit = self._arena_limit(g, tgt)
        if plan.arena_peak > limit:
            over = min((p for p in plan.placed if p[0] + p[1] > limit), key=lambda p: p[2])
            t = over[4]
            step = over[2]
            what = (f"staging buffer '{t}' ({over[1]} bytes" if t.startswith("stage:")
                    else f"tensor '{t}' ({g[t].nbytes} bytes")
            raise DoesNotFitError(
                f"training graph does not fit target {tgt.name}: the L2 arena needs "
                f"{plan.arena_peak} bytes, {limit} available (L2 {caps['L2']} - reserve "
                f"{self.l2_reserve} - batch and loss {self._pinned(g, self.l3_inputs)}); "
                f"{what}, offset "
                f"{over[0]}) "
                f"crosses the limit at step {step} (node '{g.nodes[step].name}'); live bytes "
                f"peak at step {plan.peak_step} ('{plan.peak_node}'): {plan.live_peak}")
        order = {"input": 0, "loss": 0, "state": 2, "const": 4}
        pers = [t for t in g.tensors.values() if t.kind in PERSISTENT]
        if self.stream:
            pers.sort(key=lambda t: (t.kind not in ("input", "loss") or t.name in self.l3_inputs,
                                     -self.pressure.get(t.name, 0),
                                     order.get(t.kind, 1 if t.trainable else 3)))
        else:
            pers.sort(key=lambda t: (order.get(t.kind, 1 if t.trainable else 3)))
        used = {"L2": plan.arena_peak + self.l2_reserve, "L3": _align(plan.l3_arena_peak)}
        plan.level_bytes = {"L2": 0, "L3": 0}
        l3 = caps.get("L3", 0)
        l3set = set()
        for t in pers:
            size = _align(t.nbytes)
            level = "L2" if used["L2"] + size <= caps["L2"] and t.name not in forced else "L3"
            if level == "L3" and t.kind in ("input", "loss") and t.name not in self.l3_inputs:
                raise DoesNotFitError(
                    f"training graph does not fit target {tgt.name}: {t.kind} '{t.name}' "
                    f"({t.nbytes} bytes) must be in L2, which already holds {used['L2']} of "
                    f"{caps['L2']} bytes")
            if level == "L3" and used["L3"] + size > l3:
                raise DoesNotFitError(
                    f"training graph does not fit target {tgt.name}: {t.kind} '{t.name}' "
                    f"({t.nbytes} bytes) needs {used['L3'] + size} bytes of L3, {l3} available "
                    f"(L2 already holds {used['L2']} of {caps['L2']} bytes)")
            off = used["L3"] if level == "L3" else used["L2"] - self.l2_reserve
            plan.placements[t.name] = Placement(t.name, level, off, t.nbytes, -1, len(g.nodes),
                                                t.kind, t.name)
            used[level] += size
            plan.level_bytes[level] += size
            if level == "L3":
                l3set.add(t.name)
        return l3set


def view_roots(g: Graph) -> dict[str, str]:
    """Tensor -> the tensor whose memory it is (views alias their input, transitively)."""
    alias = {n.outputs[0]: n.inputs[0] for n in g.nodes if n.is_view}
    out = {}
    for t in alias:
        r = t
        while r in alias:
            r = alias[r]
        out[t] = r
    return out


SGD_CHUNK = 16 * 1024   # bytes per tensor per chunk of a streamed (element-wise) SGD update
ROW_CHUNK = 32 * 1024   # bytes per tensor per chunk of a row-chunked node (at most; >= 1 row)


def row_chunking(limit: int) -> tuple[int, int]:
    """(stage_max, chunk) for an L2 arena of ``limit`` bytes: a row-separable node whose staged
    operands would take more than an eighth of it streams them in chunks of at most ROW_CHUNK
    (and at most a 32nd of the arena) bytes per tensor."""
    return max(ALIGN, limit // 8), max(ALIGN, min(ROW_CHUNK, limit // 32))


def row_layouts(g: Graph) -> dict[int, tuple[int, dict[str, int]]]:
    """Per kernel node whose call is row-separable (its emitter gives a ``RowTile``: an L1 row
    tiling or a chunk-only one): its rows and the bytes per row of each operand (view roots;
    0 for an operand it needs whole). The planner streams such a node's L3 operands in chunks
    of rows."""
    from .kernelmap import WHOLE, CodegenError, Emitter
    roots = view_roots(g)
    em = Emitter(g, lambda t: t, lambda y: ("mean_", "rstd_"))
    out = {}
    for k, n in enumerate(g.nodes):
        if n.is_view:
            continue
        try:
            tile = em.emit(k, n).tile
        except CodegenError:
            continue
        if tile is None:
            continue
        out[k] = (tile.rows, {roots.get(t, t): 0 if d == WHOLE else b
                              for t, _, b, d in tile.streams
                              if isinstance(t, str) and t in g.tensors})
    return out


def staging_entries(g: Graph, l3: set, rows: dict | None = None,
                    chunking: tuple[int, int] = (0, 0)) -> list[dict]:
    """The L3 -> L2 streaming schedule for the tensors in ``l3`` (persistent tensors placed in
    L3 and the members of spilled arena buffers).

    Every kernel node (not a view) that touches L3 tensors gets a copy of each in an L2 staging
    buffer (an arena buffer ``stage:<node>:<tensor>``): copied in if the node reads it
    (``copy_in``; an output the node creates is not), written back if the node writes it
    (``write_back``: SGD's parameter and momentum, a spilled activation or gradient). The copy-in
    of a streaming node is issued just before the kernel node before it runs (``prefetch``: the
    index of that node; the buffer lives from that node to its own, so two streaming nodes'
    buffers never overlap: double buffering), unless that node is a streaming node that writes
    a tensor this one reads (then it is issued after that write-back and the buffer lives at
    its own node only). A write-back runs while the next kernel node computes: its buffer
    lives until that node (``last``), which waits for it before it ends. A tensor that the kernel
    node just before also staged is not copied again (``reuse``: the record names that node's
    buffer, which then lives on): a producer's output goes to its consumer in L2, and two
    consecutive readers (a GEMM's input and weight gradients) share one copy.

    Chunks: a node streams its staged operands in chunks of rows (``chunk``: rows per chunk, 0
    for whole; per tensor ``row_bytes``: copy in, run, write back, chunk after chunk), so its
    staging buffers hold one chunk each, when ``rows`` (``row_layouts``) knows every staged
    operand of it and either its op is ``OpDef.chunked`` (SGD, gradient accumulation:
    SGD_CHUNK bytes per tensor) or the operands it splits by rows stage more than
    ``chunking[0]`` bytes (``chunking[1]`` bytes per tensor; ``row_chunking``). An operand it
    needs whole (``row_bytes`` 0: a weight, a weight gradient summed over the rows) is staged
    whole, copied in before the first chunk and written back after the last. A chunked node is
    not prefetched and does not prefetch the next node."""
    roots = view_roots(g)
    rows = rows or {}
    kernel_nodes = [k for k, n in enumerate(g.nodes) if not n.is_view]
    after = dict(zip(kernel_nodes, kernel_nodes[1:] + [len(g.nodes)]))
    entries = []
    for k, n in enumerate(g.nodes):
        if n.is_view:
            continue
        ins = [roots.get(t, t) for t in n.inputs]
        outs = [roots.get(t, t) for t in n.outputs]
        hit = [t for t in dict.fromkeys(ins + outs) if t in l3]
        if not hit:
            continue
        nrows, per_row = rows.get(k, (0, {}))
        chunk = 0
        split = [t for t in hit if per_row.get(t)]
        if nrows > 1 and split and all(t in per_row for t in hit):
            chunked = op(n.op).chunked
            if chunked or (chunking[0] and sum(g[t].nbytes for t in split) > chunking[0]):
                budget = SGD_CHUNK if chunked else chunking[1]
                chunk = min(nrows, max(1, budget // max(per_row[t] for t in split)))
        entries.append({"node": k, "name": n.name, "prefetch": None, "chunk": chunk,
                        "rows": nrows if chunk else 0, "tensors": [
            {"tensor": t, "size": g[t].nbytes, "copy_in": t in ins, "write_back": t in outs,
             "reuse": False,
             "first": k, "last": after[k] if t in outs else k,
             "buffer": f"stage:{k}:{t}", "row_bytes": per_row[t] if chunk else 0,
             "stage_bytes": min(g[t].nbytes, chunk * per_row[t]) if chunk and per_row[t]
             else g[t].nbytes} for t in hit]})
    before = {b: a for a, b in after.items()}
    at = {e["node"]: e for e in entries}
    # a tensor the kernel node just before also staged (read or wrote): read from that copy
    for b in entries:
        a = at.get(before.get(b["node"]))
        if a is None or a["chunk"] or b["chunk"]:
            continue
        prev = {t["tensor"]: t for t in a["tensors"]}
        for t in b["tensors"]:
            if t["tensor"] in prev and not t["write_back"]:
                t.update(copy_in=False, reuse=True, buffer=prev[t["tensor"]]["buffer"],
                         first=prev[t["tensor"]]["first"])
    for b in entries:
        kp = before.get(b["node"])
        a = at.get(kp)
        if kp is None or b["chunk"] or (a is not None and (a["chunk"] or {
                t["tensor"] for t in a["tensors"] if t["write_back"]} & {
                t["tensor"] for t in b["tensors"] if t["copy_in"]})):
            continue
        b["prefetch"] = kp
        for t in b["tensors"]:
            t["first"] = min(t["first"], kp)
    return entries


def live_bytes(bufs, nsteps: int) -> list[int]:
    """Bytes live at each step 0..nsteps of buffers given as (size, first, last)."""
    live = [0] * (nsteps + 1)
    for size, a, b in bufs:
        for k in range(a, min(b, nsteps) + 1):
            live[k] += size
    return live


def chunked_at(g: Graph, rows: dict, members: dict, chunking: tuple[int, int]):
    """``f(buffer, k)``: would node k stream the arena buffer in chunks of rows once it is in
    L3 (``staging_entries``: every member it touches splits by its rows, and the buffer is
    larger than ``chunking[0]``)? Its staging copy there is then one chunk, not the buffer."""
    roots = view_roots(g)

    def f(r: str, k: int) -> bool:
        nrows, per_row = rows.get(k, (0, {}))
        if not chunking[0] or nrows < 2 or g[r].nbytes <= chunking[0]:
            return False
        n = g.nodes[k]
        mine = {roots.get(t, t) for t in n.inputs + n.outputs} & set(members[r])
        return bool(mine) and all(per_row.get(t) for t in mine)
    return f


def spill_candidate(plan: Plan, bufs: dict, touched: dict, limit: int, chunked=None):
    """The arena buffer of ``bufs`` (the arena ``plan`` was just made from) to move to L3 next,
    or None: the largest buffer live at the step where the arena crosses ``limit`` (the
    live-bytes peak, or the busiest step of the first buffer placed past the limit) that no
    kernel touches at that step or the steps beside it (its staging copies would stand in its
    place there), or, when there is none, that only kernels streaming it in chunks of rows
    touch there (``chunked(buffer, k)``: ``chunked_at``); ties go to the longest lifetime."""
    live = plan.live
    if plan.live_peak > limit:
        k = plan.peak_step
    else:
        over = min((p for p in plan.placed if p[0] + p[1] > limit), key=lambda p: p[2])
        k = max(range(over[2], min(over[3], len(live) - 1) + 1), key=lambda s: live[s])
    near = {k - 1, k, k + 1}
    alive = [(size, b - a, r) for r, (size, a, b) in bufs.items()
             if not r.startswith("stage:") and a <= k <= b]
    cands = [c for c in alive if not touched.get(c[2], set()) & near]
    if not cands and chunked is not None:
        cands = [c for c in alive
                 if all(chunked(c[2], j) for j in touched.get(c[2], set()) & near)]
    return max(cands)[2] if cands else None


def traffic_of(g: Graph, plan: Plan) -> dict[str, int]:
    """Bytes per training step moved between levels by the plan: ``l3_to_l2`` (staged tensors
    and the batch read from the L3 data set), ``l2_to_l3`` (write-backs), and ``l2_l1_model``:
    a lower bound of the L2 <-> L1 traffic, every kernel reading its operands and writing its
    results once (the kernels tile through L1 themselves; the run measures the real figure)."""
    staged = [t for e in plan.stream_nodes for t in e["tensors"]] if plan.stream else []
    data = sum(g[t].nbytes for t in g.inputs)
    l1 = 0
    for n in g.nodes:
        if not n.is_view:
            l1 += sum(g[t].nbytes for t in dict.fromkeys(n.inputs + n.outputs))
    return {"l3_to_l2": sum(t["size"] for t in staged if t["copy_in"]) + data,
            "l2_to_l3": sum(t["size"] for t in staged if t["write_back"]),
            "data": data, "l2_l1_model": l1}
