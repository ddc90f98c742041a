"""Code generator: training graph + memory plan -> the network's C and the training app's main.

``compile_model(spec)`` imports the ONNX model, derives the training graph (strategy, loss, SGD)
and plans memory; ``generate(spec, outdir)`` also writes, from the jinja2 templates in
``templates/``:
- ``net.h`` / ``net.c``: buffers (one static L2 arena at the planned offsets, parameters and
  optimizer state by the plan's level, one L1 scratch buffer), ``net_init`` (L1 scratch check
  against the kernels' ``*_scratch_size``), ``net_forward`` / ``net_backward`` / ``net_update``
  with one kernel call per IR node (kernelmap.py), each status-checked and measured per core
  (et_prof.h: one ``@perf`` per core, layer and phase), and ``net_dump`` (``@tensor`` records);
- ``weights.c``: the initializers as data (trainable ones writable, in the planned level);
- ``main.c``: the bundled data set (the samples the run uses, in L3) and the training loop.
``meta.json`` records what the host needs to read the log back (tensor names and shapes).

The training graph comes from training.training_program (its SGD nodes scheduled early).
"""
from __future__ import annotations

import json
import logging
import os
import re
import zipfile
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ..samplelink import LINK_SAMPLES
from ..targets import KIB, Target, get_target
from .ir import CompileError, DoesNotFitError, Graph
from .kernelmap import WHOLE, CodegenError, Emitter, numel
from .memory import ArenaPlanner, Plan, view_roots
from .onnx_import import import_onnx
from .ops import flops, op
from .tiles import query as kernel_tiles
from .tiling import tile_flop, tile_info, tile_loop, tile_r0, tile_rows
from .batchsplit import choose as choose_plan
from .training import Hyper, stats, training_program

log = logging.getLogger("et.compiler.codegen")
TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
NAME_OK = re.compile(r"^[A-Za-z0-9_.:/+-]+$")
# L1 kept free beside the scratch buffer for the runtime's own L1 statics (siracusa: the fork
# state, a few dozen bytes) and alignment; the linker's L1 check catches any overflow
L1_MARGIN = 1 * KIB
# L2 kept outside the plan for code, read-only data and the runtime, estimated from the program:
# the kernels, HAL and SDK (about 72 KiB at -O2 for the CCT's kernel set), plus the generated
# net.c, which grows with every kernel call (args, profiling, status check: ~430 B) and every
# staged tensor (DMA issue and wait: ~215 B). Fitted to the post-link measurements of the apps
# on siracusa, the larger of the two RV32 builds (with the L1 row tiling: cct_lastlayer
# 99,552 B, cct_lora 156,192 B, cct_finetune 162,800 B, CCT full backprop 172,480 B), with a
# margin; the post-link check (elfregions) is the ground truth and names any overflow.
L2_RESERVE_BASE = 76 * KIB
L2_RESERVE_PER_CALL = 440
L2_RESERVE_PER_STAGED = 224


