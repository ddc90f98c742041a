"""``edgetune.py train``: generate, build with scons (app ``train``), run, read the log, write OUT.npz.

The build goes through the stable scons interface (``scons target=T app=train run=1``); the
generated program is described by a spec file passed in ``ET_TRAIN_SPEC`` (apps/train's
SConscript reads it; appbuild.py), so SConstruct's variables stay as they are. The log's
``@loss`` and ``@tensor`` records (docs/devlog.md) become ``loss`` and one array per trained
tensor (``<name>_grad`` for gradients) in the .npz.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import asdict

import numpy as np

from ..devlog import BROKEN, unseal
from .codegen import GenSpec, compile_model, load_data
from .ir import CompileError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
# fields added after these (docs/devlog.md: new fields may be added) are accepted and ignored
_MORE = r"(?: [a-z0-9_]+=\S*)*\s*$"
_TENSOR = re.compile(r"^@tensor name=(\S+) n=(\d+) off=(\d+) hex=([0-9a-f]*)" + _MORE)
_LOSS = re.compile(r"^@loss step=(\d+) value=(\S+?)" + _MORE)
_TSUM = re.compile(r"^@tsum name=(\S+) n=(\d+) sum=(\S+) sumsq=(\S+) at=([0-9,]*) hex=([0-9a-f]*)"
                   + _MORE)
_DONE = re.compile(r"^@done code=(-?\d+)")
_EVAL = re.compile(r"^@eval step=(\d+) n=(\d+)(?: correct=(\d+))? loss=(\S+?)" + _MORE)


class TrainError(Exception):
    """Building, running or reading back a training run failed (message says where)."""


def parse_log(lines) -> dict:
    """{'loss': [...], 'tensors': {name: float32 array}, 'sums': {name: {'n', 'sum', 'sumsq',
    'at': [indices], 'vals': float32 array}}, 'eval': [{'step', 'n', 'loss', 'correct'
    (cross-entropy; None for MSE)}], 'done': code or None}."""
    loss: dict[int, float] = {}
    sums: dict[str, dict] = {}
    parts: dict[str, tuple[int, dict[int, np.ndarray]]] = {}
    done = None
    evals = []
    for line in lines:
        line = line.rstrip("\r\n")
        if line.startswith("@") and unseal(line.rstrip(" \t"))[1] == BROKEN:
            raise TrainError(f"corrupted record in the log (its seal does not match): {line[:60]!r}")
        if m := _LOSS.match(line):
            loss[int(m.group(1))] = float(m.group(2))
        elif m := _TENSOR.match(line):
            name, n, off, hx = m.group(1), int(m.group(2)), int(m.group(3)), m.group(4)
            vals = _hex_f32(hx)
            parts.setdefault(name, (n, {}))[1][off] = vals
        elif m := _TSUM.match(line):
            at = [int(v) for v in m.group(5).split(",") if v]
            sums[m.group(1)] = {"n": int(m.group(2)), "sum": float(m.group(3)),
                                "sumsq": float(m.group(4)), "at": at,
                                "vals": _hex_f32(m.group(6))}
        elif m := _EVAL.match(line):
            evals.append({"step": int(m.group(1)), "n": int(m.group(2)),
                          "correct": None if m.group(3) is None else int(m.group(3)),
                          "loss": float(m.group(4))})
        elif m := _DONE.match(line):
            done = int(m.group(1))
    tensors = {}
    for name, (n, chunks) in parts.items():
        arr = np.concatenate([chunks[k] for k in sorted(chunks)]) if chunks else np.zeros(0)
        if arr.size != n:
            raise TrainError(f"tensor '{name}': {arr.size} of {n} values in the log")
        tensors[name] = arr.astype(np.float32)
    return {"loss": [loss[k] for k in sorted(loss)], "tensors": tensors, "sums": sums,
            "eval": evals, "done": done}


def eval_steps(steps: int, every: int) -> list[int]:
    """The steps after which the program evaluates its held-out set (0: before the first)."""
    return sorted({0, steps} | ({s for s in range(every, steps + 1, every)} if every else set()))


def eval_arrays(evals: list[dict]) -> dict[str, np.ndarray]:
    """OUT.npz's held-out record: eval_step, eval_loss and (cross-entropy) eval_accuracy."""
    if not evals:
        return {}
    out = {"eval_step": np.asarray([e["step"] for e in evals], np.int32),
           "eval_loss": np.asarray([e["loss"] for e in evals], np.float32)}
    if evals[0]["correct"] is not None:
        out["eval_accuracy"] = np.asarray([e["correct"] / e["n"] for e in evals], np.float32)
    return out


def _hex_f32(hx: str) -> np.ndarray:
    """8 hex digits per value (the IEEE-754 bits, most significant first) -> float32."""
    return np.frombuffer(bytes.fromhex("".join(
        hx[i + 6:i + 8] + hx[i + 4:i + 6] + hx[i + 2:i + 4] + hx[i:i + 2]
        for i in range(0, len(hx), 8))), dtype="<f4").astype(np.float32)


