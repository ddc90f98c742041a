#!/usr/bin/env python3
"""EdgeTune training benchmark (not a test): CCT-2 with TrainDeeploy's five strategies plus full
backprop, and Deep-AE, measured in GVSoC's Siracusa model (cycles) or on the qemu board
(instructions).

    python tools/bench.py [--target siracusa|qemu] [--zoo | --batch] [--rows KEY,KEY,...] [--steps N]
                          [--timeout S] [--idle S] [--no-readme] [--render-only]
    python tools/bench.py --link [--seeds N]

Builds every row with `scons target=T app=train cores=8` (in a build folder the row holds
alone: et.buildlock) (qemu: and `cores=1`, for the
speed-up), runs it (siracusa: through the gvsoc runner, GVSoC as $GVSOC or gvsoc on PATH),
reads the device log with the harness and saves the measurements as docs/bench/<target>.json.
Then docs/benchmarks.md (and the table between the `bench:begin`/`bench:end` markers of
README.md: GVSoC's when there are GVSoC measurements) is rendered from every
docs/bench/*.json. --render-only re-renders without running anything. --zoo measures the model
zoo instead (docs/bench/zoo-<target>.json), --batch the CCT-2 LoRA / full backprop and Deep-AE
rows at several batch sizes (docs/bench/batch-<target>.json; micro-batches accumulated where a
whole batch does not fit). --link measures loading through the serial bootloader on the qemu
board instead: throughput on a clean and a faulty link and a fault sweep of N seeds at 1% and
3% (et.linkbench; docs/bench/link-qemu.json).
Exit code 1 if a row failed to run or a load was reported good with a wrong image (the document
still says why), 2 on bad arguments.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from et.pyenv import ensure  # noqa: E402

ensure("bench")

from et.bench import (INSTRUMENTS, ROWS, batch_rows, render, run_bench, slim,  # noqa: E402
                      update_readme, zoo_rows)
from et.compiler.appbuild import ROOT  # noqa: E402

DATA_DIR = os.path.join(ROOT, "docs", "bench")
DOC = os.path.join(ROOT, "docs", "benchmarks.md")


def load_data(f) -> dict:
    """Measurements saved by an earlier run (JSON keys are strings: the core counts back to int)."""
    data = json.load(f)
    for e in data["rows"]:
        e["runs"] = {int(k): v for k, v in e["runs"].items()}
    return data


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", choices=sorted(INSTRUMENTS), default="siracusa",
                    help="siracusa: GVSoC, measured cycles (default); qemu: instructions")
    ap.add_argument("--rows", default="", help="comma-separated row keys: "
                    + ", ".join(r.key for r in ROWS) + " (default: all)")
    ap.add_argument("--steps", type=int, default=2, help="training steps per run (step 1 is measured)")
    ap.add_argument("--zoo", action="store_true",
                    help="the model zoo (et/models/zoo.py, every strategy that applies) instead "
                         "of the CCT/Deep-AE rows; measurements in docs/bench/zoo-<target>.json")
    ap.add_argument("--batch", action="store_true",
                    help="CCT-2 LoRA, full backprop and Deep-AE at several batch sizes (accumulated "
                         "micro-batches where a batch does not fit); docs/bench/batch-<target>.json")
    ap.add_argument("--link", action="store_true",
                    help="serial loading on the qemu board: throughput and a fault sweep "
                         "(et.linkbench); measurements in docs/bench/link-qemu.json")
    ap.add_argument("--seeds", type=int, default=10,
                    help="--link: seeds per fault rate of the sweep (default 10)")
    ap.add_argument("--no-readme", action="store_true", help="leave README.md's table alone")
    ap.add_argument("--render-only", action="store_true",
                    help="render docs/benchmarks.md from docs/bench/*.json, run nothing")
    ap.add_argument("--timeout", type=float, default=3600,
                    help="wall-clock seconds per run (default 3600)")
    ap.add_argument("--idle", type=float, default=120,
                    help="stop a run that prints nothing for this many seconds of its "
                         "simulator's CPU time (default 120; 0: off)")
    a = ap.parse_args(argv)
    keys = [k for k in a.rows.split(",") if k]
    if a.zoo and a.batch:
        ap.error("--zoo and --batch are separate benchmarks: give one")
    if a.link and (a.zoo or a.batch or keys):
        ap.error("--link is a benchmark of its own: no --zoo, --batch or --rows with it")
    if a.seeds < 1:
        ap.error("--seeds must be at least 1")
    kind = "zoo" if a.zoo else "batch" if a.batch else ""
    all_rows = zoo_rows() if a.zoo else batch_rows(a.target) if a.batch else ROWS
    unknown = [k for k in keys if k not in {r.key for r in all_rows}]
    if unknown:
        ap.error(f"unknown row(s) {', '.join(unknown)}; rows: {', '.join(r.key for r in all_rows)}")
    failed = False
    link_path = os.path.join(DATA_DIR, "link-qemu.json")
    if a.link and not a.render_only:
        from et.linkbench import run_link_bench
        link = run_link_bench(a.seeds, say=lambda m: print(m, flush=True))
        os.makedirs(DATA_DIR, exist_ok=True)
        with open(link_path, "w") as f:
            json.dump(link, f, indent=1)
        print(f"bench: measurements in {os.path.relpath(link_path, ROOT)}")
        failed = any(s["wrong"] for s in link["series"])
    elif not a.render_only:
        if a.target == "siracusa":
            from runners.base import FlashError
            from runners.gvsoc import find_gvsoc
            try:
                find_gvsoc()
            except FlashError as e:
                print(f"bench: error: {e}", file=sys.stderr)
                return 2
        rows = [r for r in all_rows if not keys or r.key in keys]
        cores = (8,) if a.target == "siracusa" or kind else (8, 1)
        data = run_bench(rows, steps=a.steps, timeout=a.timeout, target=a.target, cores=cores,
                         idle=a.idle or None)
        data["command"] = (f"python tools/bench.py --target {a.target}"
                           + (f" --{kind}" if kind else "") + (f" --rows {a.rows}" if keys else "")
                           + (f" --steps {a.steps}" if a.steps != 2 else ""))
        os.makedirs(DATA_DIR, exist_ok=True)
        path = os.path.join(DATA_DIR, f"{kind + '-' if kind else ''}{a.target}.json")
        for e in data["rows"]:
            e["commit"] = data["commit"]
        if keys and os.path.exists(path):  # a subset replaces its rows, keeps the others
            with open(path) as f:
                old = load_data(f)
            for e in old["rows"]:          # each row keeps the commit it was measured at
                e.setdefault("commit", old["commit"])
            new = {e["row"]["key"]: e for e in data["rows"]}
            data["rows"] = [new.pop(e["row"]["key"], e) for e in old["rows"]] + list(new.values())
        with open(path, "w") as f:
            json.dump(slim(data), f, indent=1, default=str)
        print(f"bench: measurements in {os.path.relpath(path, ROOT)}")
        failed = any(e["error"] for e in data["rows"] if e["row"]["key"] != "cct_full")
    datasets = {}
    for name in [f"{k}{t}" for k in ("", "zoo-", "batch-") for t in INSTRUMENTS]:
        path = os.path.join(DATA_DIR, f"{name}.json")
        if os.path.exists(path):
            with open(path) as f:
                datasets[name] = load_data(f)
    doc, block = render(datasets)
    if os.path.exists(link_path):
        from et.linkbench import render_link
        with open(link_path) as f:
            doc += "\n" + render_link(json.load(f))
    with open(DOC, "w") as f:
        f.write(doc)
    print(doc)
    print(f"bench: wrote {os.path.relpath(DOC, ROOT)}")
    if not a.no_readme:
        if update_readme(os.path.join(ROOT, "README.md"), block):
            print("bench: updated the table in README.md")
        else:
            print("bench: README.md has no bench markers; table not written there")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
