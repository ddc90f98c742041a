"""Per-strategy summary: FLOP, trainable parameters, gradient bytes, and the memory plan (the
same plan the code generator uses: updates scheduled early, the L2 code reserve, L3 streaming):
weights per level, peak dynamic memory per level, the baselines, bytes moved per step."""
from __future__ import annotations

import onnx

from ..targets import Target, get_target
from .memory import PERSISTENT, MemoryPlanner, staging_entries
from .onnx_import import import_onnx, load_model
from .batchsplit import choose as choose_plan
from .training import Hyper, stats, training_program

# the CCT strategies of the paper (TrainDeeploy) and of issue 7's table
ALL_STRATEGIES = ["last", "blocks:1", "blocks:2", "lora:r=4,blocks=1", "lora:r=4", "all"]


def summarize(model: str | onnx.ModelProto, strategies: list[str], loss: str = "ce",
              batch: int = 1, target: str | Target = "siracusa",
              hyper: Hyper | None = None, planner: MemoryPlanner | None = None,
              stream: bool = True, batchnorm: str = "export",
              accumulate: int = 1, recompute: str = "off",
              split: int | str = "auto") -> list[dict]:
    """One row per strategy (the model is re-imported for each, since LoRA modifies it)."""
    from .codegen import L1_MARGIN, plan_memory
    proto = load_model(model) if isinstance(model, str) else model
    tgt = get_target(target) if isinstance(target, str) else target
    rows = []
    def build(strategy, choice, split):
        g = import_onnx(proto, batch=batch, max_fold_bytes=sum(tgt.capacities.values()),
                        batchnorm=batchnorm)
        training_program(g, strategy, loss, hyper or Hyper(), accumulate, choice, split)
        return g, (planner.plan(g, tgt, strict=False) if planner
                   else plan_memory(g, tgt, stream=stream, strict=False))

    for s in strategies:
        g, plan = choose_plan(split, batch, recompute, lambda c, sp: build(s, c, sp))
        row = stats(g)
        row["recompute"] = g.meta["recompute"]
        # traffic if every weight and optimizer state lived in L3 (comparable across strategies)
        every = {t.name for t in g.tensors.values() if t.kind in ("param", "const", "state")}
        ent = staging_entries(g, every)
        row.update(arena_peak=plan.arena_peak, l3_arena=plan.l3_arena_peak,
                   dynamic=plan.dynamic, no_reuse=plan.no_reuse,
                   naive_peak=plan.naive_peak, staging=plan.staging, fits=plan.fits,
                   error=plan.error, weights_l2=plan.level_bytes.get("L2", 0),
                   weights_l3=plan.level_bytes.get("L3", 0),
                   weights=sum(t.nbytes for t in g.tensors.values()
                               if t.kind in ("param", "const", "state")),
                   l1_peak=tgt.capacities["L1"] - tgt.cores * tgt.stack_per_core - L1_MARGIN,
                   l3_to_l2=plan.traffic.get("l3_to_l2", 0),
                   l2_to_l3=plan.traffic.get("l2_to_l3", 0),
                   l2_l1=plan.traffic.get("l2_l1_model", 0),
                   l3_all=sum(t["size"] for e in ent for t in e["tensors"])
                   + sum(t["size"] for e in ent for t in e["tensors"] if t["write_back"]))
        rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    """Plain-text table of ``summarize`` rows (bytes unless said otherwise)."""
    head = (f"{'strategy':<18} {'trainable':>9} {'grad B':>9} {'weights L2':>10} "
            f"{'weights L3':>10} {'L2 peak':>9} {'L3 arena':>9} {'staging':>8} {'naive':>9} "
            f"{'no reuse':>10} "
            f"{'L1 peak':>8} {'L3->L2/st':>10} {'L2->L3/st':>10} {'L2<>L1/st':>11} "
            f"{'fits':>4}")
    out = [head, "-" * len(head)]
    for r in rows:
        fit = r["fits"]
        w2 = f"{r['weights_l2']:,}" if fit else "-"
        w3 = f"{r['weights_l3']:,}" if fit else "-"
        out.append(f"{r['strategy']:<18} {r['trainable']:>9,} {r['grad_bytes']:>9,} {w2:>10} "
                   f"{w3:>10} {r['arena_peak']:>9,} {r['l3_arena']:>9,} {r['staging']:>8,} "
                   f"{r['naive_peak']:>9,} "
                   f"{r['no_reuse']:>10,} {r['l1_peak']:>8,} "
                   f"{(r['l3_to_l2'] if fit else 0):>10,} {(r['l2_to_l3'] if fit else 0):>10,} "
                   f"{r['l2_l1']:>11,} {'yes' if fit else 'NO':>4}")
    for r in rows:
        rc = r.get("recompute", {})
        if rc.get("asked", "off") != "off":
            step = r["flop_fwd"] + r["flop_bwd"] + r["flop_update"]
            out.append(f"{r['strategy']}: recompute {rc['asked']} -> "
                       + (f"{rc['choice']}: {rc['nodes']} nodes in {rc['segments']} segment(s), "
                          f"+{rc['flop']:,} FLOP per step ({100 * rc['flop'] / step:.1f}% of "
                          f"the step), L2 arena {-rc['saved']['l2_arena']:+,} B, L3 arena "
                          f"{-rc['saved']['l3_arena']:+,} B" if rc["choice"] != "off"
                          else "off (the plan fits without spilling to L3)" if r["fits"]
                          else "off (no recomputation makes it fit or spill less)"))
    out.append("L2 peak: the planner's arena peak (activations, gradients, L3 staging buffers; "
               "peak dynamic L2 memory); L3 arena: activations and gradients spilled to L3 "
               "(staged through L2 like L3 weights); naive: first-fit in topological order (L2 "
               "arena); no reuse: sum of all; L1 peak: the kernels' scratch; L2<>L1/st: lower "
               "bound, every kernel moving its operands once (the run's @dma records measure it)")
    return "\n".join(out)


def ratios(rows: list[dict]) -> str:
    """LoRA / full backprop lines (TrainDeeploy: 0.77 dynamic memory, 1/1.6 = 0.63 traffic)."""
    by = {r["strategy"]: r for r in rows}
    full = by.get("all")
    out = []
    for s in ("lora:r=4", "lora:r=4,blocks=1"):
        lo = by.get(s)
        if not (lo and full):
            continue
        dyn = lo["dynamic"] / max(1, full["dynamic"])
        plan_lo = lo["l3_to_l2"] + lo["l2_to_l3"] + lo["l2_l1"]
        plan_full = full["l3_to_l2"] + full["l2_to_l3"] + full["l2_l1"]
        t_lo = lo["l3_all"] + lo["l2_l1"]
        t_full = full["l3_all"] + full["l2_l1"]
        grads = lo["grad_bytes"] / max(1, full["grad_bytes"])
        out.append(f"LoRA / full backprop ({s} / all): peak dynamic memory (L2 + L3 arenas) "
                   f"{dyn:.2f} (paper 0.77); traffic per step, planned {plan_lo / plan_full:.2f}"
                   f" = 1/{plan_full / plan_lo:.2f}, with every weight streamed from L3 "
                   f"{t_lo / t_full:.2f} = 1/{t_full / t_lo:.2f} (paper 1/1.6; L3<->L2 + the "
                   f"L2<->L1 model); trainable/gradients {grads:.3f} = "
                   f"1/{1 / max(grads, 1e-12):.1f} (paper 1/15)")
    return "\n".join(out)


__all__ = ["ALL_STRATEGIES", "PERSISTENT", "summarize", "table", "ratios"]
