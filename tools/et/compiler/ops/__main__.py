"""python -m et.compiler.ops [--check]: write kernels/include/et_flop.h from the registry's FLOP
tables (the one FLOP convention of the compiler, the reports and kbench), or, with --check,
exit 1 if the committed header differs from what the registry gives."""
from __future__ import annotations

import os
import sys

from . import flop_table

HEADER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..",
                      "kernels", "include", "et_flop.h")


def render() -> str:
    lines = ["/* SPDX-License-Identifier: Apache-2.0 */",
             "/** @file et_flop.h",
             " *  @brief FLOP per unit of work of every kernel family: the one convention of the",
             " *  compiler's reports, the benchmark and kbench (a multiply-add is 2, every",
             " *  fmul/fadd/fsub/fdiv/compare 1, each exp/erf/tanh/log/sqrt 1, data movement 0).",
             " *",
             " *  Generated from the op registry (tools/et/compiler/ops/, each module's FLOP table)",
             " *  by `python -m et.compiler.ops`; tests/compiler/test_registry.py checks it is current.",
             " */",
             "#ifndef ET_FLOP_H", "#define ET_FLOP_H", ""]
    for k, v in sorted(flop_table().items()):
        lines.append(f"#define ET_FLOP_{k} {v}u")
    return "\n".join(lines + ["", "#endif /* ET_FLOP_H */", ""])


def main(argv: list[str]) -> int:
    text = render()
    path = os.path.normpath(HEADER)
    if "--check" in argv:
        have = open(path).read() if os.path.exists(path) else ""
        if have != text:
            print(f"{path} is out of date: run python -m et.compiler.ops", file=sys.stderr)
            return 1
        return 0
    with open(path, "w") as f:
        f.write(text)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
