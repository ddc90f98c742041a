"""PNG plots of a harness report (tools/et/report.py): the layers with the most cycles, cycles per
block and per op type stacked by phase, memory per level over the step (from the memory plan),
the training loss and the held-out accuracy.

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


MAX_BARS = 25  # layers drawn one bar each (the most cycles first); the rest share one bar


def _top_layers(rows: list[dict], limit: int) -> tuple[list[dict], list[str]]:
    """The rows of the ``limit - 1`` layers with the most cycles (in order of appearance) and
    one bar "(N other layers)" summing the rest, when there are more than ``limit`` layers."""
    total: dict[str, int] = {}
    for r in rows:
        total[r["layer"]] = total.get(r["layer"], 0) + r["cycles"]
    layers = list(total)
    if len(layers) <= limit:
        return rows, layers
    order = sorted(layers, key=lambda k: -total[k])
    keep = set(order[:limit - 1])
    other = f"({len(layers) - len(keep)} other layers)"
    folded: dict[str, dict] = {}
    out = [r for r in rows if r["layer"] in keep]
    for r in rows:
        if r["layer"] not in keep:
            f = folded.setdefault(r["phase"], {"layer": other, "phase": r["phase"], "cycles": 0})
            f["cycles"] += r["cycles"]
    return out + list(folded.values()), order[:limit - 1] + [other]


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
                ax.set_xlim(0, max(bottom) * 1.04 if max(bottom) > 0 else 1)
                ax.invert_yaxis()  # first layer on top
                ax.set_xlabel(label)
                ax.grid(axis="x", alpha=0.3)
            else:
                ax.set_ylabel(label)
                ax.set_xlabel("layer")
                ax.grid(axis="y", alpha=0.3)
            ax.legend(title="phase", fontsize="small", loc="best")
        many = len(layers) < len({r["layer"] for r in rep["layers"]})
        ax.set_title(f"{rep['app'] or 'run'}: {'the layers with the most cycles' if many else 'cycles per layer'}"
                     f" ({rep['perf_source'] or '?'} counters)")
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


_BLOCK_RE = None


def block_of(layer: str) -> str | None:
    """The repeated block a layer belongs to (``blocks.1``, ``layer3``, ...) from its name, or
    None (a layer of the stem or the head)."""
    import re
    global _BLOCK_RE
    if _BLOCK_RE is None:
        _BLOCK_RE = re.compile(r"(?:^|[/.])((?:[A-Za-z_]*?)(?:blocks?|layers?|stages?|encoder)"
                               r"[._]?\d+)(?=$|[/.])")
    m = _BLOCK_RE.search(layer.removeprefix("update/"))
    return m.group(1) if m else None


def op_type(layer: str, kinds: dict[str, str]) -> str:
    """A layer's op type: the memory plan's op (``kinds``: layer -> op, forward and backward
    under one name), else read from the layer's name; LoRA's adapters apart, updates as SGD."""
    if layer.startswith("update/"):
        return "SGD update"
    if "/lora_" in layer:
        return "LoRA adapters"
    k = kinds.get(layer)
    if k:
        return k.split(" ")[0]
    parts = [p for p in layer.split("/") if p and not p.startswith(("bwd", "recompute"))]
    return parts[-1].rstrip("0123456789").rstrip("_") if parts else layer


def plot_breakdown(rep: dict, path: str, kinds: dict[str, str] | None = None) -> bool:
    """Two panels of cycles per step stacked by phase: per block (the stem before the first
    block, each block, the head after the last) and per op type (the 12 costliest)."""
    plt = _pyplot()
    from matplotlib import ticker
    rows = [r for r in rep["layers"] if r["phase"] != "total"]
    if not rows:
        return False
    kinds = kinds or {}
    per = rep["step"]["steps_measured"] or 1
    seen_block = False
    where: dict[str, str] = {}
    for r in rows:     # stem / head by position in the forward order of the log
        b = block_of(r["layer"])
        seen_block |= b is not None
        key = r["layer"].split("/")[1] if r["layer"].startswith("/") else r["layer"]
        where.setdefault(key, b or ("head" if seen_block else "stem"))
    groups: list[tuple[str, dict]] = []
    for title, key_of in (("block", lambda r: block_of(r["layer"]) or where.get(
            r["layer"].split("/")[1] if r["layer"].startswith("/") else r["layer"], "head")),
                          ("op type", lambda r: op_type(r["layer"], kinds))):
        acc: dict[str, dict[str, float]] = {}
        for r in rows:
            acc.setdefault(key_of(r), {}).setdefault(r["phase"], 0.0)
            acc[key_of(r)][r["phase"]] += r["cycles"] / per
        groups.append((title, acc))
    phases = [p for p in rep["phases"] if p != "total"]
    fig, axes = plt.subplots(1, 2, figsize=(12.0, 4.8), dpi=110)
    try:
        for ax, (title, acc) in zip(axes, groups):
            names = list(acc)
            if title == "op type":
                names = sorted(names, key=lambda k: -sum(acc[k].values()))
                if len(names) > 12:
                    rest = names[11:]
                    acc[f"({len(rest)} others)"] = {p: sum(acc[k].get(p, 0.0) for k in rest)
                                                   for p in phases}
                    names = names[:11] + [f"({len(rest)} others)"]
            left = [0.0] * len(names)
            others = iter(_OTHER_COLORS * 10)
            for p in phases:
                vals = [acc[k].get(p, 0.0) for k in names]
                ax.barh(names, vals, left=left, label=p,
                        color=PHASE_COLORS.get(p) or next(others), edgecolor="white", linewidth=0.5)
                left = [a + b for a, b in zip(left, vals)]
            total = sum(left) or 1.0
            for y, v in enumerate(left):
                ax.annotate(f"{100 * v / total:.0f}%", (v, y), textcoords="offset points",
                            xytext=(3, -3), fontsize="small")
            ax.invert_yaxis()
            ax.set_xlim(0, max(left) * 1.15 if max(left) > 0 else 1)
            ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _p: f"{v / 1e6:g}M"))
            ax.set_xlabel("cycles per step" + (" (IPC=1 estimate)" if rep.get("perf_source")
                                               == "qemu-icount" else ""))
            ax.set_title(f"per {title}")
            ax.grid(axis="x", alpha=0.3)
        axes[0].legend(title="phase", fontsize="small")
        fig.suptitle(f"{rep['app'] or 'run'}: where a training step's cycles go (layers only)")
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return True


def _nice_step(cap: int) -> int:
    """A tick step in KiB multiples that gives 4 to 10 ticks up to ``cap`` bytes."""
    step = 1024
    while cap / step > 10:
        step *= 2
    return step


def plot_memory(memplan: dict, path: str, app: str = "") -> bool:
    """Bytes per memory level over the step's kernel calls, from the memory plan: L2 (the
    capacity, code and runtime reserve, weights and optimizer state, the arena's live
    activations, gradients and staging buffers, the planned arena) and, when used, L3 (what
    lives there) and the L3 <-> L2 streaming (bytes the DMA copies for each call)."""
    plt = _pyplot()
    from matplotlib import ticker
    nodes = memplan.get("nodes", [])
    if not nodes:
        return False
    n = max(nd["index"] for nd in nodes) + 1
    live = {"L2": [0] * n, "L3": [0] * n}
    bufs: dict[tuple, list] = {}
    for t in memplan.get("tensors", []):
        if t["kind"] not in ("act", "grad", "stage") or t["level"] not in live:
            continue
        b = bufs.setdefault((t["level"], t.get("buffer") or t["name"]), [0, n, 0])
        b[0], b[1], b[2] = max(b[0], t["size"]), min(b[1], t["first"]), max(b[2], t["last"])
    for (level, _), (size, first, last) in bufs.items():
        for k in range(max(first, 0), min(last, n - 1) + 1):
            live[level][k] += size
    moved = [0] * n   # the plan's L3 <-> L2 copies, at the call they serve
    for nd in nodes:
        for tr in nd.get("transfers", []):
            if "L3" in (tr.get("from"), tr.get("to")) and nd["index"] < n:
                moved[nd["index"]] += tr.get("bytes", 0)
    tot = memplan["totals"]
    l3 = tot.get("L3", {})
    use_l3 = bool(l3.get("arena") or l3.get("persistent"))
    panels = 3 if use_l3 else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.0 * panels, 5.2), dpi=110, squeeze=False)
    kib = ticker.FuncFormatter(lambda v, _p: f"{v / 1024:.0f} KiB")

    def below(ax):
        ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)

    try:
        xs = list(range(n))
        l2 = tot["L2"]
        base = l2.get("reserve", 0) + l2.get("persistent", 0)
        ax = axes[0][0]
        ax.stackplot(xs, [l2.get("reserve", 0)] * n, [l2.get("persistent", 0)] * n, live["L2"],
                     labels=["code, runtime (reserve)", "weights, optimizer state",
                             "arena: live activations, gradients"],
                     colors=["#BBBBBB", "#8172B3", "#4C72B0"], alpha=0.9)
        ax.axhline(base + l2.get("arena", 0), color="#C44E52", linestyle="--", linewidth=1,
                   label=f"planned arena peak ({l2.get('arena', 0) / 1024:.0f} KiB)")
        ax.axhline(l2["capacity"], color="black", linewidth=1.2,
                   label=f"capacity ({l2['capacity'] / 1024:.0f} KiB)")
        phases = [nd["phase"] for nd in sorted(nodes, key=lambda nd: nd["index"])]
        back = next((k for k, p in enumerate(phases) if p not in ("fwd", "loss")), None)
        if back is not None:   # updates run among the backward calls, as soon as ready
            ax.axvline(back, color="#555555", linewidth=0.8, linestyle=":")
            ax.annotate("forward | backward and updates", (back, l2["capacity"]),
                        textcoords="offset points", xytext=(-60, 5), fontsize="small",
                        color="#555555")
        ax.set_ylim(0, l2["capacity"] * 1.1)
        ax.yaxis.set_major_locator(ticker.MultipleLocator(_nice_step(l2["capacity"])))
        ax.yaxis.set_major_formatter(kib)
        ax.set_xlabel("kernel call of the step")
        ax.set_title("L2")
        below(ax)
        ax.grid(alpha=0.3)
        if use_l3:
            bx, cx = axes[0][1], axes[0][2]
            bx.stackplot(xs, [l3.get("persistent", 0)] * n, live["L3"],
                         labels=["weights, optimizer state", "spilled activations, gradients"],
                         colors=["#8172B3", "#DD8452"], alpha=0.9)
            top = l3.get("persistent", 0) + max(live["L3"])
            bx.set_ylim(0, top * 1.1 or 1)
            bx.yaxis.set_major_locator(ticker.MultipleLocator(_nice_step(top)))
            bx.yaxis.set_major_formatter(kib)
            bx.set_xlabel("kernel call of the step")
            bx.set_title("L3: what lives there")
            below(bx)
            bx.grid(alpha=0.3)
            cx.bar(xs, moved, width=1.0, color="#55A868")
            cx.yaxis.set_major_locator(ticker.MultipleLocator(_nice_step(max(moved) or 1024)))
            cx.yaxis.set_major_formatter(kib)
            cx.set_xlabel("kernel call of the step")
            cx.set_title(f"L3 <-> L2 by DMA for each call ({sum(moved) / 1024:.0f} KiB per step)")
            cx.grid(alpha=0.3)
        fig.suptitle(f"{app or memplan.get('model', 'run')}: memory per level over a training step "
                     "(memory plan)")
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return True
