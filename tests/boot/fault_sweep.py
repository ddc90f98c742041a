#!/usr/bin/env python3
"""Seed sweep of loading apps/hello through the fault-injecting proxy (the default test run
uses two seeds): every seed must end in a verified, running image or a clean failure; a wrong
image reported as success is counted separately and makes the exit code 1.

    python tests/boot/fault_sweep.py [--seeds 100-129] [--rate 0.01]
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [os.path.join(ROOT, "tests"), os.path.join(ROOT, "tests", "tools"),
                os.path.join(ROOT, "tools")]

from test_flash import HELLO, load_through_proxy  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="100-129", help="first-last (inclusive)")
    ap.add_argument("--rate", type=float, default=0.01, help="fault probability per byte")
    args = ap.parse_args()
    first, last = (int(x) for x in args.seeds.split("-"))
    tally = {"ok": 0, "failed": 0, "WRONG": 0}
    times = []
    for seed in range(first, last + 1):
        t0 = time.monotonic()
        out = load_through_proxy(HELLO, seed, args.rate)
        tally[out["outcome"]] += 1
        extra = out.get("error") or (f"{out['summary']['seconds']:.1f} s load, "
                                     f"{out['summary']['attempts']} frames, "
                                     f"{out['summary']['retries']} retries, {out['faults']} faults")
        if out["outcome"] == "ok":
            times.append(out["summary"]["seconds"])
        print(f"seed {seed}: {out['outcome']} ({extra}) [{time.monotonic() - t0:.1f} s]", flush=True)
    print(f"rate {args.rate}: {tally['ok']} loaded and verified (app ran, @result ok=1, exit 0), "
          f"{tally['failed']} failed cleanly, {tally['WRONG']} wrong images reported as success"
          + (f"; load time min/median/max {min(times):.1f}/{sorted(times)[len(times) // 2]:.1f}/"
             f"{max(times):.1f} s" if times else ""))
    return 1 if tally["WRONG"] else 0


if __name__ == "__main__":
    sys.exit(main())
