"""Per-core console report of a run's @perf records (the harness of a later stage builds on it)."""
from __future__ import annotations

import math
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


# --- The harness report: per layer and phase, totals, throughput, memory, JSON and plots ------
# Default clock: Siracusa's cluster. The Siracusa JSSC paper (Prasad et al., "Siracusa: A 16 nm
# Heterogenous RISC-V SoC for Extended Reality With At-MRAM Neural Engine", IEEE JSSC 59(7),
# 2024, doi:10.1109/JSSC.2024.3385987) and the Deeploy/TrainDeeploy papers that deploy on it
# (e.g. arXiv:2408.04413) run the 8-core cluster at about 370 MHz at 0.8 V. The figure was not
# re-measured here: it is the nominal clock for estimates; pass --freq-mhz for your board.
SIRACUSA_CLUSTER_MHZ = 370.0
FREQ_SOURCE = "Siracusa cluster, ~370 MHz at 0.8 V (Prasad et al., IEEE JSSC 2024; Deeploy)"
PHASE_ORDER = ("fwd", "bwd", "update")  # then any other phase, in order of appearance
REPORT_VERSION = 1


def _state_of(run):
    """(LogState, HarnessResult or None) of a HarnessResult or a LogState."""
    state = getattr(run, "state", None)
    return (state, run) if state is not None else (run, None)


def _phase_key(phase: str, seen: list[str]) -> int:
    return PHASE_ORDER.index(phase) if phase in PHASE_ORDER else len(PHASE_ORDER) + seen.index(phase)


def jsonable(v):
    """NaN and infinities (a diverged loss) as the strings 'nan', 'inf', '-inf' (strict JSON)."""
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    return v


def _ratio(a, b):
    return a / b if b else None


def layer_rows(state) -> list[dict]:
    """One row per (layer, phase) in order of appearance (summed as the records arrived:
    devlog.PerfTotals). A measurement is one record per core; when a (layer, phase, core)
    repeats, each occurrence (or each ``step=``) is a measurement of its own, also within one
    ``step=`` (a layer run in chunks, e.g. a streamed SGD update, logs one record per core and
    chunk). ``cycles`` is the sum over measurements of the makespan (max over cores)."""
    rows = state.perf.rows()
    for row in rows:
        row["dma_bytes"] = row["dma_in"] + row["dma_out"]
        row["flop_per_cycle"] = _ratio(row["flop"], row["cycles"])
    return rows


def _sum_rows(rows: list[dict]) -> dict:
    tot = {k: sum(r[k] for r in rows) for k in ("cycles", "instret_max", "instret_sum", "flop",
                                                "dma_in", "dma_out", "dma_bytes")}
    tot["flop_per_cycle"] = _ratio(tot["flop"], tot["cycles"])
    return tot


def _train_params(state) -> tuple[int | None, int | None]:
    """steps and batch from the last @train, else from @start (docs/devlog.md)."""
    steps = batch = None
    for r in state.records:
        if r.type in ("start", "train"):
            steps = r.int("steps") if "steps" in r.fields else steps
            batch = r.int("batch") if "batch" in r.fields else batch
    return steps, batch


