#!/usr/bin/env python3
"""A stand-in for GVSoC's front end in the runner tests: like gapy, it starts the simulator
proper as a child through ``sh -c`` and waits for it. Both write their PIDs to
$FAKE_GVSOC_PIDS (a line each); the child plays $FAKE_GVSOC_MODE:

  slow      a simulation starved of CPU on a loaded machine: silent for $FAKE_GVSOC_SILENT
            seconds while working 20% of the time, then @done
  spin      prints @start, then spins silently forever (a firmware hang)
  block     prints @start, then sleeps forever (a process that waits for nothing)
  chatter   prints a @perf record every 0.2 s forever
"""
import os
import subprocess
import sys
import time

START = "@start app=fake target=siracusa cores=8 perf=mcycle log=1"


def child(mode: str) -> None:
    with open(os.environ["FAKE_GVSOC_PIDS"], "a") as f:
        f.write(f"{os.getpid()}\n")
    print(START, flush=True)
    if mode == "slow":
        end = time.monotonic() + float(os.environ.get("FAKE_GVSOC_SILENT", "3"))
        while time.monotonic() < end:
            t = time.monotonic()
            while time.monotonic() - t < 0.04:
                pass
            time.sleep(0.16)
        print("@loss step=1 value=0.5", flush=True)
        print("@done code=0", flush=True)
    elif mode == "spin":
        while True:
            pass
    elif mode == "block":
        time.sleep(3600)
    elif mode == "chatter":
        i = 0
        while True:
            i += 1
            print(f"@perf layer=l{i} phase=fwd core=0 cycles={i} instret={i}", flush=True)
            time.sleep(0.2)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(os.environ.get("FAKE_GVSOC_MODE", "slow"))
    else:  # the front end: the simulator runs in a shell child, as gapy starts gvsoc_launcher
        with open(os.environ["FAKE_GVSOC_PIDS"], "a") as f:
            f.write(f"{os.getpid()}\n")
        sys.exit(subprocess.call(["sh", "-c", f"'{sys.executable}' '{__file__}' --child"]))
