"""The training benchmark behind ``tools/bench.py``: CCT-2 with the paper's strategies and
Deep-AE, built for ``qemu`` with 8 and with 1 core, run with deterministic counters, measured
from the device log, written to ``docs/benchmarks.md`` (and the README's table).

Every figure comes from a run or from the compiler's plan of the same program: the device log
(@perf: instructions, cycles, FLOP per layer; @dma: bytes per step and direction; @mem: peaks)
read by the harness, and ``memplan.json`` / ``report.summarize`` for trainable parameters,
gradient bytes and the planned peaks. A row that cannot be built (say, a plan that does not fit
the target) keeps its plan columns and says why it has no measurement.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field

from .buildlock import BuildLock, claim
from .compiler.appbuild import ROOT, app_spec
from .compiler.codegen import GenSpec
from .compiler.report import summarize
from .compiler.training import Hyper
from .harness import Harness, lines_source
from .qemu import QemuBoard
from .report import SIRACUSA_CLUSTER_MHZ, build_report, hyperram_lines

# TrainDeeploy (Siracusa, fp32 training; Deeploy's paper): the published figures we compare with
PAPER = {
    "cct_img_s": 11.0,          # CCT: up to 11 trained images per second
    "cct_flop_cycle": 4.6,      # CCT: FLOP per cluster cycle
    "ae_flop_cycle": 13.4,      # Deep-AE: FLOP per cluster cycle
    "lora_dyn_mem": 0.77,       # LoRA / full backprop: 23% less dynamic memory
    "lora_trainable": 1 / 15,   # 15x fewer trainable parameters and gradients
    "lora_traffic": 1 / 1.6,    # 1.6x less memory traffic
}


@dataclass
class Row:
    """One benchmark row: an app's train.json with overrides, or (``zoo``) a model of the zoo
    (et.models.zoo, full size, its TorchScript export) with ``overrides["strategy"]``."""

    key: str
    workload: str
    app: str = ""
    overrides: dict = field(default_factory=dict)
    paper: str = ""          # the published figure beside the row
    zoo: str = ""

    def spec(self, steps: int):
        if self.zoo:
            from .models import zoo
            model, data = zoo.export(self.zoo, "full", os.path.join(ROOT, "build", "zoo"))
            s = GenSpec(model=model, data=data, loss="ce" if zoo.ZOO[self.zoo].classes else "mse",
                        lr=0.01, batch=1, **self.overrides)
        else:
            s = app_spec(self.app, **self.overrides)
        s.steps = steps
        s.profile_steps = "1"
        s.dump = "sums"
        return s


CCT_PAPER = "TrainDeeploy CCT: <= 11 img/s, 4.6 FLOP/cycle"
ROWS = [
    Row("cct_last", "CCT-2 last layer", "cct_lastlayer", paper=CCT_PAPER),
    Row("cct_block1", "CCT-2 last block", "cct_finetune", {"strategy": "blocks:1"}, CCT_PAPER),
    Row("cct_blocks2", "CCT-2 both blocks", "cct_finetune", paper=CCT_PAPER),
    Row("cct_lora1", "CCT-2 LoRA r=4, last block", "cct_lora", {"strategy": "lora:r=4,blocks=1"},
        CCT_PAPER),
    Row("cct_lora2", "CCT-2 LoRA r=4, both blocks", "cct_lora", paper=CCT_PAPER),
    Row("cct_full", "CCT-2 full backprop", "cct_lora", {"strategy": "all", "lr": 0.005},
        "reference for the LoRA ratios"),
    Row("deep_ae", "Deep-AE full backprop", "deep_ae", paper="TrainDeeploy Deep-AE: 13.4 FLOP/cycle"),
]


def zoo_rows() -> list[Row]:
    """Every zoo model with every strategy that applies (imports torch: called when asked)."""
    from .models.zoo import ZOO
    return [Row(f"zoo_{name}_{s.split(':')[0]}", z.title, overrides={"strategy": s}, zoo=name)
            for name, z in ZOO.items() for s in z.strategies]


# batch sizes of the batch table (``tools/bench.py --batch``), per row of ROWS
BATCHES = {"cct_lora2": (1, 2, 4, 8, 16), "cct_full": (1, 2, 4, 8), "deep_ae": (1, 4, 16, 64)}
RECOMPUTED = {"cct_full": "blocks"}   # rows measured again with recomputation (--recompute)


def _fits(spec: GenSpec, target: str) -> bool:
    (r,) = summarize(spec.model, [spec.strategy], loss=spec.loss or _loss_of(spec),
                     batch=spec.batch, target=target,
                     hyper=Hyper(spec.lr, spec.momentum, spec.weight_decay),
                     stream=spec.stream_l3 == "on", accumulate=spec.accumulate,
                     split=spec.split, recompute=spec.recompute)
    return bool(r["fits"])


def _loss_of(spec: GenSpec) -> str:
    from .compiler.codegen import guess_loss
    from .compiler.onnx_import import import_onnx
    return guess_loss(import_onnx(spec.model, batch=1))


def batch_rows(target: str = "siracusa") -> list[Row]:
    """BATCHES: each row at each batch size B as the largest micro-batch m (dividing B) whose
    plan fits ``target``, accumulated to B (``accumulate`` B/m; key ``<row>_b<B>``), and where
    splitting the stem into single samples (``split`` 1) fits a larger micro-batch, that too
    (key ``<row>_b<B>_split``); rows of RECOMPUTED again with recomputation
    (``<row>_b<B>_recompute``), and where recomputation where needed (``recompute`` auto) fits
    a still larger micro-batch, that too (``<row>_b<B>_onepass``)."""
    base = {r.key: r for r in ROWS}
    out = []
    for key, sizes in BATCHES.items():
        row = base[key]
        for b in sizes:
            best = 0
            ways = [(0, "off", ""), (1, "off", "_split")]
            if key in RECOMPUTED:
                ways.append((0, "auto", "_onepass"))
            for split, recompute, suffix in ways:
                for micro in (m for m in range(b, best, -1) if b % m == 0):
                    ov = dict(row.overrides, batch=micro, accumulate=b // micro, samples=0,
                              split=split if micro > 1 else 0,
                              **({"recompute": recompute} if recompute != "off" else {}))
                    cand = Row(f"{key}_b{b}{suffix}", row.workload, row.app, ov, zoo=row.zoo)
                    if (micro == 1 and not split) or _fits(cand.spec(1), target):
                        out.append(cand)
                        best = micro
                        break
            if key in RECOMPUTED:
                base_row = next(r for r in out if r.key == f"{key}_b{b}")
                out.append(Row(f"{key}_b{b}_recompute", row.workload, row.app,
                               dict(base_row.overrides, recompute=RECOMPUTED[key]), zoo=row.zoo))
    return out


class BenchError(Exception):
    """A step of the benchmark failed (message names the row and the step)."""


INSTRUMENTS = {  # target -> how its counters are named in the documents
    "siracusa": "GVSoC Siracusa model, cycles (mcycle, measured)",
    "qemu": "qemu -icount, instructions (IPC = 1 estimate, not cycles)",
}


def _scons(spec_path: str, cores: int, log, target: str, lock, limit: float) -> tuple[int, str]:
    """Build the row in the folder ``lock`` holds (et.buildlock), handing scons the lock."""
    from .compiler.trainrun import TrainError, scons_in

    args = [f"target={target}", "app=train", f"cores={cores}"]
    try:
        proc = scons_in(lock, spec_path, args, limit)
    except TrainError as e:
        raise BenchError(str(e)) from None
    log.write(f"$ ET_TRAIN_SPEC={spec_path} {' '.join(proc.args)}\n{proc.stdout}\n")
    return proc.returncode, proc.stdout


def _compile_error(out: str) -> str:
    for line in out.splitlines():
        if "code generation failed" in line or "does not fit" in line:
            return line.split("failed: ", 1)[-1].strip()
    return "\n".join(out.splitlines()[-5:])


def _run_qemu(elf: str, timeout: float, idle: float | None) -> tuple[int, list[str]]:
    from runners.monitor import monitor

    board = QemuBoard(timeout=timeout, echo=False)
    with board.start(elf) as session:
        result, lines = monitor(session.serial, timeout, echo=False, idle=idle,
                                meter=session.cpu_seconds)
        code = session.wait(timeout=10) if result.status == "done" else None
    return (code if code is not None else result.exit_code), lines


def _run_gvsoc(elf: str, timeout: float, idle: float | None) -> tuple[int, list[str]]:
    from runners import gvsoc
    from runners.base import FlashError

    try:
        group = gvsoc.start(elf, os.path.join(os.path.dirname(elf), "gvsoc"))
    except FlashError as e:
        raise BenchError(str(e)) from None
    result, lines = gvsoc.run_monitored(group, timeout, echo=False, idle=idle)
    rc = group.proc.returncode
    return (rc if rc is not None and result.status == "done" else result.exit_code), lines


def measure(row: Row, cores: int, steps: int, workdir: str, timeout: float, log,
            target: str = "qemu", idle: float | None = 120.0) -> dict:
    """Build the row for ``cores`` cores and ``target`` in a build folder it holds alone
    (et.buildlock.claim), run it (qemu: the ELF loaded directly, the counters do not depend on
    how the image got into memory; siracusa: in GVSoC through the gvsoc runner), return its
    report and records."""
    spec = row.spec(steps)
    spec_path = os.path.join(workdir, f"{row.key}.spec.json")
    with open(spec_path, "w") as f:
        json.dump({k: v for k, v in asdict(spec).items() if k not in ("capacities", "target")}, f)
    with claim(os.path.join("build", target, "train"), say=progress_line) as lock:
        code, out = _scons(spec_path, cores, log, target, lock, timeout)
        if code != 0:
            raise BenchError(_compile_error(out))
        elf = os.path.join(ROOT, lock.build_dir, "train.elf")
        plan_path = os.path.join(ROOT, lock.build_dir, "memplan.json")
        with open(plan_path) as f:
            memplan = json.load(f)
        exit_code, lines = (_run_gvsoc if target == "siracusa" else _run_qemu)(elf, timeout, idle)
        shutil.copyfile(plan_path, os.path.join(workdir, f"{row.key}.memplan.json"))
    log.write(f"--- {row.key} cores={cores} on {target}: exit {exit_code}\n" + "\n".join(lines) + "\n")
    res = Harness(timeout=timeout, echo=False, progress=False).run(lines_source(lines))
    if exit_code != 0 or res.status != "done" or res.done_code != 0:
        raise BenchError(f"{row.key} on {cores} core(s): run ended with {res.status}, "
                         f"exit {exit_code} (log {log.name})")
    rep = build_report(res)
    dma = [r.fields for r in res.state.of_type("dma") if r.get("step") == "1"]
    return {"report": rep, "dma": {k: int(v) for k, v in (dma[0] if dma else {}).items()},
            "memplan": memplan}


def progress_line(line: str) -> None:
    print(f"bench: {line}", file=sys.stderr, flush=True)


def _plan_rows(rows: list[Row]) -> dict[str, dict]:
    """report.summarize for each row (its app's model, loss, batch and hyper-parameters)."""
    out = {}
    for row in rows:
        s = row.spec(1)
        (r,) = summarize(s.model, [s.strategy], loss=s.loss or _loss_of(s),
                         batch=s.batch, hyper=Hyper(s.lr, s.momentum, s.weight_decay),
                         stream=s.stream_l3 == "on", accumulate=s.accumulate, split=s.split)
        out[row.key] = r
    return out


def run_bench(rows: list[Row] = ROWS, steps: int = 2, timeout: float = 900,
              workdir: str | None = None, progress=print, target: str = "qemu",
              cores: tuple[int, ...] = (8, 1), idle: float | None = 120.0) -> dict:
    """Measure every row on ``cores`` (8, then 1 for the speed-up) on ``target``; returns the
    data docs/benchmarks.md is made of."""
    workdir = workdir or os.path.join(ROOT, "build", "bench", target)
    os.makedirs(workdir, exist_ok=True)
    plans = _plan_rows(rows)
    results = []
    with BuildLock.acquire(workdir, say=progress_line), \
            open(os.path.join(workdir, "bench.log"), "w") as log:
        for row in rows:
            entry = {"row": asdict(row), "plan": plans[row.key], "runs": {}, "error": None}
            for n in cores:
                t0 = time.monotonic()
                progress(f"bench: {row.key} ({row.workload}) on {n} core(s), {target} ...")
                try:
                    entry["runs"][n] = measure(row, n, steps, workdir, timeout, log, target, idle)
                except BenchError as e:
                    entry["error"] = str(e)
                    progress(f"bench: {row.key}: {e}")
                    break
                progress(f"bench: {row.key} on {n} core(s): {time.monotonic() - t0:.0f} s")
            results.append(entry)
    return {"rows": results, "steps": steps, "freq_mhz": SIRACUSA_CLUSTER_MHZ, "target": target,
            "tool": _gvsoc_version() if target == "siracusa" else _qemu_version(),
            "qemu": _qemu_version(), "commit": _commit()}


def _gvsoc_version() -> str:
    """GVSoC as found by the runner, with the commit of its source tree when it has one."""
    from runners import gvsoc
    from runners.base import FlashError

    try:
        exe = gvsoc.find_gvsoc()
    except FlashError:
        return "GVSoC (not found)"
    return f"GVSoC ({exe}{', commit ' + GVSOC_COMMIT if GVSOC_COMMIT else ''})"


# The GVSoC commit EdgeTune's Siracusa figures were measured with (Deeploy's pin; README.md).
GVSOC_COMMIT = "edfcd8398840ceb1e151711befa06678b05f06a0"


def _qemu_version() -> str:
    try:
        out = subprocess.run(["qemu-system-riscv32", "--version"], stdout=subprocess.PIPE,
                             text=True).stdout
        return out.splitlines()[0].strip()
    except (OSError, IndexError):
        return "unknown"


def _commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True).stdout.strip()
        return head + (" (with uncommitted changes)" if dirty else "")
    except OSError:
        return "unknown"


