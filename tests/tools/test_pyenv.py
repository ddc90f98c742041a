"""The command-line tools under a Python without the project's packages (issue 13): started
with a plain ``python3``, they run again under the repository's .venv; without a usable .venv
they stop with one line naming the missing packages and what to run, never a traceback."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS = [("edgetune", os.path.join(ROOT, "tools", "edgetune.py")),
         ("bench", os.path.join(ROOT, "tools", "bench.py"))]


def _run(script, *args, **env):
    # -S: no site packages, so numpy, onnx and jinja2 are missing as on a bare system Python
    return subprocess.run([sys.executable, "-S", script, *args], capture_output=True, text=True,
                          timeout=120, cwd="/", env={**os.environ, **env})


@pytest.mark.parametrize("tool,script", TOOLS)
def test_a_bare_python_runs_the_tool_under_the_venv(tool, script):
    if not os.access(os.path.join(ROOT, ".venv", "bin", "python"), os.X_OK):
        pytest.skip("no .venv in the repository (bash tools/setup.sh creates it)")
    r = _run(script, "--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage:") and "Traceback" not in r.stderr


@pytest.mark.parametrize("tool,script", TOOLS)
def test_without_the_venv_one_line_names_what_is_missing(tool, script):
    r = _run(script, "--help", ET_PYENV_REEXEC="1")   # as if the venv had been tried
    assert r.returncode == 1 and not r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"{tool}: error: Python packages numpy, onnx, jinja2 missing")
    assert "bash tools/setup.sh" in lines[0]