def build_report(run, freq_mhz: float = SIRACUSA_CLUSTER_MHZ) -> dict:
    """Everything the report shows, as plain data (the content of report.json)."""
    state, res = _state_of(run)
    start = next(iter(state.of_type("start")), None)
    rows = layer_rows(state)
    seen_phases: list[str] = []
    for r in rows:
        if r["phase"] not in seen_phases:
            seen_phases.append(r["phase"])
    phases = {p: _sum_rows([r for r in rows if r["phase"] == p])
              for p in sorted(seen_phases, key=lambda p: _phase_key(p, seen_phases))}
    # a step's work: every phase but 'total' (a whole-stretch measurement), unless only that
    work = [r for r in rows if r["phase"] != "total"] or rows
    overall = _sum_rows(work)
    steps, batch = _train_params(state)
    step_ids = state.perf.step_ids
    measured = len(step_ids) if step_ids else steps
    step = {"steps": steps, "batch": batch, "steps_measured": measured,
            "cycles_per_step": None, "seconds_per_step": None, "images_per_s": None,
            "note": ""}
    if not work:
        step["note"] = "no @perf records"
    elif not measured:
        step["note"] = "no @train steps= (or @perf step=) in the log"
    else:
        step["cycles_per_step"] = overall["cycles"] / measured
        # the whole step (@step, core 0: layers plus batch loading and the DMA waits between
        # layers), when the program logs it: what a step really takes. Steps that were not
        # profiled (printing the @perf records is inside the profiled step's stretch).
        walls = [r.int("cycles") for r in state.of_type("step") if r.int("step") not in step_ids]
        if walls:
            step["layers_cycles_per_step"] = step["cycles_per_step"]
            step["cycles_per_step"] = sum(walls) / len(walls)
            step["outside_layers_cycles"] = step["cycles_per_step"] - step["layers_cycles_per_step"]
        step["seconds_per_step"] = step["cycles_per_step"] / (freq_mhz * 1e6)
        if batch:
            step["images_per_s"] = batch / step["seconds_per_step"] if step["seconds_per_step"] else None
        else:
            step["note"] = "no batch= in @train/@start"
    losses = [{"step": r.int("step"), "value": r.float("value")} for r in state.of_type("loss")]
    evals = [{"step": r.int("step"), "n": r.int("n"), "loss": r.float("loss"),
              "correct": r.int("correct") if "correct" in r.fields else None,
              "accuracy": _ratio(r.int("correct"), r.int("n")) if "correct" in r.fields else None}
             for r in state.of_type("eval")]
    memory = []
    for r in state.of_type("mem"):
        peak = r.int("peak") if "peak" in r.fields else None
        used = peak if peak is not None else r.int("static")
        memory.append({"level": r["level"], "cap": r.int("cap"), "static": r.int("static"),
                       "peak": peak, "used": used, "used_pct": _ratio(100.0 * used, r.int("cap"))})
    rep = {
        "version": REPORT_VERSION,
        "app": start.get("app") if start else None, "target": start.get("target") if start else None,
        "cores": start.int("cores") if start and "cores" in start.fields else None,
        "perf_source": start.get("perf") if start else None,
        "freq_mhz": freq_mhz, "freq_note": FREQ_SOURCE if freq_mhz == SIRACUSA_CLUSTER_MHZ else "given",
        "layers": rows, "phases": phases, "total": overall, "step": step,
        "loss": losses, "eval": evals, "memory": memory,
        "results": [{"name": r["name"], "ok": r["ok"] == "1", "value": r.get("value"),
                     "ref": r.get("ref")} for r in state.of_type("result")],
    }
    if res is not None:
        rep["run"] = {"status": res.status, "exit_code": res.exit_code, "done_code": res.done_code,
                      "fault": dict(res.fault.fields) if res.fault else None,
                      "elapsed_s": round(res.elapsed, 3), "lines": res.lines,
                      "records": state.count, "dropped": res.dropped, "lost": res.lost,
                      "duplicates": res.duplicates, "sealed": res.sealed,
                      "recovered": res.recovered, "restarts": res.restarts,
                      "warnings": res.warnings, "dropped_lines": res.dropped_lines[:10]}
    else:
        rep["run"] = {"status": "done" if state.exit_code is not None else
                      "fault" if state.fault else "truncated", "done_code": state.exit_code,
                      "records": state.count}
    return rep


def _num(v, fmt="{:,}") -> str:
    if v is None:
        return "n/a"
    return fmt.format(v)


# What a report's "cycles" are, per counter source (hal_perf.h): only mcycle is a cycle count.
COUNTER_MEANING = {
    "mcycle": "cycles are measured (mcycle, wall clock of each core)",
    "qemu-icount": "'cycles' are the IPC = 1 estimate: qemu instructions plus barrier waits, "
                   "not cycles (measure cycles in GVSoC: target=siracusa)",
    "host-clock": "'cycles' are host nanoseconds",
}


def counter_meaning(rep: dict) -> str:
    return COUNTER_MEANING.get(rep.get("perf_source") or "", "counter source unknown")


# What a step's time and images/s rest on, per counter source, where it is not measured cycles
ESTIMATE_TAG = {"mcycle": "",
                "qemu-icount": " (IPC = 1 estimate from qemu's instructions, not a measured time)",
                "host-clock": " (from host nanoseconds: not the chip)"}


def _estimate_tag(rep: dict) -> str:
    return ESTIMATE_TAG.get(rep.get("perf_source") or "", " (counter source unknown)")


