"""IR node -> C kernel calls: the machinery the op registry's emitters (ops/) write with.

``Emitter.emit(idx, node)`` asks the node's registry entry for its call's emitter, which returns
a ``CCall``: argument structs (static const, declared before the call), the kernel calls (C
expressions returning et_status, always real functions of kernels/include), the L1 scratch they
want, the kernels' own tile queries, and, for row-separable calls, the same work as a
``RowTile`` the generated code runs tile by tile through L1 (tiling.py, sdk/include/et_tile.h).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .ir import CompileError, Graph, Node


class CodegenError(CompileError):
    """The code generator cannot express a node with the C kernels."""


# et_tile.h stream directions
IN, OUT, INOUT, WHOLE = "ET_TILE_IN", "ET_TILE_OUT", "ET_TILE_INOUT", "ET_TILE_WHOLE"
# a kernel's accumulate argument in a chunk loop (C): a sum over the chunked rows (a weight
# gradient) is written by the first chunk and added to by the later ones
LATER_CHUNK = "(@R0@) != 0"


@dataclass
class RowTile:
    """A row-separable kernel call the generated code tiles through L1 (sdk/include/et_tile.h).

    ``streams``: (operand, C pointer, bytes per row, direction); a WHOLE operand is copied once
    (bytes = its size). ``call``: the kernel call with ``@P<i>@`` for stream i's L1 pointer,
    ``@NR@`` for the tile's row count, ``@R0@`` for its first row in the node's rows and
    ``@CTX@`` for the context; ``pre``: statements before it in the tile loop. ``rows_c``: the
    row count as C (default: ``rows``); ``row0``: the first of the node's rows this call runs,
    as C (a chunk loop's offset; default: the node's first).

    ``l1`` False: a call of kernels that tile themselves through L1 (GEMM, conv2d, permute),
    whose rows (batch items, matrix rows) only serve the planner's L3 chunks (memory.py): the
    generated code runs it on chunks of rows, never on L1 row tiles; ``then``: further calls
    on the same rows after ``call`` (a weight and a bias gradient)."""
    kernel: str
    rows: int
    streams: list
    call: str
    pre: list = field(default_factory=list)
    rows_c: str = ""
    row0: str = ""
    l1: bool = True
    then: list = field(default_factory=list)

    def fill(self, text: str, ptrs: list[str], nr: str, ctx: str, r0: str = "0") -> str:
        """``text`` (the call or a ``pre`` statement) with stream i's pointer ``ptrs[i]``, the
        row count ``nr``, the first row ``r0`` and the context ``ctx`` in place of the
        placeholders."""
        for i, p in enumerate(ptrs):
            text = text.replace(f"@P{i}@", p)
        return text.replace("@NR@", nr).replace("@R0@", r0).replace("@CTX@", ctx)


@dataclass(frozen=True)
class Scratch:
    """The L1 scratch of one call of a kernel that tiles itself: ``want`` (C) gives its largest
    tiles, ``need`` (C) is the least it accepts."""
    want: str
    need: str


@dataclass
class CCall:
    decls: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    kernels: list[str] = field(default_factory=list)
    scratch: list[Scratch] = field(default_factory=list)
    tile: RowTile | None = None   # the same work as one call per L1 tile (row-separable ops)
    # per call of a kernel that tiles itself: (kernel, query) for tiles.query, minus the L1 size
    kernel_q: list = field(default_factory=list)


def numel(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def cfloat(v: float) -> str:
    """A float as a C literal."""
    s = repr(float(v))
    return s + "f" if ("." in s or "e" in s) else s + ".0f"


def scratch(size_fn: str, args: str, need: str = "") -> Scratch:
    """The scratch of a call whose kernel family sizes it with ``size_fn(&args)``; ``need``: the
    family's minimum (default: all of it)."""
    want = f"{size_fn}(&{args})"
    return Scratch(want, need or want)


class Emitter:
    """Turns IR nodes into C calls. ``ptr(name)`` gives a tensor's C pointer expression;
    ``row_stats(y)`` the (mean, rstd) buffer names of the forward call whose output is ``y``
    (an op with ``row_stats`` in the registry: layernorm)."""

    def __init__(self, g: Graph, ptr: Callable[[str], str], row_stats: Callable[[str], tuple],
                 ctx: str = "&g_ctx"):
        self.g, self.ptr, self.row_stats, self.ctx = g, ptr, row_stats, ctx

    def emit(self, idx: int, n: Node) -> CCall:
        from .ops import call_of, no_kernel_message
        c = call_of(n)
        if c is None or c.emit is None:
            raise CodegenError(no_kernel_message(n))
        return c.emit(self, idx, n)

    # helpers -------------------------------------------------------------------------------
    def shape(self, name: str):
        return tuple(self.g[name].shape)

    def p(self, name: str) -> str:
        return self.ptr(name)

    def call(self, c: CCall, kernel: str, *args: str) -> None:
        c.calls.append(f"{kernel}({', '.join((self.ctx,) + args)})")
        c.kernels.append(kernel)

    def tiled(self, c: CCall, rows: int, streams: list, args: list[str], pre=()) -> None:
        """The node's (single) call as a row tiling: streams (tensor, bytes per row, dir); a
        tensor may also be a (label, C pointer) pair (layernorm statistics)."""
        st = [(t, self.p(t), b, d) if isinstance(t, str) else (t[0], t[1], b, d)
              for t, b, d in streams]
        kernel = c.kernels[-1]
        c.tile = RowTile(kernel, rows, st, f"{kernel}(@CTX@, {', '.join(args)})", list(pre))

    def chunks(self, c: CCall, rows: int, streams: list, calls: list, pre=()) -> None:
        """The node's calls of self-tiling kernels (``c.calls``) as one chunk-only RowTile
        (``l1`` False) over ``rows``: streams (tensor or (label, C pointer), bytes per row or 0
        for an operand it needs whole, dir); ``calls``: the same calls for a chunk, with
        ``@P<i>@`` for stream i's pointer and ``@NR@``, ``@R0@`` for the chunk's rows (kernels
        with an argument struct: ``chunk_structs``), after the statements ``pre``."""
        st = [(t, self.p(t), b or self.g[t].nbytes, d if b else WHOLE) if isinstance(t, str)
              else (t[0], t[1], b, d) for t, b, d in streams]
        c.tile = RowTile(c.kernels[0], rows, st, calls[0], list(pre), l1=False,
                         then=list(calls[1:]))

    def chunk_structs(self, c: CCall, rows: int, streams: list, calls: list) -> None:
        """``chunks`` for kernels called with an argument struct: per call (kernel, struct
        type, struct name, {field: C value for a chunk}, pointer arguments); each call runs
        on a copy of its struct with those fields set."""
        pre, text = [], []
        for i, (kernel, atype, args, fields, ptrs) in enumerate(calls):
            v = f"ch{i}_"
            pre.append(f"{atype} {v} = {args};" + "".join(f" {v}.{f} = {x};"
                                                          for f, x in fields.items()))
            text.append(f"{kernel}(@CTX@, &{v}, {', '.join(ptrs)})")
        self.chunks(c, rows, streams, text, pre)