# --- figures per row ---------------------------------------------------------------------------
def figures(entry: dict, freq_mhz: float) -> dict:
    """The row's columns: measured ones are None when the row did not run."""
    p = entry["plan"]
    f = {"key": entry["row"]["key"], "workload": entry["row"]["workload"], "strategy": p["strategy"],
         "trainable": p["trainable"], "grad_bytes": p["grad_bytes"], "fits": p["fits"],
         "plan_l2_peak": p["arena_peak"], "plan_dyn": p["dynamic"],
         "plan_l3_arena": p["l3_arena"], "plan_flop": p["flop_fwd"] + p["flop_bwd"] + p["flop_update"],
         "paper": entry["row"]["paper"], "error": entry["error"]}
    r8 = entry["runs"].get(8)
    r1 = entry["runs"].get(1)
    if r8:
        rep = r8["report"]
        n = rep["step"]["steps_measured"] or 1
        batch = rep["step"]["batch"] or 1
        cyc = rep["step"]["cycles_per_step"]
        f.update(flop=rep["total"]["flop"] / n, instr_max=rep["total"]["instret_max"] / n,
                 cycles=cyc, flop_cycle=rep["total"]["flop"] / n / cyc,
                 img_s=batch * freq_mhz * 1e6 / cyc, batch=batch,
                 loss=[x["value"] for x in rep["loss"]])
        mem = {m["level"]: m for m in rep["memory"]}
        plan = r8["memplan"]
        f.update(l1_peak=mem.get("L1", {}).get("peak"), l2_peak=mem.get("L2", {}).get("peak"),
                 l2_static=mem.get("L2", {}).get("static"),
                 l3_peak=mem.get("L3", {}).get("peak"),
                 arena=plan["arena"]["peak"], arena_l3=plan["arena"].get("l3_peak", 0),
                 dyn=plan["arena"]["peak"] + plan["arena"].get("l3_peak", 0),
                 l2_weights=plan["totals"]["L2"]["persistent"],
                 l3_weights=plan["totals"]["L3"]["persistent"])
        f["hyperram"] = hyperram_lines(rep, plan)
        d = r8["dma"]
        f.update(dma_l3_l2=d.get("l3_l2"), dma_l2_l3=d.get("l2_l3", d.get("other")),
                 dma_l2_l1=d.get("l2_l1"), dma_l1_l2=d.get("l1_l2"),
                 plan_l3_l2=d.get("plan_l3_l2"), plan_l2_l3=d.get("plan_l2_l3"))
    if r8 and r1:
        f["speedup"] = r1["report"]["step"]["cycles_per_step"] / r8["report"]["step"]["cycles_per_step"]
        f["instr_1core"] = r1["report"]["total"]["instret_max"] / (r1["report"]["step"]["steps_measured"] or 1)
    return f


