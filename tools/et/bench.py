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

from .compiler.appbuild import ROOT, app_spec
from .compiler.report import summarize
from .compiler.training import Hyper
from .harness import Harness, lines_source
from .qemu import QemuBoard
from .report import SIRACUSA_CLUSTER_MHZ, build_report

# TrainDeeploy (Siracusa, fp32 training; Deeploy's paper): the published figures we compare with
PAPER = {
    "cct_img_s": 11.0,          # CCT: up to 11 trained images per second
    "cct_flop_cycle": 4.6,      # CCT: FLOP per cluster cycle
    "ae_flop_cycle": 13.4,      # Deep-AE: FLOP per cluster cycle
    "lora_dyn_mem": 0.77,       # LoRA / full backprop: 23% less dynamic memory
    "lora_trainable": 1 / 15,   # 15x fewer trainable parameters and gradients
    "lora_traffic": 1 / 1.6,    # 1.6x less memory traffic
}
# issue 8's targets
TARGETS = {"lora_flop_cycle": 6.0, "lora_dyn_mem": 0.70, "lora_traffic": 1 / 1.6}


@dataclass
class Row:
    """One benchmark row: an app's train.json with overrides."""

    key: str
    workload: str
    app: str
    overrides: dict = field(default_factory=dict)
    paper: str = ""          # the published figure beside the row

    def spec(self, steps: int):
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


class BenchError(Exception):
    """A step of the benchmark failed (message names the row and the step)."""


def _scons(spec_path: str, cores: int, log) -> tuple[int, str]:
    cmd = [sys.executable, "-m", "SCons", "-Q", "target=qemu", "app=train", f"cores={cores}"]
    if shutil.which("scons"):
        cmd = ["scons", "-Q", "target=qemu", "app=train", f"cores={cores}"]
    proc = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ, ET_TRAIN_SPEC=spec_path),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log.write(f"$ ET_TRAIN_SPEC={spec_path} {' '.join(cmd)}\n{proc.stdout}\n")
    return proc.returncode, proc.stdout


def _compile_error(out: str) -> str:
    for line in out.splitlines():
        if "code generation failed" in line or "does not fit" in line:
            return line.split("failed: ", 1)[-1].strip()
    return "\n".join(out.splitlines()[-5:])


def measure(row: Row, cores: int, steps: int, workdir: str, timeout: float, log) -> dict:
    """Build the row for ``cores`` cores, run it on the qemu board (ELF loaded directly; the
    counters do not depend on how the image got into memory), return its report and records."""
    spec = row.spec(steps)
    spec_path = os.path.join(workdir, f"{row.key}.spec.json")
    with open(spec_path, "w") as f:
        json.dump({k: v for k, v in asdict(spec).items() if k not in ("capacities", "target")}, f)
    code, out = _scons(spec_path, cores, log)
    if code != 0:
        raise BenchError(_compile_error(out))
    elf = os.path.join(ROOT, "build", "qemu", "train", "train.elf")
    plan_path = os.path.join(ROOT, "build", "qemu", "train", "memplan.json")
    with open(plan_path) as f:
        memplan = json.load(f)
    run = QemuBoard(timeout=timeout, echo=False).run_elf(elf)
    log.write(f"--- {row.key} cores={cores}: qemu exit {run.exit_code}\n" + run.output + "\n")
    res = Harness(timeout=timeout, echo=False, progress=False).run(lines_source(run.lines))
    if run.exit_code != 0 or res.status != "done" or res.done_code != 0:
        raise BenchError(f"{row.key} on {cores} core(s): run ended with {res.status}, "
                         f"qemu exit {run.exit_code} (log {log.name})")
    rep = build_report(res)
    dma = [r.fields for r in res.state.of_type("dma") if r.get("step") == "1"]
    shutil.copyfile(plan_path, os.path.join(workdir, f"{row.key}.memplan.json"))
    return {"report": rep, "dma": {k: int(v) for k, v in (dma[0] if dma else {}).items()},
            "memplan": memplan}


def _plan_rows(rows: list[Row]) -> dict[str, dict]:
    """report.summarize for each row (its app's model, loss, batch and hyper-parameters)."""
    out = {}
    for row in rows:
        s = row.spec(1)
        (r,) = summarize(s.model, [s.strategy], loss=s.loss or ("mse" if row.app == "deep_ae" else "ce"),
                         batch=s.batch, hyper=Hyper(s.lr, s.momentum, s.weight_decay),
                         stream=s.stream_l3 == "on")
        out[row.key] = r
    return out


