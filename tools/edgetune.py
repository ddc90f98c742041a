#!/usr/bin/env python3
"""EdgeTune command line: ``plan`` (compile an ONNX model for training and report) and ``train``.

    python tools/edgetune.py plan --model M.onnx --train STRATEGY [--train STRATEGY ...]
        [--loss ce|mse] [--batch B] [--accumulate N] [--target host|qemu|siracusa] [--lr LR]
        [--momentum M] [--weight-decay WD] [--graph] [--json OUT.json] [--all-strategies]
        [--stream-l3 on|off] [--batchnorm export|frozen|batch] [--recompute R] [--split M|auto]

Prints, per strategy, trainable parameters, gradient bytes and the memory plan the code
generator uses (docs/memplan.md): weights per level, peak dynamic memory per level next to the
baselines (naive liveness, no reuse), bytes moved L3<->L2 and L2<->L1 per step, and the
LoRA / full-backprop ratios when both are in the list. Exit code 1 with a message on any compile error.

    python tools/edgetune.py train --model M.onnx --train STRATEGY --lr LR --data D.npz
        --steps N --target host|qemu|siracusa --out OUT.npz [--momentum M] [--weight-decay WD]
        [--batch B] [--accumulate N] [--grads] [--loss ce|mse] [--l2 SIZE] [--timeout S]
        [--idle S] [--batchnorm export|frozen|batch] [--recompute R] [--split M|auto]

Generates the training program (tools/et/compiler/codegen.py), builds it with scons
(``app=train``) in a build folder of its own (concurrent runs never share one), runs it on
the target, and writes OUT.npz: ``loss`` (one value per step) and
each trained tensor after training under its ONNX name (inserted LoRA adapters under their own
names), BatchNorm's running statistics when they train with batch statistics, plus
``<name>_grad`` (the gradient of the last step) with --grads. ``--accumulate N`` (gradient
accumulation) trains each step on N micro-batches of B samples and updates once: the step of
a batch of N*B samples with the memory of a batch of B. ``--recompute`` (off, auto, blocks,
stem, stem,blocks) drops the activations of those segments after the forward pass and
recomputes them before their backward pass (same results, less memory, more FLOP). ``--split M``
runs the stem (the layers before the first block) on micro-batches of M samples and
concatenates their outputs, so a batch whose stem activations do not fit still trains in one
pass (same results).

Every failure is one line ``edgetune: error: ...`` on stderr, never a traceback, and no OUT.npz:
exit code 1 for bad input (options, model, data set, a plan that does not fit), 2 when the
build or the run fails (scons's own error line is quoted) or the training diverges
("diverged at step N (loss nan)").
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from et.pyenv import ensure  # noqa: E402

ensure("edgetune")

from et.compiler.ir import CompileError  # noqa: E402
from et.compiler.ops.norm import BN_MODES  # noqa: E402
from et.compiler.batchsplit import check_split  # noqa: E402
from et.compiler.recompute import CHOICES as RECOMPUTE  # noqa: E402
from et.compiler.training import STRATEGY_HELP, Hyper, check_accumulate  # noqa: E402


def _guess_loss(path: str) -> str:
    from et.compiler.onnx_import import import_onnx
    g = import_onnx(path, batch=1)
    return "mse" if g[g.outputs[0]].shape == g[g.inputs[0]].shape else "ce"


def cmd_plan(a) -> int:
    from et.compiler.report import ALL_STRATEGIES, ratios, summarize, table
    loss = a.loss or _guess_loss(a.model)
    hyper = Hyper(a.lr, a.momentum, a.weight_decay)
    strategies = list(a.train or [])
    if a.all_strategies:
        strategies += [s for s in ALL_STRATEGIES if s not in strategies]
    if not strategies:
        raise ValueError("give --train STRATEGY (repeatable) or --all-strategies")
    a.train = strategies
    rows = summarize(a.model, strategies, loss, a.batch, a.target, hyper,
                     stream=a.stream_l3 == "on", batchnorm=a.batchnorm,
                     accumulate=a.accumulate, recompute=a.recompute, split=a.split)
    acc = f" x {a.accumulate} micro-batches per step" if a.accumulate > 1 else ""
    print(f"model {a.model}, loss {loss}, batch {a.batch}{acc}, target {a.target}, momentum "
          f"{a.momentum}, L3 streaming {a.stream_l3}")
    print(table(rows))
    r = ratios(rows)
    if r:
        print(r)
    for r in rows:
        if r["error"]:
            print(f"note: {r['strategy']}: {r['error']}")
    if a.graph:
        from et.compiler.onnx_import import import_onnx
        from et.compiler.training import build_training_graph
        g = import_onnx(a.model, batch=a.batch, batchnorm=a.batchnorm)
        build_training_graph(g, a.train[-1], loss, hyper, a.accumulate, a.split)
        print(g.summary())
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


def cmd_train(a) -> int:
    from et.compiler.trainrun import main_train
    return main_train(a)


ACC_HELP = ("gradient accumulation: micro-batches of --batch samples per step, one update per "
            "step (default 1)")
RC_HELP = ("recomputation (activation checkpointing): drop these segments' activations after the "
           "forward pass and recompute them for the backward pass; auto: only when the plan "
           "without does not fit or spills to L3 (default off)")
SPLIT_HELP = ("run the stem (the layers before the first block) on micro-batches of this many "
              "samples, one after the other; 0: off; auto (default): only when the whole batch "
              "does not fit, the largest micro-batch that fits")


def split_value(text: str):
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}': expected auto or a number of samples") \
            from None
MAX_TIMEOUT = 7 * 24 * 3600   # seconds: a week
BN_HELP = ("BatchNormalization: batch statistics (batch; the running statistics are updated and "
           "written to OUT.npz), running statistics (frozen), or as exported (export, default: "
           "batch for a training-mode export)")


class _Parser(argparse.ArgumentParser):
    """argparse with the command's convention: one line and exit code 1 for a bad option."""

    def error(self, message):
        self.exit(1, f"{self.prog}: error: {message}\n")


