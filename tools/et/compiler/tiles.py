"""The L1 tiles of the kernels that tile themselves (GEMM, conv2d), as their own planners pick
them: tileq.c, built for the host from the kernels' planner sources, answers one query per
kernel call, so memplan.json reports the tiles the firmware runs (not a Python copy of the
planners that could drift). Built once per source version into build/tools/."""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess

log = logging.getLogger("et.compiler.tiles")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SOURCES = ["tools/et/compiler/tileq.c", "kernels/gemm/gemm_plan.c", "kernels/conv2d/conv2d_plan.c"]
HEADERS = ["kernels/include", "kernels/gemm", "kernels/conv2d", "hal/include", "hal/common",
           "sdk/include"]


def _tool() -> str | None:
    """Path of the built query tool, building it if its sources changed; None without a host
    C compiler (the plan then says the tiles are unknown)."""
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        log.warning("no host C compiler: kernel tiles are left out of memplan.json")
        return None
    h = hashlib.sha256(cc.encode())
    deps = SOURCES + [os.path.join(d, f) for d in HEADERS for f in sorted(os.listdir(os.path.join(ROOT, d)))
                      if f.endswith(".h")]
    for p in deps:
        with open(os.path.join(ROOT, p), "rb") as f:
            h.update(f.read())
    exe = os.path.join(ROOT, "build", "tools", f"tileq-{h.hexdigest()[:12]}")
    if os.path.exists(exe):
        return exe
    os.makedirs(os.path.dirname(exe), exist_ok=True)
    tmp = f"{exe}.{os.getpid()}.tmp"
    cmd = [cc, "-O1", "-std=c11", *(f"-I{os.path.join(ROOT, d)}" for d in HEADERS),
           *(os.path.join(ROOT, s) for s in SOURCES), "-o", tmp]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        log.warning("building the tile query failed (%s): kernel tiles are left out", r.stderr[-500:])
        return None
    os.replace(tmp, exe)
    return exe


def query(queries: list[tuple]) -> list[dict | None]:
    """One answer per query: ("gemm", m, n, k, batch, trans_a, trans_b, l1_bytes) ->
    {mt, nt, kt, steps, l1_bytes}; ("conv", dir, n, c_in, h, w, c_out, kh, kw, sh, sw, ph, pw,
    l1_bytes) -> {tc, th, channel_blocks, row_blocks}; None where the planner refuses."""
    if not queries:
        return []
    exe = _tool()
    if exe is None:
        return [None] * len(queries)
    text = "".join(" ".join(str(v) for v in q) + "\n" for q in queries)
    out = subprocess.run([exe], input=text, capture_output=True, text=True, check=True).stdout
    answers = []
    for q, line in zip(queries, out.splitlines()):
        f = line.split()
        if f[0] == "gemm":
            answers.append(dict(zip(("mt", "nt", "kt", "steps", "l1_bytes"), map(int, f[1:]))))
        elif f[0] == "conv":
            answers.append(dict(zip(("tc", "th", "channel_blocks", "row_blocks"),
                                    map(int, f[1:]))))
        else:
            answers.append(None)
    if len(answers) != len(queries):
        raise RuntimeError(f"tile query answered {len(answers)} of {len(queries)} queries")
    return answers