def op_kinds(memplan: dict) -> dict[str, str]:
    """Each kernel node's layer label -> its op type as the tables name it: the op, then the
    phase and variant where they are not the forward ("linear", "linear bwd/wgrad")."""
    out = {}
    for n in memplan.get("nodes", []):
        if n.get("view") or "layer" not in n or "op" not in n:
            continue
        phase = "" if n.get("phase") == "fwd" else " " + n.get("phase", "")
        out[n["layer"]] = n["op"] + phase + ("/" + n["variant"] if n.get("variant") else "")
    return out


def slim(data: dict) -> dict:
    """What the documents are rendered from, without the full per-core report and memory plan
    (megabytes per row): the step, totals, losses, memory, per-layer cycles and FLOP, each
    layer's op type and the nodes' L3 transfers."""
    for e in data["rows"]:
        for run in e["runs"].values():
            rep = run["report"]
            run["report"] = {k: rep[k] for k in ("step", "total", "loss", "memory") if k in rep}
            run["report"]["layers"] = [{k: r[k] for k in ("layer", "phase", "cycles", "flop")
                                        if k in r} for r in rep.get("layers", [])]
            mp = run["memplan"]  # rows kept from an earlier run are slim already
            run["memplan"] = {"arena": mp["arena"], "totals": mp["totals"],
                              "nodes": [{k: n[k] for k in ("layer", "l3_cycles", "l3_read_bytes",
                                                           "l3_write_bytes")}
                                        for n in mp.get("nodes", []) if n.get("l3_cycles")],
                              "kinds": mp.get("kinds") or op_kinds(mp)}
    return data


