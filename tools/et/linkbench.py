"""Serial loading benchmark (not a test): tools/flash.py's serial runner loading programs
through the EdgeTune bootloader into the qemu board, on a clean link and through the fault
proxy (et.faultproxy) at given byte fault rates, protocol 2 (windows) against protocol 1 (one
acknowledged frame at a time) in the same run. Instrument: wall-clock seconds on the machine
that runs it (stated with the figures; a loaded machine is slower). ``tools/bench.py --link``
runs it and renders its section of docs/benchmarks.md from docs/bench/link-qemu.json.

Verdicts per load: ``ok`` (loaded, every segment's CRC read back equal, and, where the program
is watched, it ran and printed its result), ``failed`` (a clean one-line error, nothing
started), ``WRONG`` (reported as loaded, but the program did not run as it should: must never
happen).
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

from .compiler.appbuild import ROOT

HELLO = os.path.join(ROOT, "build", "qemu", "hello", "hello.elf")
BOOT = os.path.join(ROOT, "build", "qemu", "hello", "boot", "boot.elf")
BIG_APP = "digits_lora"  # the main job's program: the large image of the throughput rows
HELLO_RESULT = "@result name=dot ok=1"


def load_through_proxy(elf: str, seed: int, rate: float, boot: str = BOOT,
                       expect: str | None = HELLO_RESULT, windowed: bool = True) -> dict:
    """Load ``elf`` into a fresh qemu board (bootloader ``boot``) through a fault proxy
    (``rate`` per byte, both ways, seeded); the verdict and the loader's summary. ``expect``:
    a line the started program must print (read with the faults off), None to not watch it."""
    from runners.base import FlashError
    from runners.image import load_image
    from runners.monitor import monitor
    from runners.serial import flash_port, open_port

    from .faultproxy import FaultProxy
    from .qemu import QemuBoard

    img = load_image(elf)
    with QemuBoard(timeout=600, echo=False, loader=boot).start(None) as s, \
            FaultProxy(s.serial, seed=seed, rate=rate) as px:
        port = open_port(px.url, 115200)
        try:
            try:
                summary = flash_port(port, img, progress=False, windowed=windowed)
            except FlashError as e:
                return {"seed": seed, "outcome": "failed", "error": str(e),
                        "faults": px.counts.total}
            out = {"seed": seed, "outcome": "ok", "summary": summary, "faults": px.counts.total}
            if expect is not None:
                px.enabled = False  # read the program's console undisturbed
                res, lines = monitor(port, 60, echo=False)
                qcode = s.wait(10)
                if not (qcode == 0 and res.exit_code == 0 and any(expect in ln for ln in lines)):
                    out.update(outcome="WRONG", qemu=qcode, lines=lines[-3:])
            return out
        finally:
            port.close()


def _build(app: str) -> str:
    """Build ``app`` for qemu (with its bootloader); the ELF's path."""
    r = subprocess.run([sys.executable, "-m", "SCons", "-Q", "target=qemu", f"app={app}"],
                       cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if r.returncode:
        raise RuntimeError(f"scons target=qemu app={app} failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return os.path.join(ROOT, "build", "qemu", app, f"{app}.elf")


def _series(app: str, elf: str, rate: float, seeds: list[int], windowed: bool,
            expect: str | None, say) -> dict:
    """Loads of one (image, rate, protocol) over ``seeds``: verdicts, times, throughput."""
    from runners.image import load_image

    size = load_image(elf).load_bytes
    loads = []
    for seed in seeds:
        t0 = time.monotonic()
        o = load_through_proxy(elf, seed, rate, expect=expect, windowed=windowed)
        s = o.get("summary") or {}
        loads.append({"seed": seed, "outcome": o["outcome"], "seconds": s.get("seconds"),
                      "error": o.get("error"), "faults": o["faults"],
                      **{k: s.get(k) for k in ("attempts", "retries", "timeouts", "windows",
                                               "blocks", "blocks_lost", "block", "fault_rate",
                                               "sent")}})
        say(f"link: {app} {rate:.0%} protocol {2 if windowed else 1} seed {seed}: {o['outcome']}"
            + (f" in {s['seconds']:.1f} s" if s else f" ({o.get('error')})")
            + f" [{time.monotonic() - t0:.0f} s]")
    times = [x["seconds"] for x in loads if x["outcome"] == "ok"]
    return {"app": app, "bytes": size, "rate": rate, "protocol": 2 if windowed else 1,
            "watched": expect is not None, "loads": loads,
            "ok": sum(x["outcome"] == "ok" for x in loads),
            "failed": sum(x["outcome"] == "failed" for x in loads),
            "wrong": sum(x["outcome"] == "WRONG" for x in loads),
            "seconds": _dist(times),
            "kib_s": _dist([size / 1024 / t for t in times])}


def _dist(v: list[float]) -> dict | None:
    if not v:
        return None
    return {"min": min(v), "median": statistics.median(v), "max": max(v), "n": len(v)}


def run_link_bench(seeds: int = 10, say=print) -> dict:
    """The benchmark's series (see the module doc); JSON-ready."""
    from .bench import _commit, _qemu_version

    hello, big = _build("hello"), _build(BIG_APP)
    first = 100
    series = [
        # throughput: the big image clean (both protocols), at 1% and at 3% (protocol 2;
        # protocol 1 at 1% would take about ten minutes per load)
        _series(BIG_APP, big, 0.0, list(range(first, first + 3)), True, None, say),
        _series(BIG_APP, big, 0.0, [first], False, None, say),
        _series(BIG_APP, big, 0.01, list(range(first, first + 3)), True, None, say),
        _series(BIG_APP, big, 0.03, [first], True, None, say),
        # the fault sweep: apps/hello loaded and run, N seeds at 1% and 3%
        _series("hello", hello, 0.01, list(range(first, first + seeds)), True, HELLO_RESULT, say),
        _series("hello", hello, 0.03, list(range(first, first + seeds)), True, HELLO_RESULT, say),
        _series("hello", hello, 0.01, list(range(first, first + 3)), False, HELLO_RESULT, say),
    ]
    return {"commit": _commit(), "qemu": _qemu_version(), "cpus": os.cpu_count(),
            "load": os.getloadavg()[0], "series": series,
            "command": f"python tools/bench.py --link --seeds {seeds}"}


def _fmt(d: dict | None, fmt: str) -> str:
    return "-" if not d else "/".join(fmt.format(d[k]) for k in ("min", "median", "max"))


def render_link(data: dict) -> str:
    """The benchmark's section of docs/benchmarks.md."""
    out = ["## Serial loading (qemu board, wall clock)", "",
           f"Measured at commit {data['commit']} with {data['qemu']} on a machine with "
           f"{data['cpus']} CPUs (load average {data['load']:.1f} over the run's last minute) by "
           f"`{data['command']}`. tools/flash.py's serial runner loads the program through the "
           "EdgeTune bootloader over qemu's UART socket; faults (a byte flipped, dropped or "
           "duplicated, with equal odds, at the given rate per byte, both ways) come from the "
           "seeded proxy et.faultproxy. Protocol 2 writes in windows of blocks, each with its "
           "own CRC, and asks once per round which arrived; protocol 1 (the reference) sends one "
           "acknowledged frame at a time. Every load ends with the CRC of every segment read back "
           "from the board; `ok` for apps/hello also means that the program ran and printed its "
           "result. Times are wall-clock seconds of the load (identify to start), min/median/max.",
           "", "| image | bytes | faults/byte | protocol | loads | ok | failed cleanly | "
           "wrong image as success | load s | KiB/s |", "|---|---|---|---|---|---|---|---|---|---|"]
    for s in data["series"]:
        out.append(f"| {s['app']}{' (run)' if s['watched'] else ''} | {s['bytes']:,} | "
                   f"{s['rate']:.0%} | {s['protocol']} | {len(s['loads'])} | {s['ok']} | "
                   f"{s['failed']} | {s['wrong']} | {_fmt(s['seconds'], '{:.1f}')} | "
                   f"{_fmt(s['kib_s'], '{:.1f}')} |")
    out += ["", "Failed loads, with the error each ended in:", ""]
    fails = [(s, x) for s in data["series"] for x in s["loads"] if x["outcome"] != "ok"]
    out += [f"- {s['app']} at {s['rate']:.0%}, protocol {s['protocol']}, seed {x['seed']}: "
            f"{x['outcome']}: {x['error']}" for s, x in fails] or ["- none"]
    return "\n".join(out) + "\n"
