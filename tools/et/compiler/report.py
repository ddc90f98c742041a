"""Per-strategy summary: FLOP forward/backward, trainable parameters, gradient bytes, arena peak."""
from __future__ import annotations

import onnx

from ..targets import Target
from .memory import ArenaPlanner, MemoryPlanner
from .onnx_import import import_onnx
from .training import Hyper, build_training_graph, stats


def summarize(model: str | onnx.ModelProto, strategies: list[str], loss: str = "ce",
              batch: int = 1, target: str | Target = "siracusa",
              hyper: Hyper | None = None, planner: MemoryPlanner | None = None) -> list[dict]:
    """One row per strategy (the model is re-imported for each, since LoRA modifies it)."""
    proto = onnx.load(model) if isinstance(model, str) else model
    planner = planner or ArenaPlanner()
    rows = []
    for s in strategies:
        g = import_onnx(proto, batch=batch)
        build_training_graph(g, s, loss, hyper or Hyper())
        row = stats(g)
        plan = planner.plan(g, target, strict=False)
        row.update(arena_peak=plan.arena_peak, no_reuse=plan.no_reuse, fits=plan.fits,
                   error=plan.error, weights_l2=plan.level_bytes.get("L2", 0),
                   weights_l3=plan.level_bytes.get("L3", 0))
        rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    """Plain-text table of ``summarize`` rows."""
    head = (f"{'strategy':<22} {'FLOP fwd':>12} {'FLOP bwd':>12} {'trainable':>10} "
            f"{'grad bytes':>11} {'arena peak':>11} {'no reuse':>10} {'fits L2':>7}")
    out = [head, "-" * len(head)]
    for r in rows:
        out.append(f"{r['strategy']:<22} {r['flop_fwd']:>12,} {r['flop_bwd']:>12,} "
                   f"{r['trainable']:>10,} {r['grad_bytes']:>11,} {r['arena_peak']:>11,} "
                   f"{r['no_reuse']:>10,} {'yes' if r['fits'] else 'NO':>7}")
    return "\n".join(out)
