#!/usr/bin/env python3
"""EdgeTune command line: ``plan`` (compile an ONNX model for training and report) for now.

    python tools/edgetune.py plan --model M.onnx --train STRATEGY [--train STRATEGY ...]
        [--loss ce|mse] [--batch B] [--target host|qemu|siracusa] [--lr LR] [--momentum M]
        [--weight-decay WD] [--graph] [--json OUT.json]

Prints, per strategy, FLOP of forward and backward, trainable parameters, gradient bytes and
the L2 arena peak of the memory plan. Exit code 1 with a message on any compile error.
``train`` (compile, build, run, write OUT.npz) comes with the code generator.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from et.compiler.ir import CompileError  # noqa: E402
from et.compiler.training import STRATEGY_HELP, Hyper  # noqa: E402


def _guess_loss(path: str) -> str:
    from et.compiler.onnx_import import import_onnx
    g = import_onnx(path, batch=1)
    return "mse" if g[g.outputs[0]].shape == g[g.inputs[0]].shape else "ce"


def cmd_plan(a) -> int:
    from et.compiler.report import summarize, table
    loss = a.loss or _guess_loss(a.model)
    hyper = Hyper(a.lr, a.momentum, a.weight_decay)
    rows = summarize(a.model, a.train, loss, a.batch, a.target, hyper)
    print(f"model {a.model}, loss {loss}, batch {a.batch}, target {a.target}")
    print(table(rows))
    for r in rows:
        if r["error"]:
            print(f"note: {r['strategy']}: {r['error']}")
    if a.graph:
        from et.compiler.onnx_import import import_onnx
        from et.compiler.training import build_training_graph
        g = import_onnx(a.model, batch=a.batch)
        build_training_graph(g, a.train[-1], loss, hyper)
        print(g.summary())
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="edgetune", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    pl = sub.add_parser("plan", help="compile for training and report FLOP, parameters, memory")
    pl.add_argument("--model", required=True, help="ONNX file")
    pl.add_argument("--train", action="append", required=True, help=STRATEGY_HELP)
    pl.add_argument("--loss", choices=("ce", "mse"), help="default: mse if output shape == input shape")
    pl.add_argument("--batch", type=int, default=1)
    pl.add_argument("--target", default="siracusa")
    pl.add_argument("--lr", type=float, default=0.01)
    pl.add_argument("--momentum", type=float, default=0.0)
    pl.add_argument("--weight-decay", type=float, default=0.0)
    pl.add_argument("--graph", action="store_true", help="also list the last strategy's kernel calls")
    pl.add_argument("--json", help="write the rows as JSON")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    try:
        return cmd_plan(a)
    except (CompileError, ValueError, OSError) as e:
        print(f"edgetune: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
