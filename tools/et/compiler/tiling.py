"""L1 row tiling of the kernels that do not tile themselves (element-wise and row-wise kernels,
max-pool planes, SGD): how many rows per tile fit the L1 scratch with double buffering, the tile
loop the generated code runs (sdk/include/et_tile.h), and the tiles as memory-plan data.

The GEMM and conv2d kernels tile through L1 with their own DMA drivers (their tiles depend on
the L1 scratch they are given, ``l1_scratch`` in memplan.json); every other kernel call whose
emitter describes a ``RowTile`` is split here into tiles of whole rows, so each call computes
on L1 copies of its operands. Row-separable kernels compute every row the same way whatever the
tile, so the results are bit-identical to the untiled call."""
from __future__ import annotations

from .kernelmap import IN, INOUT, OUT, WHOLE, RowTile


def _up8(n: int) -> int:
    return (n + 7) // 8 * 8


def tile_rows(tile: RowTile, budget: int) -> int:
    """Rows per tile: two buffers per split stream and one per whole stream fit ``budget``
    bytes of L1 (each buffer 8-byte aligned, as et_tile_begin lays them out); 0 if even one
    row does not fit."""
    whole = sum(_up8(b) for _, _, b, d in tile.streams if d == WHOLE)
    per_row = sum(b for _, _, b, d in tile.streams if d != WHOLE)
    nsplit = sum(1 for _, _, _, d in tile.streams if d != WHOLE)
    room = budget - whole - 2 * 8 * nsplit
    if per_row == 0:
        return tile.rows
    return max(0, min(tile.rows, room // (2 * per_row)))


def tile_loop(tile: RowTile, rows_per_tile: int, flop_c: str) -> dict:
    """The template's tile loop (net.c.j2, macro tile_loop) for ``tile``: its streams, rows,
    rows per tile, the statements and the call with the tile's pointers (``tl_.p[i]``), and
    ``flop_c``, the FLOP of one tile (C)."""
    def sub(text: str) -> str:
        return tile.fill(text, [f"tl_.p[{i}]" for i in range(len(tile.streams))], "tl_.nr",
                         "&tl_.ctx", tile_r0(tile))

    return {"streams": [{"ptr": p, "bytes": b, "dir": d} for _, p, b, d in tile.streams],
            "rows": tile.rows_c or f"{tile.rows}u", "per_tile": rows_per_tile,
            "pre": [sub(p) for p in tile.pre], "call": sub(tile.call), "flop": flop_c,
            "kernel": tile.kernel}


def tile_r0(tile: RowTile) -> str:
    """C: the current L1 tile's first row in the node's rows (et_tiler counts from the call's)."""
    return f"(unsigned)({tile.row0} + tl_.r0)" if tile.row0 else "tl_.r0"


def tile_flop(flop: int, rows: int, r0: str = "tl_.r0", nr: str = "tl_.nr") -> str:
    """C: the FLOP of the rows ``r0`` .. ``r0 + nr`` (C expressions; default the current tile),
    a share of ``flop`` over ``rows`` rows that adds up to exactly ``flop`` over the tiles: FLOP
    per row times the rows when every row does the same work (one multiply), else the
    difference of two rounded 64-bit shares."""
    if flop % rows == 0:
        return f"{flop // rows}u * {nr}"
    return (f"(uint32_t)(((uint64_t){flop}u * ({r0} + {nr})) / {rows}u - "
            f"((uint64_t){flop}u * {r0}) / {rows}u)")


def tile_info(tile: RowTile, rows_per_tile: int) -> dict:
    """The tiling of one node for memplan.json: rows, tiles, L1 bytes, bytes each way."""
    nt = -(-tile.rows // rows_per_tile) if rows_per_tile else 0
    split = [(n, b, d) for n, _, b, d in tile.streams if d != WHOLE]
    whole = [(n, b) for n, _, b, d in tile.streams if d == WHOLE]
    return {
        "kernel": tile.kernel, "rows": tile.rows, "tile_rows": rows_per_tile, "tiles": nt,
        "l1_bytes": sum(_up8(b) for _, b in whole)
        + sum(2 * _up8(rows_per_tile * b) for _, b, _ in split),
        "l2_to_l1_bytes": sum(b for _, b in whole)
        + tile.rows * sum(b for _, b, d in split if d in (IN, INOUT)),
        "l1_to_l2_bytes": tile.rows * sum(b for _, b, d in split if d in (OUT, INOUT)),
        "streams": [{"operand": n, "dir": d.replace("ET_TILE_", "").lower(), "row_bytes": b}
                    for n, _, b, d in tile.streams],
    }