def op_type_rows(entry: dict) -> list[dict]:
    """The 8-core run's measured layers summed by op type (op_kinds), most cycles first, then
    the time between the layers (the step's wall clock minus the layers' spans)."""
    r8 = entry["runs"].get(8)
    if not r8 or "kinds" not in r8["memplan"]:
        return []
    rep, kinds = r8["report"], r8["memplan"]["kinds"]
    n = rep["step"]["steps_measured"] or 1
    acc: dict[str, dict] = {}
    for lay in rep["layers"]:
        k = kinds.get(lay["layer"], "other")
        a = acc.setdefault(k, {"kind": k, "layers": 0, "cycles": 0, "flop": 0})
        a["layers"] += 1
        a["cycles"] += lay["cycles"] / n
        a["flop"] += lay.get("flop", 0) / n
    rows = sorted(acc.values(), key=lambda a: -a["cycles"])
    between = rep["step"].get("outside_layers_cycles")
    if between:
        rows.append({"kind": "between layers (DMA waits, batch load)", "layers": 0,
                     "cycles": between / n, "flop": 0})
    return rows


def op_type_table(entry: dict, top: int = 10) -> str:
    """Where one row's step goes: cycles, share and FLOP/cycle per op type (``top`` of them,
    the rest summed), measured in the 8-core run."""
    rows = op_type_rows(entry)
    if not rows:
        return ""
    step = entry["runs"][8]["report"]["step"]["cycles_per_step"]
    kinds = [r for r in rows if r["layers"]]
    between = [r for r in rows if not r["layers"]]
    if len(kinds) > top:
        rest = kinds[top:]
        kinds = kinds[:top] + [{"kind": f"{len(rest)} other op types", "layers": sum(
            r["layers"] for r in rest), "cycles": sum(r["cycles"] for r in rest),
                               "flop": sum(r["flop"] for r in rest)}]
    out = ["| op type | layers | cycles/step | share of step | FLOP/cycle |", "|---|---|---|---|---|"]
    for r in kinds + between:
        fpc = f"{r['flop'] / r['cycles']:.2f}" if r["flop"] and r["cycles"] else "-"
        out.append(f"| {r['kind']} | {r['layers'] or '-'} | {r['cycles']:,.0f} | "
                   f"{100 * r['cycles'] / step:.1f}% | {fpc} |")
    return "\n".join(out)