def l2_reserve(g: Graph, plan: Plan | None = None, extra: int = 0) -> int:
    """The L2 reserve for ``g`` (with ``plan``'s staged tensors, and ``extra`` bytes of
    main.c's), rounded up to 4 KiB."""
    calls = sum(1 for n in g.nodes if not n.is_view)
    staged = sum(len(e["tensors"]) for e in plan.stream_nodes) if plan and plan.stream else 0
    need = (L2_RESERVE_BASE + calls * L2_RESERVE_PER_CALL + staged * L2_RESERVE_PER_STAGED
            + extra)
    return -(-need // (4 * KIB)) * 4 * KIB


def plan_memory(g: Graph, tgt: Target, stream: bool = True, strict: bool = True,
                extra: int = 0) -> Plan:
    """The memory plan with an L2 reserve sized for the program it leads to: staging more
    tensors makes net.c bigger, so the reserve is re-estimated until the plan's own need fits.
    ``extra``: L2 bytes main.c adds (main_l2_bytes)."""
    reserve = l2_reserve(g, extra=extra)
    for _ in range(4):
        plan = ArenaPlanner(l2_reserve=reserve, stream=stream).plan(g, tgt, strict=False)
        need = l2_reserve(g, plan, extra)
        if need <= reserve:
            if strict and plan.error:
                raise DoesNotFitError(plan.error)
            return plan
        reserve = need
    return ArenaPlanner(l2_reserve=reserve, stream=stream).plan(g, tgt, strict=strict)


@dataclass
class GenSpec:
    """Everything that defines one generated training program."""
    model: str
    data: str = ""
    strategy: str = "last"
    loss: str = ""            # "" = mse if the output has the input's shape, else ce
    lr: float = 0.01
    momentum: float = 0.0
    weight_decay: float = 0.0
    batch: int = 1            # samples per forward pass (a micro-batch when accumulating)
    steps: int = 1
    # micro-batches per step (gradient accumulation): each step trains on batch * accumulate
    # samples and updates once; the activations stay those of one micro-batch
    accumulate: int = 1
    target: str = "host"
    capacities: dict = field(default_factory=dict)   # overrides, e.g. {"L2": 524288}
    grads: bool = False
    profile: bool = True
    # steps that write @perf records: "1" (default), "1,5", "2-4", "all", "" (none)
    profile_steps: str = "1"
    # bundled samples the run cycles through (0: batch * steps, at most the data set's size)
    samples: int = 0
    # trained parameters after the last step: "full" (@tensor, exact), "sums" (@tsum: per-tensor
    # sum and sum of squares in double plus sampled elements), "auto" (full up to DUMP_FULL_MAX
    # trained values, else sums: hex dumps of 200K+ values take minutes over a UART)
    dump: str = "full"
    # weights and optimizer state placed in L3: "on" (default) copies them by DMA into L2 staging
    # buffers of the arena before the node that uses them (double-buffered) and writes the
    # updated ones back, so the kernels only see L1/L2 pointers; "off" passes the L3 pointers
    # to the kernels (works on host/qemu where L3 is RAM, not on Siracusa)
    stream_l3: str = "on"
    # the kernels that do not tile themselves (element-wise, row-wise, max-pool, SGD): "on"
    # (default) runs them tile by tile on L1 copies of their operands (sdk/include/et_tile.h,
    # tile rows in memplan.json); "off" passes them the L2 pointers
    l1_tiling: str = "on"
    # BatchNormalization: "export" (as the model was exported: training_mode=1 -> batch
    # statistics), "frozen" (running statistics, constants) or "batch" (batch statistics; the
    # running ones are updated on the device and written back)
    batchnorm: str = "export"
    # recomputation (activation checkpointing, recompute.py): "off", "blocks", "stem",
    # "stem,blocks", or "auto" (only when the plan without it does not fit or spills to L3)
    recompute: str = "off"
    # batch splitting (batchsplit.py): the stem runs on micro-batches of this many samples
    # (0: off; "auto": only when the whole batch does not fit, the largest that fits); with full
    # backprop, recompute "stem" keeps one copy's activations at a time
    split: int | str = "auto"
    # held-out evaluation (forward only, never trained on): the data set's eval_input with
    # eval_labels (accuracy and loss) or eval_target (loss); -1: all of it, 0: none, N: the
    # first N; run before the first step, after the last and every eval_every steps (0: only
    # those two); @eval records (docs/devlog.md)
    eval: int = -1
    eval_every: int = 0
    # where the training samples come from: "image" (bundled in the program, in L3) or "link"
    # (the host sends each one when the device asks for it, in a CRC-checked frame over the
    # serial link: sdk/include/et_link.h; the run writes them to link_samples.npz beside the ELF)
    sample_source: str = "image"

    def key(self) -> str:
        import hashlib
        h = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode())
        for p in (self.model, self.data):
            if p and os.path.exists(p):
                with open(p, "rb") as f:
                    h.update(f.read())
        return h.hexdigest()[:12]


DUMP_FULL_MAX = 16384   # trained values up to which dump="auto" writes full tensors
TSUM_SAMPLES = 8         # elements per tensor an @tsum record carries (evenly spaced)


def profiled_steps(spec: GenSpec) -> list[int] | None:
    """The steps that are profiled (sorted), or None for every step."""
    text = (spec.profile_steps or "").strip().lower() if spec.profile else ""
    if text == "all":
        return None
    out: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m or int(m.group(1)) < 1 or (m.group(2) and int(m.group(2)) < int(m.group(1))):
            raise CompileError(f"profile_steps '{spec.profile_steps}': expected 'all', '' or "
                               "step numbers from 1 and ranges, e.g. '1', '1,5', '2-4'")
        out.update(range(int(m.group(1)), int(m.group(2) or m.group(1)) + 1))
    return sorted(s for s in out if s <= spec.steps)


def dump_mode(spec: GenSpec, trained_values: int) -> str:
    if spec.dump not in ("full", "sums", "auto"):
        raise CompileError(f"dump '{spec.dump}': expected full, sums or auto")
    if spec.dump == "auto":
        return "full" if trained_values <= DUMP_FULL_MAX else "sums"
    return spec.dump


