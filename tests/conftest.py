"""Shared pytest helpers: the repository root on sys.path (tools/et) and a scons runner."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(ROOT, "tools")
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)


def run_scons(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run scons in the repository root with the venv's interpreter; output captured as text."""
    cmd = [sys.executable, "-m", "SCons", "-Q", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def scons():
    """The run_scons helper, as a fixture."""
    return run_scons
