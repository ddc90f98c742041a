"""The Python the command-line tools run under: the repository's .venv (``bash tools/setup.sh``).

``ensure(tool, modules)`` is called by a tool before it imports anything outside the standard
library. If a module is missing from the running interpreter, the tool is started again with
.venv/bin/python (the same arguments), so ``python3 tools/edgetune.py ...`` works without
activating the venv; without a usable .venv it stops with one line saying what to run, never a
traceback. Only the standard library may be imported here.
"""
from __future__ import annotations

import importlib.util
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_PY = os.path.join(ROOT, ".venv", "bin", "python")
_AGAIN = "ET_PYENV_REEXEC"   # set for the second start: never loop


def missing(modules: tuple[str, ...]) -> list[str]:
    return [m for m in modules if importlib.util.find_spec(m) is None]


def ensure(tool: str, modules: tuple[str, ...] = ("numpy", "onnx", "jinja2")) -> None:
    gone = missing(modules)
    if not gone:
        return
    in_venv = os.path.realpath(sys.prefix) == os.path.realpath(os.path.join(ROOT, ".venv"))
    if os.access(VENV_PY, os.X_OK) and not in_venv and not os.environ.get(_AGAIN):
        os.environ[_AGAIN] = "1"
        os.execv(VENV_PY, [VENV_PY, os.path.abspath(sys.argv[0])] + sys.argv[1:])
    sys.stderr.write(f"{tool}: error: Python package{'s' if len(gone) > 1 else ''} "
                     f"{', '.join(gone)} missing for {sys.executable}: run `bash tools/setup.sh`"
                     f" in {ROOT} (it creates .venv there)\n")
    sys.exit(1)