def lora_ratios(by: dict[str, dict]) -> list[dict]:
    """LoRA (both blocks, and last block) / full backprop, measured where both ran, else planned."""
    full = by.get("cct_full")
    out = []
    for key in ("cct_lora2", "cct_lora1"):
        lo = by.get(key)
        if not (lo and full):
            continue
        ratio = {"lora": key, "workload": lo["workload"]}
        ratio["trainable"] = lo["trainable"] / full["trainable"]
        ratio["grad_bytes"] = lo["grad_bytes"] / full["grad_bytes"]
        ratio["dyn_mem_plan"] = lo["plan_dyn"] / full["plan_dyn"]
        ratio["dyn_l2_plan"] = lo["plan_l2_peak"] / full["plan_l2_peak"]
        if lo.get("dyn") is not None and full.get("dyn") is not None:
            ratio["dyn_mem"] = lo["dyn"] / full["dyn"]
            ratio["dyn_l2"] = lo["arena"] / full["arena"]
        if lo.get("dma_l2_l1") is not None and full.get("dma_l2_l1") is not None:
            t = [sum(x.get(k) or 0 for k in ("dma_l3_l2", "dma_l2_l3", "dma_l2_l1", "dma_l1_l2"))
                 for x in (lo, full)]
            ratio["traffic"] = t[0] / t[1]
        out.append(ratio)
    return out


# --- markdown ----------------------------------------------------------------------------------
def _n(v, fmt="{:,.0f}") -> str:
    return "n/a" if v is None else fmt.format(v)


def _kib(v) -> str:
    return "n/a" if v is None else f"{v / 1024:,.1f}"


def perf_table(figs: list[dict], target: str, qemu: dict | None = None) -> str:
    """The speed table. siracusa: measured GVSoC cycles (with the qemu instruction count beside
    them when ``qemu`` has the row); qemu: instructions and the IPC = 1 estimate built on them."""
    if target == "siracusa":
        head = ("| workload | strategy | FLOP/step | cycles/step (GVSoC mcycle) | FLOP/cycle "
                "| img/s @370 MHz | qemu instr/step (max core) | cycles / IPC=1 estimate "
                "| TrainDeeploy (silicon) |")
    else:
        head = ("| workload | strategy | FLOP/step | instr/step (max core) | IPC=1 estimate/step "
                "(instr + waits) | FLOP per IPC=1 estimate | 8-core speed-up | img/s @370 MHz if IPC = 1 "
                "| TrainDeeploy (silicon) |")
    out = [head, "|" + "---|" * 9]
    for f in figs:
        if f.get("cycles") is None:
            why = (f["error"] or "not run").replace("|", "/")
            out.append(f"| {f['workload']} | `{f['strategy']}` | {_n(f['plan_flop'])} | not run: "
                       f"{why[:160]} | | | | | {f['paper']} |")
            continue
        if target == "siracusa":
            q = (qemu or {}).get(f["key"], {})
            ratio = f["cycles"] / q["cycles"] if q.get("cycles") else None
            out.append(f"| {f['workload']} | `{f['strategy']}` | {_n(f['flop'])} | {_n(f['cycles'])} "
                       f"| {f['flop_cycle']:.2f} | {f['img_s']:.1f} | {_n(q.get('instr_max'))} "
                       f"| {_n(ratio, '{:.2f}x')} | {f['paper']} |")
        else:
            out.append(f"| {f['workload']} | `{f['strategy']}` | {_n(f['flop'])} | {_n(f['instr_max'])} "
                       f"| {_n(f['cycles'])} | {f['flop_cycle']:.2f} | {_n(f.get('speedup'), '{:.2f}x')} "
                       f"| {f['img_s']:.1f} | {f['paper']} |")
    return "\n".join(out)


def mem_table(figs: list[dict]) -> str:
    head = ("| workload | trainable | grad KiB | L1 peak KiB | L2 dynamic peak KiB (plan) "
            "| L3 dynamic peak KiB (plan) | L2 weights KiB | L3 weights KiB | L3→L2 KiB/step "
            "| L2→L3 KiB/step | L2→L1 KiB/step | L1→L2 KiB/step |")
    out = [head, "|" + "---|" * 12]
    for f in figs:
        out.append(f"| {f['workload']} | {f['trainable']:,} | {_kib(f['grad_bytes'])} "
                   f"| {_kib(f.get('l1_peak'))} | {_kib(f.get('arena', f['plan_l2_peak']))} "
                   f"| {_kib(f.get('arena_l3', f['plan_l3_arena']))} "
                   f"| {_kib(f.get('l2_weights'))} | {_kib(f.get('l3_weights'))} "
                   f"| {_kib(f.get('dma_l3_l2'))} | {_kib(f.get('dma_l2_l3'))} "
                   f"| {_kib(f.get('dma_l2_l1'))} | {_kib(f.get('dma_l1_l2'))} |")
    return "\n".join(out)


def zoo_table(figs: list[dict], target: str) -> str:
    """The zoo's rows: per model and strategy, the work, its measured cost in the target's
    instrument and the planned memory per level."""
    cost = ("cycles/step (GVSoC mcycle) | FLOP/cycle" if target == "siracusa"
            else "instr/step (qemu, max core) | FLOP/instr")
    out = [f"| model | strategy | trainable | FLOP/step | {cost} | L2 arena KiB | L3 arena KiB "
           "| L2 weights KiB | L3 weights KiB | loss, steps 1-2 |", "|" + "---|" * 11]
    for f in figs:
        if f.get("cycles") is None:
            why = (f["error"] or "not run").replace("|", "/")[:160]
            out.append(f"| {f['workload']} | `{f['strategy']}` | {f['trainable']:,} "
                       f"| {_n(f['plan_flop'])} | not run: {why} | | {_kib(f['plan_l2_peak'])} "
                       f"| {_kib(f['plan_l3_arena'])} | | | |")
            continue
        n, per = ((f["cycles"], f["flop_cycle"]) if target == "siracusa"
                  else (f["instr_max"], f["flop"] / f["instr_max"]))
        out.append(f"| {f['workload']} | `{f['strategy']}` | {f['trainable']:,} | {_n(f['flop'])} "
                   f"| {_n(n)} | {per:.2f} | {_kib(f['arena'])} | {_kib(f['arena_l3'])} "
                   f"| {_kib(f['l2_weights'])} | {_kib(f['l3_weights'])} "
                   f"| {', '.join(f'{v:.4g}' for v in f['loss'])} |")
    return "\n".join(out)