def format_report(rep: dict, max_rows: int | None = None) -> str:
    """The tables of a report made by build_report(); ``max_rows``: at most that many layer
    rows, the ones with the most cycles (the console; report.txt has them all)."""
    out = []
    run = rep["run"]
    head = (f"EdgeTune run report: app={rep['app'] or '?'} target={rep['target'] or '?'} "
            f"cores={rep['cores'] or '?'} counters={rep['perf_source'] or '?'}")
    out.append(head)
    out.append(f"counters: {counter_meaning(rep)}")
    line = f"run: {run['status']}"
    if "exit_code" in run:
        line += (f", exit code {run['exit_code']}; {run['lines']} lines, {run['records']} records, "
                 f"{run['dropped']} dropped, "
                 + (f"{run['lost']} lost (sealed log)" if run.get("sealed") else "unsealed log")
                 + f", {run['recovered']} recovered from noise")
    out.append(line)
    for w in run.get("warnings", []):
        out.append(f"warning: {w}")
    cols = (("layer", 12, "s"), ("phase", 7, "s"), ("n", 3, "d"), ("cycles", 13, ","),
            ("instr max", 13, ","), ("instr sum", 14, ","), ("FLOP", 14, ","),
            ("FLOP/cyc", 9, ".3f"), ("DMA B", 12, ","))

    def fmt_row(vals):
        cells = []
        for (name, width, f), v in zip(cols, vals):
            text = "-" if v is None else (format(v, f) if f != "s" else str(v))
            cells.append(text.ljust(width) if f == "s" else text.rjust(width))
        return " ".join(cells)

    def data(r):
        return [r["cycles"], r["instret_max"], r["instret_sum"], r["flop"], r["flop_per_cycle"],
                r["dma_bytes"]]

    if not rep["layers"]:
        out.append("\nno @perf records")
    else:
        rows = rep["layers"]
        shown = rows
        if max_rows is not None and len(rows) > max_rows:
            top = {id(r) for r in sorted(rows, key=lambda r: -r["cycles"])[:max_rows]}
            shown = [r for r in rows if id(r) in top]
        out.append("\nper layer and phase (cycles: makespan = max over cores, summed over the n "
                   "measurements)" + (f"; the {len(shown)} of {len(rows)} rows with the most "
                                      "cycles (all in report.txt)" if shown is not rows else ""))
        out.append(" ".join(c[0].ljust(c[1]) if c[2] == "s" else c[0].rjust(c[1]) for c in cols))
        for r in shown:
            out.append(fmt_row([r["layer"], r["phase"], r["measurements"]] + data(r)))
        out.append("totals per phase")
        for p, t in rep["phases"].items():
            out.append(fmt_row(["(all)", p, None] + data(t)))
        out.append(fmt_row(["(all)", "all", None] + data(rep["total"])))
    st = rep["step"]
    out.append(f"\ntraining: steps={_num(st['steps'])} batch={_num(st['batch'])} "
               f"steps measured={_num(st['steps_measured'])}")
    if st["cycles_per_step"] is not None:
        if st.get("layers_cycles_per_step") is not None:
            out.append(f"per step (@step of the unprofiled steps, core 0): {st['cycles_per_step']:,.0f} "
                       f"cycles, of which layers {st['layers_cycles_per_step']:,.0f} and "
                       f"{st['outside_layers_cycles']:,.0f} outside them (batch load, DMA waits "
                       "between layers)")
        out.append(f"per step: {st['cycles_per_step']:,.0f} cycles = "
                   f"{st['seconds_per_step'] * 1e3:.3f} ms at {rep['freq_mhz']:g} MHz"
                   + _estimate_tag(rep))
    ips = _num(st["images_per_s"], "{:.2f}")
    out.append(f"trained images/s at {rep['freq_mhz']:g} MHz: {ips}"
               + (f" ({st['note']})" if st["images_per_s"] is None and st["note"] else
                  _estimate_tag(rep) if st["images_per_s"] is not None else ""))
    if rep["loss"]:
        ls = rep["loss"]
        out.append(f"loss: {len(ls)} values, first {ls[0]['value']:.6g} (step {ls[0]['step']}), "
                   f"last {ls[-1]['value']:.6g} (step {ls[-1]['step']})")
    if rep.get("eval"):
        ev = rep["eval"]
        what = (f"accuracy {ev[0]['accuracy']:.1%} -> {ev[-1]['accuracy']:.1%}"
                if ev[0]["accuracy"] is not None else "")
        out.append(f"held-out ({ev[-1]['n']} samples, never trained on, forward only on the "
                   f"device): {what}{', ' if what else ''}loss {ev[0]['loss']:.4g} -> "
                   f"{ev[-1]['loss']:.4g}")
        out.append("  " + ", ".join(
            f"step {e['step']}: " + (f"{e['correct']}/{e['n']} = {e['accuracy']:.1%}"
                                     if e["accuracy"] is not None else f"loss {e['loss']:.4g}")
            for e in ev))
    if rep["memory"]:
        out.append("\nmemory   " + f"{'capacity':>12} {'static':>12} {'peak':>12} {'used %':>7}"
                   "  (peak, else static)")
        for m in rep["memory"]:
            out.append(f"{m['level']:<8} {m['cap']:>12,} {m['static']:>12,} "
                       f"{_num(m['peak']):>12} {_num(m['used_pct'], '{:.1f}%'):>7}")
    for r in rep["results"]:
        out.append(f"result {r['name']}: {'ok' if r['ok'] else 'FAILED'} value={r['value']} ref={r['ref']}")
    return "\n".join(out)


