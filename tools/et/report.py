"""Per-core console report of a run's @perf records (the harness of a later stage builds on it)."""
from __future__ import annotations

from collections import OrderedDict

from .devlog import LogState


def perf_table(state: LogState) -> str:
    """One table per (layer, phase): a row per core and the makespan (max cycles over cores)."""
    groups: "OrderedDict[tuple[str, str], list]" = OrderedDict()
    for r in state.of_type("perf"):
        groups.setdefault((r.get("layer", "?"), r.get("phase", "?")), []).append(r)
    if not groups:
        return "no @perf records"
    src = next((r.get("perf") for r in state.of_type("start")), "?")
    out = [f"counter source: {src}"]
    for (layer, phase), recs in groups.items():
        out.append(f"\n{layer} / {phase}")
        out.append(f"{'core':>4} {'cycles':>12} {'instret':>12} {'flop':>10} {'flop/instr':>11} {'dma_in B':>10}")
        for r in recs:
            instr, flop = r.int("instret"), r.int("flop", 0)
            fpi = f"{flop / instr:.3f}" if instr and flop else "-"
            out.append(f"{r.int('core'):>4} {r.int('cycles'):>12} {instr:>12} {flop:>10} {fpi:>11} "
                       f"{r.int('dma_in', 0):>10}")
        cyc = [r.int("cycles") for r in recs]
        flops = sum(r.int("flop", 0) for r in recs)
        line = f"  makespan {max(cyc)} cycles on {len(recs)} core(s)"
        if flops and max(cyc):
            line += f", {flops / max(cyc):.3f} FLOP/cycle for the cluster"
        out.append(line)
    return "\n".join(out)