def batch_table(figs: list[dict], target: str, rows: list[dict]) -> str:
    """Throughput and memory by batch size: per row, the batch (micro-batch x accumulated
    micro-batches), the cost of a step and per image, and the planned memory and traffic."""
    cost = "cycles/step (GVSoC mcycle)" if target == "siracusa" else "instr/step (qemu, max core)"
    per = "img/s @370 MHz" if target == "siracusa" else "img/s @370 MHz if IPC = 1"
    out = [f"| workload | batch | micro-batch x steps accumulated | FLOP/step | {cost} "
           f"| FLOP/{'cycle' if target == 'siracusa' else 'instr'} | {per} | L2 arena KiB "
           "| L3 arena KiB | L2 weights+state KiB | L3 weights+state KiB | L3→L2 KiB/step "
           "| L2→L3 KiB/step | L2→L1 KiB/step |", "|" + "---|" * 14]
    for f, e in zip(figs, rows):
        ov = e["row"]["overrides"]
        micro, acc = ov.get("batch", 1), ov.get("accumulate", 1)
        split = f" (stem split {ov['split']})" if ov.get("split") else ""
        rc = f", recompute {ov['recompute']}" if ov.get("recompute", "off") != "off" else ""
        head = f"| {f['workload']}{rc} | {micro * acc} | {micro}{split} x {acc} "
        if f.get("cycles") is None:
            why = (f["error"] or "not run").replace("|", "/")[:160]
            out.append(head + f"| {_n(f['plan_flop'])} | not run: {why} | | | "
                       f"{_kib(f['plan_l2_peak'])} | {_kib(f['plan_l3_arena'])} | | | | | |")
            continue
        n = f["cycles"] if target == "siracusa" else f["instr_max"]
        out.append(head + f"| {_n(f['flop'])} | {_n(n)} | {f['flop'] / n:.2f} | {f['img_s']:.2f} "
                   f"| {_kib(f['arena'])} | {_kib(f['arena_l3'])} | {_kib(f['l2_weights'])} "
                   f"| {_kib(f['l3_weights'])} | {_kib(f.get('dma_l3_l2'))} "
                   f"| {_kib(f.get('dma_l2_l3'))} | {_kib(f.get('dma_l2_l1'))} |")
    return "\n".join(out)


def _measured(data: dict, title: str, target: str, option: str) -> list[str]:
    """A section's title and the start of its first sentence: commit(s), tool and command (the
    last run's: a run of some rows keeps the others, each with the commit it was measured at)."""
    commits = list(dict.fromkeys(e.get("commit", data["commit"]) for e in data["rows"]))
    at = (f"commit {commits[0]}" if len(commits) == 1 else "commits " + ", ".join(
        f"{c} ({sum(e.get('commit', data['commit']) == c for e in data['rows'])} rows)"
        for c in commits))
    return [f"## {title}: {INSTRUMENTS[target]}", "",
            f"Measured at {at} with {data.get('tool')}, last by "
            f"`{data.get('command', 'python tools/bench.py ' + option)}`: "]


def batch_section(data: dict, target: str) -> list[str]:
    rows = data["rows"]
    first = {w: i for i, w in enumerate(dict.fromkeys(e["row"]["workload"] for e in rows))}

    def order(e):
        ov = e["row"]["overrides"]
        return (first[e["row"]["workload"]], ov.get("batch", 1) * ov.get("accumulate", 1),
                e["row"]["key"])
    data = dict(data, rows=sorted(rows, key=order))
    figs = [figures(e, data["freq_mhz"]) for e in data["rows"]]
    *head, first = _measured(data, "Batch size", target, "--batch")
    return [*head, first + "the rows above at several "
            "batch sizes, one step (step 1) on 8 cores. A batch runs in one pass where its plan "
            "fits Siracusa's budget (L1 256 KiB, L2 1 MiB, L3 8 MiB), else as the largest "
            "micro-batch that fits, accumulated over the step (`--accumulate`: one update per "
            "step, the gradients of the whole batch); `stem split 1`: the stem runs image by image "
            "in the pass (`--split 1`); `recompute blocks`: the blocks' activations recomputed in "
            "the backward pass (`--recompute blocks`). Memory and traffic: the plan of the run "
            "(memplan.json) and its `@dma` bytes per step. A step's cost: the `@step` wall clock of "
            "an unprofiled step where one ran, else (`--steps 1`) the sum of the layers' measured "
            "spans (without the DMA waits between layers). Images/s = batch x 370 MHz / the "
            f"step's {'cycles' if target == 'siracusa' else 'IPC = 1 estimate'}.", "",
            batch_table(figs, target, data["rows"]), ""]