def scons_command(*args: str) -> list[str]:
    """scons run by this interpreter (``python -m SCons``): works from an unactivated venv,
    where ``scons`` is not on PATH."""
    return [sys.executable, "-m", "SCons", *args]


_CC_ERROR = re.compile(r"^\S+:\d+(?::\d+)?: (?:fatal )?error: ")
_SCONS_STATUS = re.compile(r"^scons: \*\*\* \[[^\]]*\] Error -?\d+$")  # says only the exit code


def failure_line(output: str) -> str:
    """scons's own reason for a failed build or run, in one line: the first compiler error and
    the last ``scons: ***`` line that says more than an exit code (else the last line
    printed)."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("scons: ***")]
    said = [ln for ln in errors if not _SCONS_STATUS.match(ln)]  # the run's own words first
    picked = [next((ln for ln in lines if _CC_ERROR.match(ln)), None),
              (said or errors or [None])[-1]]
    picked = [ln for ln in picked if ln]
    if not picked:
        picked = lines[-1:] or ["scons printed nothing"]
    return "; ".join(picked)


def divergence(lines) -> str | None:
    """'diverged at step N (loss nan)' when the log's first non-finite @loss is there."""
    for step, value in enumerate(parse_log(lines)["loss"], 1):
        if not np.isfinite(value):
            return f"diverged at step {step} (loss {value})"
    return None


def run_training(spec: GenSpec, out: str, timeout: float = 600, verbose: bool = False,
                 idle: float | None = 120.0) -> dict:
    """Compile and check the data set (both raise CompileError before any build), build and
    run with scons, write ``out``; returns the parsed log plus 'meta'. A failed build or run
    and a diverged run raise TrainError and write no ``out``.

    The run builds in a folder it holds alone from the build to the read-back
    (et.buildlock.claim: ``build/<target>/train``, or ``train.2``, ... while other runs hold
    those), so concurrent runs never read each other's log."""
    from ..buildlock import claim

    g, plan, _ = compile_model(spec)          # raises CompileError with the compiler's message
    data = load_data(spec, g, g.meta["loss"])  # the data set's problems, before scons
    spec_path = _write_spec(spec)
    with claim(os.path.join("build", spec.target, "train"), say=_say) as lock:
        build_dir = os.path.join(ROOT, lock.build_dir)
        args = [f"target={spec.target}", "app=train", "run=1", f"timeout={timeout:g}",
                f"idle={idle or 0:g}"]
        args += [f"{level.lower()}={int(size)}" for level, size in (spec.capacities or {}).items()]
        logpath = os.path.join(build_dir, "run.log")
        if os.path.exists(logpath):               # a failed build must not leave the last run's log
            os.remove(logpath)
        proc = scons_in(lock, spec_path, args, timeout + 600)
        if verbose:
            print(proc.stdout)
        os.makedirs(build_dir, exist_ok=True)
        scons_log = os.path.join(build_dir, "scons.log")
        with open(scons_log, "w") as f:
            f.write(proc.stdout)
        lines = None
        if os.path.exists(logpath):
            with open(logpath) as f:
                lines = f.readlines()
    if lines is not None and (why := divergence(lines)):
        raise TrainError(f"{why}; nothing written (log: {logpath})")
    if proc.returncode != 0:
        raise TrainError(f"build or run failed (scons exit {proc.returncode}): "
                         f"{failure_line(proc.stdout)} (output: {scons_log})")
    if lines is None:
        raise TrainError(f"scons succeeded but wrote no run log {logpath} (output: {scons_log})")
    res = parse_log(lines)
    if res["done"] != 0:
        raise TrainError(f"the program ended with code {res['done']} (log: {logpath})")
    if len(res["loss"]) != spec.steps:
        raise TrainError(f"{len(res['loss'])} @loss records for {spec.steps} steps ({logpath})")
    want = eval_steps(spec.steps, spec.eval_every) if data["en"] else []
    if [e["step"] for e in res["eval"]] != want:
        raise TrainError(f"@eval records after steps {[e['step'] for e in res['eval']]}, "
                         f"expected {want} ({logpath})")
    arrays = {"loss": np.asarray(res["loss"], np.float32), **eval_arrays(res["eval"])}
    for p in g.meta["trainable"] + g.meta.get("buffers", []):
        if p not in res["tensors"]:
            raise TrainError(f"trained tensor '{p}' missing from the log ({logpath})")
        shape = g[p].model_shape or g[p].shape    # as the model has it
        arrays[p] = res["tensors"][p].reshape(shape)
        if spec.grads and p in g.meta["trainable"]:
            if p + "_grad" not in res["tensors"]:
                raise TrainError(f"gradient of '{p}' missing from the log ({logpath})")
            arrays[p + "_grad"] = res["tensors"][p + "_grad"].reshape(shape)
        bad = int(arrays[p].size - np.count_nonzero(np.isfinite(arrays[p])))
        if bad:   # the last update overflowed: the loss of the step before it was still finite
            raise TrainError(f"diverged at step {spec.steps} (loss {res['loss'][-1]:.6g}, then "
                             f"{bad} of the {arrays[p].size} values of '{p}' not finite); "
                             f"nothing written (log: {logpath})")
    modules = g.meta.get("modules", {})
    # the PyTorch module of each trained tensor the exporter named itself
    res["modules"] = {p: modules[p] for p in g.meta["trainable"] if p in modules}
    if out:
        extra = {"_modules": np.array([f"{p}={m}" for p, m in res["modules"].items()])} \
            if res["modules"] else {}
        np.savez(out, **arrays, **extra)
    res["arrays"] = arrays
    res["log"] = logpath
    res["lora"] = g.meta.get("lora", [])
    # the tensors the run trained (and BatchNorm's running statistics), as the model shapes them
    res["trained"] = {p: arrays[p] for p in g.meta["trainable"] + g.meta.get("buffers", [])}
    return res


