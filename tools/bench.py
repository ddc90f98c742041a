#!/usr/bin/env python3
"""EdgeTune training benchmark (not a test): CCT-2 with TrainDeeploy's five strategies plus full
backprop, and Deep-AE, measured on the qemu board with deterministic counters.

    python tools/bench.py [--rows KEY,KEY,...] [--steps N] [--out docs/benchmarks.md]
                          [--no-readme] [--from-json build/bench/bench.json]

Builds every row with `scons target=qemu app=train cores=8` and `cores=1`, runs it, reads the
device log with the harness and writes docs/benchmarks.md (and the table between the
`bench:begin`/`bench:end` markers of README.md). The measurements are also saved as
build/bench/bench.json; --from-json re-renders from such a file without running anything.
Exit code 1 if a row failed to run (the document still says why), 2 on bad arguments.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from et.bench import ROWS, render, run_bench, update_readme  # noqa: E402
from et.compiler.appbuild import ROOT  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", default="", help="comma-separated row keys: "
                    + ", ".join(r.key for r in ROWS) + " (default: all)")
    ap.add_argument("--steps", type=int, default=2, help="training steps per run (step 1 is measured)")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    ap.add_argument("--no-readme", action="store_true", help="leave README.md's table alone")
    ap.add_argument("--from-json", default="", help="render saved measurements instead of running")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per qemu run")
    a = ap.parse_args(argv)
    keys = [k for k in a.rows.split(",") if k]
    unknown = [k for k in keys if k not in {r.key for r in ROWS}]
    if unknown:
        ap.error(f"unknown row(s) {', '.join(unknown)}; rows: {', '.join(r.key for r in ROWS)}")
    if a.from_json:
        with open(a.from_json) as f:
            data = json.load(f)
    else:
        rows = [r for r in ROWS if not keys or r.key in keys]
        data = run_bench(rows, steps=a.steps, timeout=a.timeout)
        path = os.path.join(ROOT, "build", "bench", "bench.json")
        with open(path, "w") as f:
            json.dump(data, f, indent=1, default=str)
        print(f"bench: measurements in {os.path.relpath(path, ROOT)}")
    command = "python tools/bench.py" + (f" --rows {a.rows}" if keys else "") + \
        (f" --steps {a.steps}" if a.steps != 2 else "")
    doc, block = render(data, command)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        f.write(doc)
    print(doc)
    print(f"bench: wrote {os.path.relpath(a.out, ROOT)}")
    if not a.no_readme and not keys:
        if update_readme(os.path.join(ROOT, "README.md"), block):
            print("bench: updated the table in README.md")
        else:
            print("bench: README.md has no bench markers; table not written there")
    return 1 if any(e["error"] for e in data["rows"] if e["row"]["key"] != "cct_full") else 0


if __name__ == "__main__":
    sys.exit(main())