def check_train_options(a) -> None:
    """The train options a build could only fail on later, as one ValueError/CompileError."""
    if not (1 <= a.steps < 1 << 31 and 1 <= a.batch < 1 << 31):
        raise ValueError(f"--steps {a.steps} and --batch {a.batch}: both must be in 1 .. "
                         f"{(1 << 31) - 1}")
    check_accumulate(a.accumulate)
    check_split(a.split, a.batch)
    if not (math.isfinite(a.timeout) and 0 < a.timeout <= MAX_TIMEOUT):
        raise ValueError(f"--timeout {a.timeout}: expected seconds in (0, {MAX_TIMEOUT}]")
    if not (math.isfinite(a.idle) and 0 <= a.idle <= MAX_TIMEOUT):
        raise ValueError(f"--idle {a.idle}: expected seconds in [0, {MAX_TIMEOUT}] (0: off)")
    Hyper(a.lr, a.momentum, a.weight_decay).check()
    out_dir = os.path.dirname(os.path.abspath(a.out))
    if os.path.isdir(a.out) or not os.path.isdir(out_dir):
        raise ValueError(f"--out {a.out}: expected a file in an existing folder")


def main(argv: list[str] | None = None) -> int:
    p = _Parser(prog="edgetune", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    pl = sub.add_parser("plan", help="compile for training and report FLOP, parameters, memory")
    pl.add_argument("--model", required=True, help="ONNX file")
    pl.add_argument("--train", action="append", help=STRATEGY_HELP)
    pl.add_argument("--all-strategies", action="store_true",
                    help="the CCT table: last, blocks:1, blocks:2, lora:r=4 on one block and on both, all")
    pl.add_argument("--stream-l3", choices=("on", "off"), default="on",
                    help="stage L3 weights through L2 by DMA (default on)")
    pl.add_argument("--loss", choices=("ce", "mse"), help="default: mse if output shape == input shape")
    pl.add_argument("--batch", type=int, default=1)
    pl.add_argument("--accumulate", type=int, default=1, help=ACC_HELP)
    pl.add_argument("--recompute", choices=RECOMPUTE, default="off", help=RC_HELP)
    pl.add_argument("--split", type=split_value, default="auto", help=SPLIT_HELP)
    pl.add_argument("--target", default="siracusa")
    pl.add_argument("--lr", type=float, default=0.01)
    pl.add_argument("--momentum", type=float, default=0.0)
    pl.add_argument("--weight-decay", type=float, default=0.0)
    pl.add_argument("--graph", action="store_true", help="also list the last strategy's kernel calls")
    pl.add_argument("--batchnorm", choices=BN_MODES, default="export", help=BN_HELP)
    pl.add_argument("--json", help="write the rows as JSON")
    tr = sub.add_parser("train", help="compile, build, run on the target, write the trained tensors")
    tr.add_argument("--model", required=True, help="ONNX file")
    tr.add_argument("--train", required=True, help=STRATEGY_HELP)
    tr.add_argument("--lr", type=float, required=True)
    tr.add_argument("--data", required=True, help=".npz with input and labels (ce) or target (mse)")
    tr.add_argument("--steps", type=int, required=True)
    tr.add_argument("--target", choices=("host", "qemu", "siracusa"), default="host",
                    help="where it runs (siracusa: in GVSoC, $GVSOC or gvsoc on PATH)")
    tr.add_argument("--out", required=True, help="OUT.npz")
    tr.add_argument("--momentum", type=float, default=0.0)
    tr.add_argument("--weight-decay", type=float, default=0.0)
    tr.add_argument("--batch", type=int, default=1, help="samples per forward pass")
    tr.add_argument("--accumulate", type=int, default=1, help=ACC_HELP)
    tr.add_argument("--recompute", choices=RECOMPUTE, default="off", help=RC_HELP)
    tr.add_argument("--split", type=split_value, default="auto", help=SPLIT_HELP)
    tr.add_argument("--grads", action="store_true", help="also write <name>_grad (last step)")
    tr.add_argument("--onnx-out", metavar="ADAPTED.onnx",
                    help="also write the model with the trained tensors as ONNX (onnxruntime "
                         "runs it)")
    tr.add_argument("--lora-export", choices=("merge", "keep"), default="merge",
                    help="--onnx-out with LoRA: merge the adapters into the base weights "
                         "(default) or keep them as extra nodes")
    tr.add_argument("--samples", choices=("image", "link"), default="image",
                    help="image (default): the training samples are bundled in the program; "
                         "link: the host sends each one over the serial link when the device "
                         "asks (CRC-checked frames; host and qemu runs)")
    tr.add_argument("--eval", type=int, default=-1, metavar="N",
                    help="held-out samples to evaluate (the data set's eval_input with "
                         "eval_labels or eval_target; -1, the default: all of them, 0: none)")
    tr.add_argument("--eval-every", type=int, default=0, metavar="K",
                    help="evaluate every K steps too (default 0: before the first step and "
                         "after the last only)")
    tr.add_argument("--loss", choices=("ce", "mse"), help="default: mse if output shape == input shape")
    tr.add_argument("--l2", help="L2 budget override (bytes, K or M), as scons l2=")
    tr.add_argument("--timeout", type=float, default=600,
                    help="wall-clock seconds for the run (default 600)")
    tr.add_argument("--idle", type=float, default=120,
                    help="stop a run that prints nothing for this many seconds of its "
                         "simulator's CPU time (default 120; 0: off)")
    tr.add_argument("--batchnorm", choices=BN_MODES, default="export", help=BN_HELP)
    tr.add_argument("--verbose", action="store_true", help="print the build and run output")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    from et.compiler.trainrun import TrainError
    try:
        if a.cmd == "train":
            check_train_options(a)
            return cmd_train(a)
        Hyper(a.lr, a.momentum, a.weight_decay).check()
        check_accumulate(a.accumulate)
        check_split(a.split, a.batch)
        return cmd_plan(a)
    except TrainError as e:   # the build or the run failed, or the training diverged
        print(f"edgetune: error: {e}", file=sys.stderr)
        return 2
    except (CompileError, ValueError, OSError) as e:   # bad input
        print(f"edgetune: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:   # the build and the run were stopped with their processes
        print("edgetune: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - a bug: still one line (--verbose: the traceback)
        if getattr(a, "verbose", False):
            raise
        hint = " (--verbose shows the traceback)" if a.cmd == "train" else ""
        print(f"edgetune: error: internal error {type(e).__name__}: {e}{hint}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