def write_report(result, outdir: str, freq_mhz: float = SIRACUSA_CLUSTER_MHZ,
                 memplan: dict | None = None) -> dict:
    """Write report.json, report.txt, cycles_per_layer.png (the costliest layers),
    cycles_breakdown.png (per block and op type), (with @loss) loss.png and, given the run's
    memory plan, memory.png into ``outdir``; returns the report data with ``files`` (the
    paths written)."""
    import json
    import os

    from .report_plots import plot_breakdown, plot_cycles, plot_loss, plot_memory

    os.makedirs(outdir, exist_ok=True)
    rep = build_report(result, freq_mhz=freq_mhz)
    files = []
    txt = os.path.join(outdir, "report.txt")
    with open(txt, "w") as f:
        f.write(format_report(rep) + "\n")
    files.append(txt)
    png = os.path.join(outdir, "cycles_per_layer.png")
    if plot_cycles(rep, png):
        files.append(png)
    png = os.path.join(outdir, "cycles_breakdown.png")
    kinds = {nd["layer"]: nd["op"] for nd in (memplan or {}).get("nodes", [])
             if "layer" in nd and "op" in nd}
    if plot_breakdown(rep, png, kinds):
        files.append(png)
    png = os.path.join(outdir, "loss.png")
    if rep["loss"] and plot_loss(rep, png):
        files.append(png)
    png = os.path.join(outdir, "memory.png")
    if memplan and plot_memory(memplan, png, rep["app"] or ""):
        files.append(png)
    path = os.path.join(outdir, "report.json")
    rep["files"] = [os.path.basename(p) for p in files] + ["report.json"]
    with open(path, "w") as f:
        json.dump(jsonable(rep), f, indent=1, allow_nan=False, default=str)
    return rep


HYPERRAM_SHARE = 0.5  # a layer whose L3 transfers need this share of its measured cycles or more


def hyperram_lines(rep: dict, memplan: dict) -> list[str]:
    """Layers whose L3 <-> L2 transfers (bytes from the memory plan, cycles at the target's
    measured HyperRAM bandwidth) take at least HYPERRAM_SHARE of the layer's measured cycles:
    where HyperRAM bandwidth, not compute, limits the step. Empty without such layers or
    without a bandwidth for the target (qemu: transfers are free there)."""
    measured: dict[str, float] = {}
    for r in rep["layers"]:
        measured[r["layer"]] = measured.get(r["layer"], 0.0) + r["cycles"]
    n = rep["step"]["steps_measured"] or 1
    l3 = [x for x in memplan.get("nodes", []) if x.get("l3_cycles")]
    if not l3 or not measured:
        return []
    total = sum(x["l3_cycles"] for x in l3)
    step = rep["step"]["cycles_per_step"] or 0
    out = [f"HyperRAM: {total:,} cycles of L3 transfers per step at the measured bandwidth "
           f"({sum(x['l3_read_bytes'] for x in l3):,} B read, "
           f"{sum(x['l3_write_bytes'] for x in l3):,} B written)"
           + (f" = {100.0 * total / step:.1f}% of the measured step" if step else "")]
    for x in l3:
        cyc = measured.get(x["layer"], 0.0) / n
        if cyc and x["l3_cycles"] >= HYPERRAM_SHARE * cyc:
            out.append(f"  HyperRAM-bound: {x['layer']}: L3 transfers {x['l3_cycles']:,} cycles, "
                       f"layer measured {cyc:,.0f} cycles")
    return out