def tsum_indices(n: int) -> list[int]:
    """Indices of the elements an @tsum record samples (evenly spaced, first and last)."""
    k = min(n, TSUM_SAMPLES)
    return sorted({(i * (n - 1)) // max(1, k - 1) for i in range(k)})


def resolve_target(spec: GenSpec) -> Target:
    t = get_target(spec.target)
    for level, size in (spec.capacities or {}).items():
        t = t.with_capacity(level, int(size))
    return t


def guess_loss(g: Graph) -> str:
    return "mse" if tuple(g[g.outputs[0]].shape) == tuple(g[g.inputs[0]].shape) else "ce"


def compile_model(spec: GenSpec, strict: bool = True) -> tuple[Graph, Plan, Target]:
    """Import, build the training graph (updates scheduled early) and plan memory; with
    recomputation, ``g.meta['recompute']`` also says what it saved against the plan without."""
    tgt = resolve_target(spec)
    for opt in ("stream_l3", "l1_tiling"):
        if getattr(spec, opt) not in ("on", "off"):
            raise CompileError(f"{opt} '{getattr(spec, opt)}': expected on or off")
    g, plan = choose_plan(spec.split, spec.batch, spec.recompute,
                          lambda c, sp: _compile(spec, tgt, c, sp))
    if strict and plan.error:
        raise DoesNotFitError(plan.error + fit_hint(spec))
    return g, plan, tgt


def fit_hint(spec: GenSpec) -> str:
    """What can make a batch fit, for the does-not-fit error."""
    ways = []
    if spec.batch > 1:
        m = max(d for d in range(1, spec.batch) if spec.batch % d == 0)
        ways.append(f"the same step on micro-batches (--batch {m} --accumulate "
                    f"{spec.batch // m * spec.accumulate})")
    if spec.recompute == "off":
        ways.append("recomputation (--recompute auto)")
    return f"; to fit, try {' or '.join(ways)}" if ways else ""


def _compile(spec: GenSpec, tgt: Target, recompute: str, split: int) -> tuple[Graph, Plan]:
    g = import_onnx(spec.model, batch=spec.batch, max_fold_bytes=sum(tgt.capacities.values()),
                    batchnorm=spec.batchnorm)
    loss = spec.loss or guess_loss(g)
    training_program(g, spec.strategy, loss, Hyper(spec.lr, spec.momentum, spec.weight_decay),
                     spec.accumulate, recompute, split)
    return g, plan_memory(g, tgt, stream=spec.stream_l3 == "on", strict=False,
                          extra=main_l2_bytes(spec, g))


# main.c's own L2 beside the kernels': the evaluation and link code, the held-out labels (or
# the MSE target buffer) and the link's receive buffer
L2_MAIN_CODE = 4 * KIB


def main_l2_bytes(spec: GenSpec, g: Graph) -> int:
    """L2 that main.c adds for held-out evaluation and samples over the link (0 without)."""
    evals = 0
    if spec.eval != 0 and spec.data and os.path.exists(spec.data):
        try:
            with np.load(spec.data) as d:
                key = next((k for k in ("eval_labels", "eval_target") if k in d.files), None)
                evals = len(d[key]) if key else 0
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):
            evals = 0   # load_data names the problem
        if spec.eval > 0:
            evals = min(evals, spec.eval)
    extra = 0
    if evals:
        extra += L2_MAIN_CODE + (4 * evals if "labels" in g.tensors else 1024)
    if spec.sample_source == "link":
        per = numel(g[g.inputs[0]].shape[1:]) + numel(g[g.inputs[1]].shape[1:])
        extra += L2_MAIN_CODE + 4 * per
    return extra


# --- naming -----------------------------------------------------------------------------------
class Names:
    """Unique C identifiers for tensors, derived from their IR names."""

    def __init__(self):
        self.by_tensor: dict[str, str] = {}
        self.used: set[str] = set()

    def __call__(self, tensor: str, prefix: str = "t_") -> str:
        if tensor not in self.by_tensor:
            base = prefix + (re.sub(r"[^A-Za-z0-9]+", "_", tensor).strip("_") or "x")
            name, k = base, 1
            while name in self.used:
                k += 1
                name = f"{base}_{k}"
            self.used.add(name)
            self.by_tensor[tensor] = name
        return self.by_tensor[tensor]


def log_name(name: str) -> str:
    """A value the device log accepts (docs/devlog.md: no spaces, [A-Za-z0-9_.:/+-])."""
    return re.sub(r"[^A-Za-z0-9_.:/+-]", "_", name) or "_"


def c_floats(a: np.ndarray, per_line: int = 8) -> str:
    vals = np.asarray(a, np.float32).ravel()
    if not np.all(np.isfinite(vals)):
        raise CodegenError("a tensor holds inf or nan; cannot embed it")
    out = []
    for v in vals.tolist():
        s = "%.9g" % v
        if not any(ch in s for ch in ".e"):
            s += ".0"
        out.append(s + "f")
    lines = [", ".join(out[i:i + per_line]) for i in range(0, len(out), per_line)]
    return ",\n    ".join(lines)


def c_ints(a: np.ndarray, per_line: int = 16) -> str:
    vals = [str(int(v)) for v in np.asarray(a).ravel()]
    return ",\n    ".join(", ".join(vals[i:i + per_line]) for i in range(0, len(vals), per_line))


# --- generation -------------------------------------------------------------------------------
def _read_npz(path: str) -> dict:
    """The arrays of the .npz at ``path``; anything else is a CompileError naming the file."""
    try:
        d = np.load(path, allow_pickle=False)
        if not hasattr(d, "files"):
            raise CompileError(f"data set {path} is a single .npy array, not a .npz with "
                               "'input' and 'labels' or 'target'")
        with d:
            return {k: d[k] for k in d.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise CompileError(f"data set {path} is not a readable .npz file ({e})") from None


def _real_array(what: str, a: np.ndarray, kinds: str, want: str) -> None:
    """CompileError unless ``a`` has one of the dtype ``kinds`` and only finite values."""
    if a.dtype.kind not in kinds:
        raise CompileError(f"data set {what}: dtype {a.dtype} {list(a.shape)}, expected {want}")
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
        raise CompileError(f"data set {what}: {bad} of its {a.size} values are nan or inf")


def _float_array(what: str, a: np.ndarray) -> None:
    """Inputs and regression targets are floating point. Integer arrays are refused, not
    scaled: uint8 pixels (0..255) fed as they are train at a huge loss, and dividing by 255 is
    a guess about the normalization the model was trained with, which only the user knows."""
    if a.dtype.kind in "iub":
        lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
        raise CompileError(f"data set {what}: dtype {a.dtype} (values {lo}..{hi}); EdgeTune "
                           "feeds the values to the model as they are, so give floating point "
                           "scaled as the model was trained (e.g. "
                           f"{what}.astype(np.float32) / 255 for 8-bit pixels)")
    _real_array(what, a, "f", "real numbers (float32)")


def load_data(spec: GenSpec, g: Graph, loss: str) -> dict:
    """The samples the run uses, checked against the model: ``input`` [samples, ...] floating
    point with the model's values per sample; ``labels`` (ce) 1-D integer class indices in
    [0, classes), one per sample; ``target`` (mse) floating point [samples, ...] with the
    output's values per sample. Every mismatch is a CompileError naming the array and shapes.
    The held-out set (``eval_input`` with ``eval_labels`` or ``eval_target``, same rules) is
    returned as ``ex``, ``ey``, ``en`` (``en`` 0 without one or with ``spec.eval`` 0)."""
    if not spec.data:
        raise CompileError("no data set given (a .npz with 'input' and 'labels' or 'target')")
    d = _read_npz(spec.data)
    key = "labels" if loss == "ce" else "target"
    for k in ("input", key):
        if k not in d:
            raise CompileError(f"data set {spec.data} has no '{k}' array (has: "
                               f"{', '.join(d) or 'nothing'}); loss {loss} needs 'input' and '{key}'")
    if spec.samples < 0:
        raise CompileError(f"samples {spec.samples}: expected 0 (batch x steps) or a count")
    x, y = d["input"], d[key]
    used = min(x.shape[0] if x.ndim else 1,
               spec.samples or spec.batch * spec.accumulate * spec.steps)
    x, y, per = _samples(g, loss, x, y, "input", key, used)
    out = {"x": x, "y": y, "n": used, "per": per, "yper": 1 if loss == "ce" else y.shape[1],
           "ex": x[:0], "ey": y[:0], "en": 0}
    if spec.sample_source not in ("image", "link"):
        raise CompileError(f"sample_source {spec.sample_source!r}: expected 'image' (bundled) "
                           "or 'link' (sent by the host over the serial link)")
    if not isinstance(spec.eval, int) or isinstance(spec.eval, bool) or spec.eval < -1:
        raise CompileError(f"eval {spec.eval!r}: expected -1 (the whole held-out set), 0 (no "
                           "evaluation) or a count of held-out samples")
    if not isinstance(spec.eval_every, int) or spec.eval_every < 0:
        raise CompileError(f"eval_every {spec.eval_every!r}: expected 0 (before the first and "
                           "after the last step only) or a number of steps")
    ekey = "eval_" + key
    if spec.eval == 0 or ("eval_input" not in d and spec.eval == -1):
        return out
    for k in ("eval_input", ekey):
        if k not in d:
            raise CompileError(f"data set {spec.data} has no '{k}' array (has: "
                               f"{', '.join(d)}); evaluation on held-out samples needs "
                               f"'eval_input' and '{ekey}'")
    ex, ey = d["eval_input"], d[ekey]
    en = ex.shape[0] if ex.ndim else 1
    en = en if spec.eval == -1 else min(en, spec.eval)
    if g.meta.get("buffers"):
        raise CompileError("evaluation with BatchNorm batch statistics is not supported (the "
                           "forward pass would move the running statistics); use --batchnorm "
                           "frozen or no held-out set")
    ex, ey, _ = _samples(g, loss, ex, ey, "eval_input", ekey, en)
    out.update(ex=ex, ey=ey, en=en)
    return out


def _samples(g: Graph, loss: str, x: np.ndarray, y: np.ndarray, wx: str, wy: str,
             used: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The first ``used`` samples of an input/label (or target) pair, checked against the model
    (``wx``, ``wy``: the arrays' names in messages); returns (x [used, per], y, per)."""
    per = numel(g[g.inputs[0]].shape[1:])
    if x.ndim == 0 or x.shape[0] < 1 or numel(x.shape[1:]) != per:
        raise CompileError(f"data set {wx} {list(x.shape)} does not match the model's input "
                           f"{list(g[g.inputs[0]].shape)}: expected [samples, ...] with {per} "
                           "values per sample")
    _float_array(wx, x)
    if y.ndim == 0 or y.shape[0] != x.shape[0]:
        raise CompileError(f"data set {wy} {list(y.shape)} does not match {wx} "
                           f"{list(x.shape)}: expected one per sample ({x.shape[0]})")
    x = x[:used].reshape(used, per).astype(np.float32)
    if loss == "ce":
        classes = g[g.meta["logits"]].shape[-1]
        if y.ndim != 1:
            raise CompileError(f"data set {wy} {list(y.shape)}: cross-entropy needs 1-D "
                               f"integer class indices [samples] in [0, {classes})")
        _real_array(wy, y, "iu", f"integer class indices in [0, {classes}) "
                    "(cross-entropy)")
        if y.min() < 0 or y.max() >= classes:
            raise CompileError(f"data set {wy}: values {y.min()}..{y.max()} outside "
                               f"[0, {classes}) (the model has {classes} classes)")
        return x, y[:used].astype(np.int32), per
    yper = numel(g[g.meta["logits"]].shape[1:])
    if numel(y.shape[1:]) != yper:
        raise CompileError(f"data set {wy} {list(y.shape)} does not match the model's "
                           f"output {list(g[g.meta['logits']].shape)}: expected [samples, "
                           f"...] with {yper} values per sample")
    _float_array(wy, y)
    return x, y[:used].reshape(used, -1).astype(np.float32), per


def _render(name: str, **ctx) -> str:
    import jinja2
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True)
    return env.get_template(name).render(**ctx)


def generate(spec: GenSpec, outdir: str) -> dict:
    """Write net.h, net.c, weights.c, main.c and meta.json into ``outdir``; returns the meta."""
    g, plan, tgt = compile_model(spec)
    loss = g.meta["loss"]
    data = load_data(spec, g, loss)
    names = Names()
    arena: dict[str, int] = {}
    persistent = []
    for t in g.tensors.values():
        pl = plan.placements.get(t.name)
        if pl is None:
            continue
        if t.kind in ("act", "grad"):
            arena[t.name] = (pl.offset, "g_arena" if pl.level == "L2" else "g_arena_l3")
        else:
            persistent.append(t)

    roots = view_roots(g)
    stage_now: dict[str, int] = {}      # L3 tensor -> arena offset of its copy, for this node

    def ptr(tname: str) -> str:
        """The C pointer a kernel call gets for ``tname``: its L2 staging copy while the node
        stages it, else the tensor itself, which must then be addressable by the cores."""
        r = roots.get(tname, tname)
        if r in stage_now:
            return f"((float *)(g_arena + {stage_now[r]}))"
        pl = plan.placements.get(r)
        if pl is not None and pl.level == "L3" and not tgt.l3_loadable:
            raise CodegenError(f"a kernel would read or write {tname} in L3 directly, which the "
                               f"cores of {tgt.name} cannot address (stage it through L2)")
        return names(tname)

    entries = {e["node"]: (j, e) for j, e in enumerate(plan.stream_nodes)} if plan.stream else {}
    elist = plan.stream_nodes if plan.stream else []
    # DMA ids per streaming node: one per staged tensor
    max_t = max((len(e["tensors"]) for e in elist), default=1)

    prefetch_at = {e["prefetch"]: j for j, e in enumerate(elist) if e["prefetch"] is not None}
    # a write-back runs while the next kernel node computes; that node waits for it at its end
    wb_wait = {t["last"] for e in elist for t in e["tensors"] if t["write_back"]}

    def copies_in(j: int, comment: str = "") -> dict:
        """The L3 -> L2 copies of streaming entry j (template macro dma_in)."""
        e = elist[j]
        return {"slot": j % 2, "comment": comment,
                "copies": [{"id": i, "off": t["arena_offset"], "c": names(t["tensor"]),
                            "size": t["size"], "name": t["tensor"]}
                           for i, t in enumerate(e["tensors"]) if t["copy_in"]]}

    def chunk_code(n, e: dict, c) -> dict:
        """A chunked node (``staging_entries``: an optimizer node, or a row-separable node that
        stages much), chunk of rows by chunk: copy in its staged operands' rows, run, write
        back (template macro chunk_loop). The emitter's row-tiled call runs on the chunk's
        rows: the staged operands from their L2 copies, the others from the chunk's first row
        (operands it needs whole as they are), ``@R0@`` the chunk's first row (``row0``)."""
        stg = {t["tensor"]: t for t in e["tensors"]}
        ch = {"total": e["rows"], "step": e["chunk"], "copies": [], "wbs": [], "whole_in": [],
              "whole_out": []}
        for i, t in enumerate(e["tensors"]):
            rec = {"id": i, "off": t["arena_offset"], "c": names(t["tensor"]), "name": t["tensor"],
                   "row_bytes": t["row_bytes"], "size": t["size"]}
            copy_in, write_back = ("copies", "wbs") if t["row_bytes"] else ("whole_in",
                                                                              "whole_out")
            if t["copy_in"]:
                ch[copy_in].append(rec)
            if t["write_back"]:
                ch[write_back].append(rec)
        args = []
        for t, p, b, d in c.tile.streams:
            r = roots.get(t, t) if isinstance(t, str) else None
            args.append(f"(float *)(g_arena + {stg[r]['arena_offset']})" if r in stg
                        else p if d == WHOLE else f"({p}) + o_ * {b // 4}u")
        ch["pre"] = [c.tile.fill(p, args, "n_", em.ctx, "o_") for p in c.tile.pre]
        c.calls = [c.tile.fill(x, args, "n_", em.ctx, "o_") for x in [c.tile.call] + c.tile.then]
        streams = [(t, a, b, d) for (t, _, b, d), a in zip(c.tile.streams, args)]
        c.tile = replace(c.tile, rows=ch["step"], streams=streams, rows_c="(unsigned)n_",
                         row0="o_")
        return ch

    def stream_code(k: int) -> tuple[dict, list[dict]]:
        """What node k's block does around its call for L3 streaming (template macro
        staged): its copies in (unless prefetched), the wait for them, the next streaming
        node's prefetch, the write-backs; and the transfers for memplan.json."""
        st = {"own": None, "wait_in": None, "prefetch": None, "wait_wb": k in wb_wait, "wbs": []}
        xfers = []
        if k in entries:
            j, e = entries[k]
            if e["chunk"]:
                xfers = [{"tensor": t["tensor"], "bytes": t["size"], "from": a, "to": b,
                          "l2_offset": t["arena_offset"],
                          "chunk_bytes": t["stage_bytes"],
                          "during_node": k} for t in e["tensors"]
                         for a, b, do in (("L3", "L2", t["copy_in"]), ("L2", "L3", t["write_back"]))
                         if do]
                st["wait_wb"] = False   # the chunk loop waits for its own write-backs
                return st, xfers
            if e["prefetch"] is None:
                st["own"] = copies_in(j)
            st["wait_in"] = j % 2
            st["wbs"] = [{"id": i, "c": names(t["tensor"]), "off": t["arena_offset"],
                          "size": t["size"], "name": t["tensor"]}
                         for i, t in enumerate(e["tensors"]) if t["write_back"]]
            xfers = [{"tensor": t["tensor"], "bytes": t["size"], "from": "L3", "to": "L2",
                      "l2_offset": t["arena_offset"], "issued_before_node": k
                      if e["prefetch"] is None else e["prefetch"]}
                     for t in e["tensors"] if t["copy_in"]]
            xfers += [{"tensor": t["tensor"], "bytes": t["size"], "from": "L2", "to": "L3",
                       "l2_offset": t["arena_offset"], "issued_after_node": k}
                      for t in e["tensors"] if t["write_back"]]
        if k in prefetch_at:
            jn = prefetch_at[k]
            st["prefetch"] = copies_in(jn, f"prefetch for [{elist[jn]['node']}] {elist[jn]['name']}")
        return st, xfers

    def l3_time(xfers: list[dict]) -> dict:
        """L3 bytes the node moves and the cycles they take at the target's HyperRAM bandwidth."""
        rd = sum(x["bytes"] for x in xfers if x["from"] == "L3")
        wr = sum(x["bytes"] for x in xfers if x["to"] == "L3")
        bw_r, bw_w = tgt.l3_bytes_per_cycle
        cyc = (rd / bw_r if bw_r else 0.0) + (wr / bw_w if bw_w else 0.0)
        return {"l3_read_bytes": rd, "l3_write_bytes": wr, "l3_cycles": round(cyc)} if rd or wr else {}

    # per-row statistics a forward call keeps for its backward (layernorm: mean, 1/std), in
    # static L2 buffers named after the output they belong to
    row_stats: dict[str, tuple[str, str, int]] = {}
    for n in g.nodes:
        forward = n.phase == "fwd" or n.attrs.get("recompute")
        rows = op(n.op).row_stats(n, g) if forward and op(n.op).row_stats else 0
        if rows:
            k = len(row_stats)
            row_stats[n.outputs[0]] = (f"ln{k}_mean", f"ln{k}_rstd", rows)
    em = Emitter(g, ptr, lambda y: row_stats[y][:2])
    blocks = []
    node_info = []
    l1_cap = tgt.capacities["L1"] - tgt.cores * tgt.stack_per_core - L1_MARGIN
    for k, n in enumerate(g.nodes):
        if n.is_view:
            blocks.append({"view": True, "idx": k, "node": n.name,
                           "comment": f"{n.inputs[0]} -> {n.outputs[0]} {list(g[n.outputs[0]].shape)}"})
            node_info.append({"index": k, "name": n.name, "op": n.op, "phase": n.phase,
                              "view": True, "kernels": [], "l1_scratch": 0, "transfers": []})
            continue
        stream, xfers = stream_code(k)
        chunk = None
        stage_now.clear()
        chunked = k in entries and entries[k][1]["chunk"]
        if k in entries:  # a chunked SGD's pointers are replaced by its chunk loop below
            stage_now.update({t["tensor"]: t["arena_offset"] for t in entries[k][1]["tensors"]})
        c = em.emit(k, n)
        stage_now.clear()
        layer = log_name(n.name)
        phase = "fwd" if n.phase == "loss" else n.phase
        flop_c = f"{flops(n, g)}u"
        if chunked:
            chunk = chunk_code(n, entries[k][1], c)
            # one @perf record per chunk: each carries its chunk's share of the node's FLOP
            total = entries[k][1]["rows"]
            flop_c = tile_flop(flops(n, g), total, "o_", "(uint32_t)n_")
        tiled, l1_tiles = None, None
        if c.tile and c.tile.l1 and spec.l1_tiling == "on":
            tr = tile_rows(c.tile, l1_cap)
            if tr:
                f_tile = (tile_flop(flops(n, g), total, tile_r0(c.tile)) if chunked
                          else tile_flop(flops(n, g), c.tile.rows))
                tiled = tile_loop(c.tile, tr, f_tile)
                whole = replace(c.tile, rows=total) if chunked else c.tile
                l1_tiles = tile_info(whole, tr)
                if chunked:
                    l1_tiles["chunk_rows"] = c.tile.rows
        node_info.append({"index": k, "name": n.name, "op": n.op, "phase": n.phase,
                          "variant": n.variant, "kernels": list(c.kernels),
                          "inputs": list(n.inputs), "outputs": list(n.outputs),
                          "l1_scratch": l1_cap if c.scratch else 0,
                          "l1_scratch_query": [s.want for s in c.scratch],
                          "l2_l1_min_bytes": sum(g[t].nbytes for t in dict.fromkeys(
                              n.inputs + n.outputs)),
                          "staged": [t["tensor"] for t in entries[k][1]["tensors"]]
                          if k in entries else [],
                          "l1_tiles": l1_tiles, "kernel_tiles": list(c.kernel_q),
                          "transfers": xfers, "layer": layer, **l3_time(xfers)})
        shapes = ", ".join(f"{i}{list(g[i].shape)}" for i in n.inputs)
        outs = ", ".join(f"{o}{list(g[o].shape)}" for o in n.outputs)
        dump = [(p, f"{p}_grad") for p in ([n.inputs[0]] if n.phase == "update" else [])]
        blocks.append({"view": False, "idx": k, "node": n.name, "layer": layer,
                       "phase": phase, "flop": flop_c, "decls": c.decls, "calls": c.calls,
                       "scratch": c.scratch, "comment": f"{n.op} {n.phase}"
                       f"{'/' + n.variant if n.variant else ''}: {shapes} -> {outs}",
                       "dump_grad": [(names(n.inputs[1]), numel(g[n.inputs[1]].shape), gname)
                                     for _, gname in dump], "stream": stream, "chunk": chunk,
                       "tiled": tiled})
    # the GEMM/conv calls' own L1 tiles, from the kernels' planners (tiles.py)
    asked = [(info, kq) for info in node_info for kq in info.get("kernel_tiles", [])]
    answers = kernel_tiles([q + (l1_cap,) for _, (_, q) in asked])
    for info in node_info:
        info["kernel_tiles"] = []
    for (info, (kernel, _)), ans in zip(asked, answers):
        info["kernel_tiles"].append({"kernel": kernel, **(ans or {"tiles": "unknown"})})
    for info in node_info:   # how the node's operands reach the cores
        info["l1"] = ("view" if info.get("view") else "kernel tiles" if info["kernel_tiles"]
                      else "row tiles" if info.get("l1_tiles") else "L2 direct")
    # views alias their input: a #define to the same pointer, declared once the input is known
    aliases = {}
    for n in g.nodes:
        if n.is_view:
            aliases[n.outputs[0]] = n.inputs[0]
    trainable = list(g.meta["trainable"])
    # written back after training: the trained tensors and the state the model carries
    # (BatchNorm's running statistics), initialized from the model like the parameters
    buffers = list(g.meta.get("buffers", []))
    updated = trainable + buffers
    params = [t for t in persistent if t.kind in ("param", "const") or t.name in buffers]
    pdecl = [{"c": names(t.name), "n": max(1, numel(t.shape)), "level": plan.placements[t.name].level,
              "const": t.name not in updated, "name": t.name,
              "init": c_floats(np.asarray(t.data, np.float32).reshape(-1))} for t in params]
    sdecl = []
    for t in persistent:
        if t.kind in ("param", "const") or t.name in buffers:
            continue
        ctype = "int32_t" if t.dtype == "i32" else "float"
        sdecl.append({"c": names(t.name), "n": max(1, numel(t.shape)), "ctype": ctype,
                      "level": plan.placements[t.name].level, "name": t.name})
    arena_defs = []
    for tname, (off, base) in sorted(arena.items(), key=lambda kv: (kv[1][1], kv[1][0], kv[0])):
        if tname in aliases:
            continue
        arena_defs.append({"c": names(tname), "off": off, "base": base, "name": tname,
                           "shape": list(g[tname].shape)})
    alias_defs = [{"c": names(o), "src": names(i), "name": o} for o, i in aliases.items()]
    dumps = [{"c": names(p), "n": numel(g[p].shape), "name": p,
              "at": tsum_indices(numel(g[p].shape))} for p in updated]
    mode = dump_mode(spec, sum(d["n"] for d in dumps))
    prof = profiled_steps(spec)
    bad = [p for p in updated if not NAME_OK.match(p)]
    if bad:
        raise CodegenError(f"trained tensor names {bad} contain characters the device log "
                           "cannot carry ([A-Za-z0-9_.:/+-])")
    st = stats(g)
    info = {"strategy": spec.strategy, "loss": loss, "batch": spec.batch, "steps": spec.steps,
            "accumulate": spec.accumulate, "recompute": g.meta["recompute"],
            "split": g.meta["split"],
            "arena": plan.arena_peak, "arena_l3": plan.l3_arena_peak, "l1": l1_cap,
            "target": tgt.name,
            "trainable": trainable, "buffers": buffers,
            "shapes": {p: list(g[p].shape) for p in updated},
            "stats": st, "kernel_calls": sum(len(b.get("calls", [])) for b in blocks),
            "level_bytes": plan.level_bytes, "samples": data["n"], "eval_samples": data["en"],
            "eval_every": spec.eval_every, "sample_source": spec.sample_source,
            "model": os.path.abspath(spec.model), "lora": g.meta.get("lora", []),
            "key": spec.key(),
            "input": g.inputs[0], "label": g.inputs[1], "dump": mode,
            "profile_steps": prof if prof is not None else "all",
            "stream_l3": bool(elist), "traffic": plan.traffic, "staging": plan.staging}
    nfwd = max(k for k, n in enumerate(g.nodes) if n.phase in ("fwd", "loss")) + 1
    tail = len(g.nodes)
    while tail > nfwd and g.nodes[tail - 1].phase == "update":
        tail -= 1
    if spec.accumulate > 1 and any(n.phase == "update" for n in g.nodes[:tail]):
        raise CodegenError("gradient accumulation: an update is scheduled before the last "
                           "micro-batch (training.schedule_updates_early)")
    ctx = dict(spec=spec, g=g, blocks=blocks, arena_defs=arena_defs, alias_defs=alias_defs,
               params=pdecl, state=sdecl, row_stats=list(row_stats.values()), dumps=dumps, info=info,
               fwd=blocks[:nfwd], bwd=blocks[nfwd:tail], upd=blocks[tail:], data=data,
               x=names(g.inputs[0]), y=names(g.inputs[1]), loss_c=names("loss"),
               l1_bytes=l1_cap, max_t=max_t, streaming=bool(elist), loss_kind=loss, dump_mode=mode, prof=prof,
               input_l3=plan.placements[g.inputs[0]].level == "L3",
               out_c=names(g.meta["logits"]), out_per=numel(g[g.meta["logits"]].shape[1:]),
               x_data=c_floats(data["x"]) if spec.sample_source == "image" else "",
               y_data=("" if spec.sample_source != "image" else
                       c_ints(data["y"]) if loss == "ce" else c_floats(data["y"])),
               ex_data=c_floats(data["ex"]) if data["en"] else "0",
               ey_data=(c_ints(data["ey"]) if loss == "ce" else c_floats(data["ey"]))
               if data["en"] else "0")
    os.makedirs(outdir, exist_ok=True)
    files = {"net.h": "net.h.j2", "net.c": "net.c.j2", "weights.c": "weights.c.j2",
             "weights.h": "weights.h.j2", "main.c": "main.c.j2"}
    for out, tpl in files.items():
        text = _render(tpl, **ctx)
        path = os.path.join(outdir, out)
        old = open(path).read() if os.path.exists(path) else None
        if old != text:  # unchanged files keep their time stamp (no rebuild)
            with open(path, "w") as f:
                f.write(text)
    with open(os.path.join(outdir, "meta.json"), "w") as f:
        json.dump(info, f, indent=1)
    link = os.path.join(outdir, LINK_SAMPLES)
    if spec.sample_source == "link":   # what the host sends: sample k of the run = row k
        np.savez(link, input=data["x"], label=data["y"])
    elif os.path.exists(link):
        os.remove(link)
    with open(os.path.join(outdir, "memplan.json"), "w") as f:
        json.dump(memplan_json(spec, g, plan, tgt, node_info, l1_cap), f, indent=1)
    log.info("generated %s: %d kernel calls, arena %d bytes", outdir, info["kernel_calls"],
             plan.arena_peak)
    return info


MEMPLAN_VERSION = 1


def memplan_json(spec: GenSpec, g: Graph, plan: Plan, tgt: Target, nodes: list,
                 l1_cap: int) -> dict:
    """The memory plan as data (docs/memplan.md describes the schema)."""
    tensors = []
    for name, p in plan.placements.items():
        t = g.tensors.get(name)
        tensors.append({"name": name, "kind": p.kind, "level": p.level, "offset": p.offset,
                        "size": p.size, "first": p.first, "last": p.last,
                        "buffer": p.buffer,
                        "shape": list(t.shape) if t is not None else None})
    caps = tgt.capacities
    return {
        "version": MEMPLAN_VERSION, "model": os.path.basename(spec.model),
        "strategy": spec.strategy, "batch": spec.batch, "accumulate": spec.accumulate,
        "recompute": g.meta["recompute"], "split": g.meta["split"],
        "target": tgt.name,
        "capacities": dict(caps), "stream_l3": plan.stream and bool(plan.stream_nodes),
        "l2_reserve": plan.l2_reserve,
        "arena": {"peak": plan.arena_peak, "order": plan.arena_order,
                  "live_peak": plan.live_peak, "peak_step": plan.peak_step,
                  "peak_node": plan.peak_node, "staging_peak": plan.staging,
                  "l3_peak": plan.l3_arena_peak, "spilled": plan.spilled},
        "baselines": {"no_reuse": plan.no_reuse, "naive_topological": plan.naive_peak,
                      "size_first_fit": plan.size_peak, "planner": plan.arena_peak},
        "totals": {"L1": {"capacity": caps["L1"], "scratch": l1_cap},
                   "L2": {"capacity": caps["L2"], "reserve": plan.l2_reserve,
                          "arena": plan.arena_peak, "persistent": plan.level_bytes.get("L2", 0),
                          "used": plan.l2_reserve + plan.arena_peak
                          + plan.level_bytes.get("L2", 0)},
                   "L3": {"capacity": caps.get("L3", 0), "arena": plan.l3_arena_peak,
                          "persistent": plan.level_bytes.get("L3", 0)}},
        "traffic_per_step": plan.traffic,
        "tensors": tensors, "nodes": nodes}