def zoo_section(data: dict, target: str) -> list[str]:
    figs = [figures(e, data["freq_mhz"]) for e in data["rows"]]
    *head, first = _measured(data, "Model zoo", target, "--zoo")
    return [*head, first + "every model of "
            "tools/et/models/zoo.py at its published size, exported with TorchScript, trained "
            "with every strategy that applies (batch 1, SGD lr 0.01), step 1 of "
            f"{data['steps']} measured on 8 cores; memory from the plan (memplan.json) of the "
            "same program, Siracusa's budget (L1 256 KiB, L2 1 MiB, L3 8 MiB).", "",
            zoo_table(figs, target), ""]


def ratio_lines(ratios: list[dict]) -> list[str]:
    out = []
    for r in ratios:
        dyn = r.get("dyn_mem", r["dyn_mem_plan"])
        src = "measured runs" if "dyn_mem" in r else "plan (full backprop did not run)"
        dl2 = r.get("dyn_l2", r["dyn_l2_plan"])
        line = (f"- {r['workload']} / full backprop: peak dynamic memory (L2 + L3) **{dyn:.2f}** "
                f"(L2 alone {dl2:.2f}; TrainDeeploy {PAPER['lora_dyn_mem']:.2f}; {src}); "
                "trainable parameters and "
                f"gradients **1/{1 / r['trainable']:.1f}** (TrainDeeploy 1/15)")
        if "traffic" in r:
            line += (f"; DMA traffic per step (L3↔L2 + L2↔L1, measured) **{r['traffic']:.2f} = "
                     f"1/{1 / r['traffic']:.2f}** (TrainDeeploy 1/1.6)")
        else:
            line += "; DMA traffic: n/a (full backprop did not run)"
        out.append(line)
    return out


ASSUMPTIONS = """\
- **Counters.** qemu-system-riscv32 `virt`, 8 harts standing in for the 8 cluster cores, run with
  `-icount shift=0`: every instruction is counted exactly and booked to the hart that executed it;
  two runs give the same numbers.
- **IPC = 1 estimate (instructions, not cycles).** A core's count is its instructions plus the
  time it waits at barriers as if every instruction took one cycle; a step's is the slowest
  core's. It is not a Siracusa cycle count: it ignores instruction-cache misses, L1 bank
  conflicts, FPU latencies, load-use stalls and DMA time. GVSoC measures the same programs at
  1.7x-2.6x these counts (the GVSoC section above).
- **DMA.** L3↔L2 and L2↔L1 copies are done by the DMA (emulated as memcpy in qemu) and cost the
  cores nothing but the issue and wait instructions; the bytes are counted per direction
  (`@dma` record). Double buffering is assumed to hide the transfers.
- **Clock.** Images/s = batch × 370 MHz / cycles per step (Siracusa's cluster at 0.8 V).
- **FLOP.** Counted by the compiler per layer (multiply and add = 2 FLOP; element-wise ops their
  arithmetic), reported by the device in its `@perf` records and summed over one step.
- **Memory.** L1 peak: the kernels' L1 scratch; L2 dynamic peak: the planner's L2 arena
  (activations, gradients, L3 staging buffers); L3 dynamic peak: the L3 arena (activations and
  gradients the planner spilled to L3 because the L2 arena would not fit; staged through L2
  like L3 weights), as in memplan.json; "dynamic memory" in the ratios is the sum of the two;
  weights: parameters, constants and optimizer state per level.
"""


GVSOC_NOTES = """\
- **Counters.** GVSoC's cycle-accurate Siracusa model (the open-source PULP simulator, installed
  by the user; EdgeTune calls it through `tools/runners/gvsoc.py`). Cycles are each core's
  `mcycle`, wall clock: time asleep in barriers and DMA waits is included; a step's cycles are
  the slowest core's. The model sees the L0/L1 instruction caches, load-use stalls, TCDM bank
  conflicts, MCHAN and uDMA HyperBus transfers (L3 is HyperRAM, loaded from HyperFlash at boot).
- **Clock.** Images/s = batch × 370 MHz / cycles per step (Siracusa's cluster at 0.8 V).
- **Ceiling.** The model's cluster has 4 FPUs for its 8 cores (core i issues to FPU i mod 4, one
  fp32 fmadd per cycle each: `iss_resource_declare` in gvsoc-pulp's `pulp_iss_wrapper.cpp`), so
  8 fp32 FLOP/cycle is the cluster's peak and 2 a single core's. On 8 cores an iteration of the
  GEMM's k loop (48 fmadd.s per core, so 96 per shared FPU) takes 100 cycles (instruction
  trace), within 4% of that bound; a FLOP/cycle figure above 8 cannot be fp32 in this model.
- **FLOP, memory, DMA.** As in the qemu section below; the `@dma` bytes per step are identical
  on both (the same program).
"""


def hyperram_summary(lines: list[str] | None, top: int = 3) -> str:
    """One line per row from report.hyperram_lines: the total, then the bound layers (the
    largest transfers first, ``top`` of them named)."""
    if not lines:
        return "no L3 traffic or not run"
    bound = [ln.strip().removeprefix("HyperRAM-bound: ") for ln in lines[1:]]
    bound.sort(key=lambda b: -int(b.split("transfers ")[1].split(" ")[0].replace(",", "")))
    out = lines[0].removeprefix("HyperRAM: ")
    if bound:
        out += (f"; {len(bound)} HyperRAM-bound layer(s), largest: " + "; ".join(bound[:top])
                + ("; ..." if len(bound) > top else ""))
    return out


