"""PNG plots of a harness report (tools/et/report.py): cycles per layer and the loss curve.

matplotlib with the Agg backend (no display needed); imported only when a report is written.
"""
from __future__ import annotations

import math

PHASE_COLORS = {"fwd": "#4C72B0", "bwd": "#DD8452", "update": "#55A868", "total": "#8C8C8C"}
_OTHER_COLORS = ("#C44E52", "#8172B3", "#937860", "#DA8BC3", "#CCB974", "#64B5CD")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


MAX_BARS = 40  # layers drawn one bar each; the rest share one bar


def _top_layers(rows: list[dict], limit: int) -> tuple[list[dict], list[str]]:
    """The rows of the ``limit - 1`` layers with the most cycles (in order of appearance) and
    one bar "(N other layers)" summing the rest, when there are more than ``limit`` layers."""
    total: dict[str, int] = {}
    for r in rows:
        total[r["layer"]] = total.get(r["layer"], 0) + r["cycles"]
    layers = list(total)
    if len(layers) <= limit:
        return rows, layers
    keep = set(sorted(layers, key=lambda k: -total[k])[:limit - 1])
    other = f"({len(layers) - len(keep)} other layers)"
    folded: dict[str, dict] = {}
    out = [r for r in rows if r["layer"] in keep]
    for r in rows:
        if r["layer"] not in keep:
            f = folded.setdefault(r["phase"], {"layer": other, "phase": r["phase"], "cycles": 0})
            f["cycles"] += r["cycles"]
    return out + list(folded.values()), [k for k in layers if k in keep] + [other]


def plot_cycles(rep: dict, path: str) -> bool:
    """Stacked bar per layer, one segment per phase (fwd, bwd, update, ...), in cycles per step
    when the steps are known, else the cycles of the whole log."""
    plt = _pyplot()
    from matplotlib import ticker
    rows, layers = _top_layers(rep["layers"], MAX_BARS)
    per = rep["step"]["steps_measured"] or 1
    # 'total' measures a whole stretch: stacked on top of fwd/bwd/update it would count twice
    phases = [p for p in rep["phases"] if p != "total"] or list(rep["phases"])
    horizontal = len(layers) > 10  # many layers: one row each, names stay readable
    size = (9.0, 1.5 + 0.32 * len(layers)) if horizontal else (max(6.0, 0.7 * len(layers) + 3), 4.5)
    fig, ax = plt.subplots(figsize=size, dpi=110)
    try:
        if not rows:
            ax.text(0.5, 0.5, "no @perf records in the log", ha="center", va="center",
                    transform=ax.transAxes)
            ax.set_axis_off()
        else:
            bottom = [0.0] * len(layers)
            others = iter(_OTHER_COLORS * 10)
            cyc: dict = {}
            for r in rows:
                cyc[(r["layer"], r["phase"])] = cyc.get((r["layer"], r["phase"]), 0) + r["cycles"]
            for p in phases:
                vals = [cyc.get((lay, p), 0) / per for lay in layers]
                style = dict(label=p, color=PHASE_COLORS.get(p) or next(others), edgecolor="white",
                             linewidth=0.5)
                if horizontal:
                    ax.barh(layers, vals, left=bottom, **style)
                else:
                    ax.bar(layers, vals, bottom=bottom, **style)
                bottom = [b + v for b, v in zip(bottom, vals)]
            unit = "per step" if rep["step"]["steps_measured"] else "whole log"
            what = {"mcycle": "cycles, measured", "qemu-icount": "IPC=1 estimate, not cycles",
                    "host-clock": "host ns"}.get(rep.get("perf_source") or "", "counts")
            label = f"{what} ({unit}, makespan over cores)"
            axis = ax.xaxis if horizontal else ax.yaxis
            axis.set_major_formatter(ticker.FuncFormatter(lambda v, _pos: f"{v:,.0f}"))
            if horizontal:
                ax.invert_yaxis()  # first layer on top
                ax.set_xlabel(label)
                ax.grid(axis="x", alpha=0.3)
            else:
                ax.set_ylabel(label)
                ax.set_xlabel("layer")
                ax.grid(axis="y", alpha=0.3)
            ax.legend(title="phase", fontsize="small", loc="best")
        ax.set_title(f"{rep['app'] or 'run'}: cycles per layer ({rep['perf_source'] or '?'} counters)")
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return True


def plot_loss(rep: dict, path: str) -> bool:
    """Training loss against step (each step's batch, and its running mean over 10 steps when
    there are many); beside it, with held-out evaluations (@eval), their accuracy (or loss)
    against step. Non-finite losses are left out and counted in the title."""
    plt = _pyplot()
    from matplotlib import ticker
    pts = [(p["step"], p["value"]) for p in rep["loss"]]
    good = [(s, v) for s, v in pts if math.isfinite(v)]
    evals = rep.get("eval") or []
    fig, axes = plt.subplots(1, 2 if evals else 1, figsize=(11.0 if evals else 6.5, 4.0), dpi=110,
                             squeeze=False)
    ax = axes[0][0]
    try:
        if good:
            xs, ys = zip(*good)
            many = len(good) > 50
            ax.plot(xs, ys, marker=None if many else "o", markersize=3,
                    linewidth=0.8 if many else 1.2, alpha=0.45 if many else 1.0,
                    label="each step's batch")
            if many:
                k = 10
                run = [sum(ys[max(0, i - k + 1):i + 1]) / len(ys[max(0, i - k + 1):i + 1])
                       for i in range(len(ys))]
                ax.plot(xs, run, linewidth=2.0, color="#C44E52", label=f"mean of the last {k}")
                ax.legend(fontsize="small")
        title = f"{rep['app'] or 'run'}: training loss"
        if len(good) < len(pts):
            title += f" ({len(pts) - len(good)} non-finite values not shown)"
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
        ax.set_ylabel("loss")
        ax.grid(alpha=0.3)
        if evals:
            bx = axes[0][1]
            xs = [e["step"] for e in evals]
            acc = evals[0]["accuracy"] is not None
            ys = [100.0 * e["accuracy"] if acc else e["loss"] for e in evals]
            bx.plot(xs, ys, marker="o", linewidth=1.8, color="#55A868")
            for x, y in zip(xs, ys):
                bx.annotate(f"{y:.1f}%" if acc else f"{y:.3g}", (x, y), textcoords="offset points",
                            xytext=(0, 7), ha="center", fontsize="small")
            bx.set_title(f"held-out {'accuracy' if acc else 'loss'} ({evals[-1]['n']} samples, "
                         "never trained on)")
            bx.set_xlabel("step")
            bx.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
            bx.set_ylabel("accuracy (%)" if acc else "loss")
            if acc:
                bx.set_ylim(0, 105)
            bx.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return True