def run_bench(rows: list[Row] = ROWS, steps: int = 2, timeout: float = 900,
              workdir: str | None = None, progress=print) -> dict:
    """Measure every row on 8 cores and on 1 core; returns the data docs/benchmarks.md is made of."""
    workdir = workdir or os.path.join(ROOT, "build", "bench")
    os.makedirs(workdir, exist_ok=True)
    plans = _plan_rows(rows)
    results = []
    with open(os.path.join(workdir, "bench.log"), "w") as log:
        for row in rows:
            entry = {"row": asdict(row), "plan": plans[row.key], "runs": {}, "error": None}
            for cores in (8, 1):
                t0 = time.monotonic()
                progress(f"bench: {row.key} ({row.workload}) on {cores} core(s) ...")
                try:
                    entry["runs"][cores] = measure(row, cores, steps, workdir, timeout, log)
                except BenchError as e:
                    entry["error"] = str(e)
                    progress(f"bench: {row.key}: {e}")
                    break
                progress(f"bench: {row.key} on {cores} core(s): {time.monotonic() - t0:.0f} s")
            results.append(entry)
    return {"rows": results, "steps": steps, "freq_mhz": SIRACUSA_CLUSTER_MHZ,
            "qemu": _qemu_version(), "commit": _commit()}


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
    f = {"workload": entry["row"]["workload"], "strategy": p["strategy"],
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
        d = r8["dma"]
        f.update(dma_l3_l2=d.get("l3_l2"), dma_l2_l3=d.get("l2_l3", d.get("other")),
                 dma_l2_l1=d.get("l2_l1"), dma_l1_l2=d.get("l1_l2"),
                 plan_l3_l2=d.get("plan_l3_l2"), plan_l2_l3=d.get("plan_l2_l3"))
    if r8 and r1:
        f["speedup"] = r1["report"]["step"]["cycles_per_step"] / r8["report"]["step"]["cycles_per_step"]
        f["instr_1core"] = r1["report"]["total"]["instret_max"] / (r1["report"]["step"]["steps_measured"] or 1)
    return f


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


def perf_table(figs: list[dict]) -> str:
    head = ("| workload | strategy | FLOP/step | instr/step (max core) | cycles/step | FLOP/cycle "
            "| 8-core speed-up | img/s @370 MHz | TrainDeeploy |")
    out = [head, "|" + "---|" * 9]
    for f in figs:
        if f.get("cycles") is None:
            why = (f["error"] or "not run").replace("|", "/")
            out.append(f"| {f['workload']} | `{f['strategy']}` | {_n(f['plan_flop'])} | not run: "
                       f"{why[:160]} | | | | | {f['paper']} |")
            continue
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


def target_lines(by: dict, ratios: list[dict]) -> list[str]:
    out = []
    lo = by.get("cct_lora2", {})
    fc = lo.get("flop_cycle")
    out.append(f"- CCT LoRA step ≥ {TARGETS['lora_flop_cycle']:.0f} FLOP/cycle: "
               + ("n/a" if fc is None else f"{fc:.2f} → {'met' if fc >= TARGETS['lora_flop_cycle'] else 'MISSED'}"))
    r = next((x for x in ratios if x["lora"] == "cct_lora2"), None)
    if r:
        dyn = r.get("dyn_mem", r["dyn_mem_plan"])
        out.append(f"- LoRA peak dynamic memory ≤ 70% of full backprop: {dyn:.2f} → "
                   f"{'met' if dyn <= TARGETS['lora_dyn_mem'] else 'MISSED'}")
        t = r.get("traffic")
        out.append("- LoRA DMA traffic ≤ 1/1.6 of full backprop: " + (
            "n/a (full backprop did not run)" if t is None else
            f"1/{1 / t:.2f} → {'met' if t <= TARGETS['lora_traffic'] else 'MISSED'}"))
    return out


ASSUMPTIONS = """\
- **Counters.** qemu-system-riscv32 `virt`, 8 harts standing in for the 8 cluster cores, run with
  `-icount shift=0`: every instruction is counted exactly and booked to the hart that executed it;
  two runs give the same numbers.
- **Cycles (IPC = 1 model).** A core's cycles are its instructions plus the time it waits at
  barriers (every instruction takes one cycle); a step's cycles are the cluster's: the slowest
  core's. This is the model the issue prescribes, not a Siracusa cycle count: it ignores L1 bank
  conflicts, FPU latencies and stalls (Siracusa's cores are RI5CY-class with single-cycle fp32
  FMA when the pipeline is fed; SIRACUSA.md measured IPC 0.94 on a GEMM with operands in L1).
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


def render(data: dict, command: str) -> tuple[str, str]:
    """(docs/benchmarks.md, the README's table block)."""
    freq = data["freq_mhz"]
    figs = [figures(e, freq) for e in data["rows"]]
    by = {e["row"]["key"]: f for e, f in zip(data["rows"], figs)}
    ratios = lora_ratios(by)
    perf, mem = perf_table(figs), mem_table(figs)
    doc = [
        "# EdgeTune training benchmark",
        "",
        f"Generated by `{command}` (tools/bench.py) at commit {data['commit']} with "
        f"{data['qemu']}; do not edit by hand: run the command again.",
        "",
        f"One training step (step 1 of {data['steps']}) of each workload, built with "
        "`scons target=qemu app=train cores=8` (and `cores=1` for the speed-up) from the app's "
        "train.json (strategy overridden where the row says so), run on the qemu board with "
        "Siracusa's memory budget (L1 256 KiB, L2 1 MiB, L3 8 MiB, enforced by the linker).",
        "",
        "## Speed",
        "",
        perf,
        "",
        "## Memory and traffic (per step)",
        "",
        mem,
        "",
        "## LoRA against full backprop",
        "",
        *ratio_lines(ratios),
        "",
        "## Targets (issue 8)",
        "",
        *target_lines(by, ratios),
        "",
        "## Training (loss per step)",
        "",
        *[f"- {f['workload']}: " + (", ".join(f"{v:.4f}" for v in f["loss"]) if f.get("loss")
                                    else "not run") for f in figs],
        "",
        "## The model behind the numbers",
        "",
        ASSUMPTIONS,
    ]
    readme = "\n".join([
        f"Generated by `{command}` (commit {data['commit']}); details and the memory table in "
        "[docs/benchmarks.md](docs/benchmarks.md).",
        "",
        perf,
        "",
        *ratio_lines(ratios),
    ])
    return "\n".join(doc) + "\n", readme


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


__all__ = ["ROWS", "Row", "BenchError", "run_bench", "render", "update_readme", "figures"]