def _say(line: str) -> None:
    print(f"edgetune: {line}", file=sys.stderr, flush=True)


def _write_spec(spec: GenSpec) -> str:
    """The spec file scons reads (ET_TRAIN_SPEC), named by the spec's hash; written whole
    (a temporary file renamed), so a concurrent run never reads it half-written."""
    spec_dir = os.path.join(ROOT, "build", "train_specs")
    os.makedirs(spec_dir, exist_ok=True)
    spec_path = os.path.join(spec_dir, f"{spec.key()}.json")
    tmp = f"{spec_path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump({k: v for k, v in asdict(spec).items() if k != "capacities"}, f)
    os.replace(tmp, spec_path)
    return spec_path


def scons_in(lock, spec_path: str, args: list[str], limit: float) -> subprocess.CompletedProcess:
    """``scons -Q builddir=<the locked folder> ARGS`` for the training spec at ``spec_path``,
    in a process group of its own, handed the build folder's lock (et.buildlock); a scons that
    outlives ``limit`` seconds (a run's own limits stop it first) is ended with every process
    it started (TrainError)."""
    from ..procgroup import ProcessGroup

    cmd = scons_command("-Q", f"builddir={lock.build_dir}", *args)
    env = lock.lock_env(dict(os.environ, ET_TRAIN_SPEC=spec_path))
    with ProcessGroup(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                      pass_fds=(lock.fd,)) as group:
        try:
            out, _ = group.proc.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            raise TrainError(f"scons did not finish within {limit:.0f} s; stopped") from None
    return subprocess.CompletedProcess(cmd, group.proc.returncode, out.decode(errors="replace"), None)


def main_train(a) -> int:
    """The ``train`` subcommand (arguments from tools/edgetune.py)."""
    caps = {}
    if a.l2:
        from ..buildenv import BuildConfigError, parse_size
        try:
            caps["L2"] = parse_size(a.l2, "--l2")
        except BuildConfigError as e:
            raise CompileError(str(e)) from None
    spec = GenSpec(model=os.path.abspath(a.model), data=os.path.abspath(a.data),
                   strategy=a.train, loss=a.loss or "", lr=a.lr, momentum=a.momentum,
                   weight_decay=a.weight_decay, batch=a.batch, accumulate=a.accumulate,
                   recompute=a.recompute, split=a.split,
                   steps=a.steps, target=a.target, eval=a.eval, eval_every=a.eval_every,
                   sample_source=a.samples,
                   capacities=caps, grads=a.grads, batchnorm=a.batchnorm)
    for path, what in ((a.model, "model"), (a.data, "data set")):
        if not os.path.exists(path):
            raise CompileError(f"{what} {path} not found")
    if a.onnx_out:
        out_dir = os.path.dirname(os.path.abspath(a.onnx_out))
        if os.path.isdir(a.onnx_out) or not os.path.isdir(out_dir):
            raise ValueError(f"--onnx-out {a.onnx_out}: expected a file in an existing folder")
    res = run_training(spec, a.out, timeout=a.timeout, verbose=a.verbose, idle=a.idle)
    if a.onnx_out:
        from ..onnxexport import ExportError, adapted_model
        try:
            proto = adapted_model(spec.model, res["trained"], res["lora"], a.lora_export)
        except ExportError as e:
            raise TrainError(f"the adapted model: {e} (OUT.npz {a.out} was written)") from None
        import onnx
        onnx.save(proto, a.onnx_out)
    loss = res["loss"]
    held = ""
    if ev := res["eval"]:
        first, last = ev[0], ev[-1]
        held = (f"; held-out ({last['n']} samples) accuracy {first['correct'] / first['n']:.1%} -> "
                f"{last['correct'] / last['n']:.1%}" if last["correct"] is not None else
                f"; held-out ({last['n']} samples) loss {first['loss']:.6g} -> {last['loss']:.6g}")
    also = f", the adapted model {a.onnx_out} (LoRA {a.lora_export})" if a.onnx_out else ""
    print(f"trained {a.steps} steps on {a.target}: loss {loss[0]:.6g} -> {loss[-1]:.6g}{held}; "
          f"wrote {a.out} ({len(res['arrays'])} arrays){also}; log {res['log']}")
    return 0


__all__ = ["TrainError", "parse_log", "run_training", "scons_in", "main_train"]
if __name__ == "__main__":  # pragma: no cover
    sys.exit("use tools/edgetune.py train")
