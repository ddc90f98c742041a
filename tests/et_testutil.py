"""Helpers shared by the test modules: repository paths (tools/ on sys.path) and a scons runner.

A module of its own, not conftest.py: several conftest.py files exist and ``from conftest import``
would resolve to whichever was loaded first.
"""
from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(ROOT, "tools")
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)


def run_scons(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run scons in the repository root with the venv's interpreter; output captured as text."""
    cmd = [sys.executable, "-m", "SCons", "-Q", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