def _section(data: dict, target: str, qemu_figs: dict | None) -> tuple[list[str], str, list[dict]]:
    freq = data["freq_mhz"]
    figs = [figures(e, freq) for e in data["rows"]]
    by = {e["row"]["key"]: f for e, f in zip(data["rows"], figs)}
    ratios = lora_ratios(by)
    perf = perf_table(figs, target, qemu_figs)
    name = {"siracusa": "Siracusa in GVSoC: measured cycles",
            "qemu": "qemu: instructions (IPC = 1 estimate, not cycles)"}[target]
    build = (f"`scons target={target} app=train cores=8`"
             + (" (and `cores=1` for the speed-up)" if target == "qemu" else ""))
    lines = [
        f"## {name}",
        "",
        f"Measured at commit {data['commit']} with {data.get('tool', data.get('qemu'))} by "
        f"`{data.get('command', 'python tools/bench.py')}`. One training step (step 1 of "
        f"{data['steps']}) of each workload, built with {build} from the app's train.json "
        "(strategy overridden where the row says so), Siracusa's memory budget (L1 256 KiB, "
        "L2 1 MiB, L3 8 MiB, enforced by the linker).",
        "",
        "### Speed",
        "",
        perf,
        "",
        "### Memory and traffic (per step)",
        "",
        mem_table(figs),
        "",
        "### LoRA against full backprop",
        "",
        *ratio_lines(ratios),
        "",
        *(["### HyperRAM (L3) at the measured bandwidth",
           "",
           "L3 bytes of each step from the memory plan at the HyperBus bandwidth kbench measured "
           "in GVSoC (L3 -> L2 0.98 B/cycle, L2 -> L3 0.55 B/cycle); layers whose transfers need "
           "at least half of their measured cycles are HyperRAM-bound.",
           "",
           *[f"- {f['workload']}: " + hyperram_summary(f.get("hyperram")) for f in figs],
           ""] if target == "siracusa" else []),
        *(["### Where the cycles go (per op type, step 1, 8 cores)",
           "",
           "The measured layers summed by op type (`phase/variant` where not the forward pass); "
           "FLOP/cycle against the model's ceiling of 8 (see below).",
           "",
           *[x for e, table in ((e, op_type_table(e)) for e in data["rows"]) if table
             for x in (f"**{e['row']['workload']}** (`{e['plan']['strategy']}`)", "", table, "")]]
          if target == "siracusa" else []),
        "### Training (loss per step)",
        "",
        *[f"- {f['workload']}: " + (", ".join(f"{v:.4f}" for v in f["loss"]) if f.get("loss")
                                    else "not run") for f in figs],
        "",
        "### The model behind the numbers",
        "",
        GVSOC_NOTES if target == "siracusa" else ASSUMPTIONS,
    ]
    return lines, perf, ratios


def render(datasets: dict[str, dict]) -> tuple[str, str]:
    """(docs/benchmarks.md, the README's table block) from the measurements per target
    (``siracusa``: GVSoC, ``qemu``); either may be missing."""
    qfigs = None
    if "qemu" in datasets:
        qd = datasets["qemu"]
        qfigs = {e["row"]["key"]: figures(e, qd["freq_mhz"]) for e in qd["rows"]}
    doc = ["# EdgeTune training benchmark", "",
           "Generated by tools/bench.py from docs/bench/<target>.json; do not edit by hand: run "
           "`python tools/bench.py --target siracusa` (GVSoC) or `--target qemu` again. Every "
           "figure names its instrument: cycles are measured in GVSoC's Siracusa model; qemu "
           "counts instructions, and its IPC = 1 estimate is not a cycle count.", ""]
    readme = []
    for target in ("siracusa", "qemu"):
        if target not in datasets:
            continue
        lines, perf, ratios = _section(datasets[target], target, qfigs if target == "siracusa" else None)
        doc += lines
        if not readme:
            readme = [f"{INSTRUMENTS[target]}; generated by tools/bench.py at commit "
                      f"{datasets[target]['commit']}; details, memory and the "
                      f"{'qemu instruction counts' if target == 'siracusa' else 'model'} in "
                      "[docs/benchmarks.md](docs/benchmarks.md).", "", perf, "", *ratio_lines(ratios)]
    for target in ("siracusa", "qemu"):
        if f"batch-{target}" in datasets:
            doc += batch_section(datasets[f"batch-{target}"], target)
    for target in ("siracusa", "qemu"):
        if f"zoo-{target}" in datasets:
            doc += zoo_section(datasets[f"zoo-{target}"], target)
    if not readme:
        readme = ["No measurements yet: run `python tools/bench.py --target siracusa`."]
    return "\n".join(doc) + "\n", "\n".join(readme)


README_BEGIN = "<!-- bench:begin (generated by tools/bench.py) -->"
README_END = "<!-- bench:end -->"


def update_readme(path: str, block: str) -> bool:
    """Replace the text between the bench markers of README.md; False if the markers are missing."""
    with open(path) as f:
        text = f.read()
    if README_BEGIN not in text or README_END not in text:
        return False
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    with open(path, "w") as f:
        f.write(head + README_BEGIN + "\n" + block + "\n" + README_END + tail)
    return True


__all__ = ["ROWS", "Row", "BenchError", "run_bench", "render", "update_readme", "figures",
           "INSTRUMENTS", "zoo_rows", "batch_rows", "BATCHES"]
