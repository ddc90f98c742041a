"""GVSoC for the tests: the installed simulator, or a skip naming why there is none."""
from __future__ import annotations

import pytest

import et_testutil  # noqa: F401  (tools/ on sys.path)
from runners.base import FlashError
from runners.gvsoc import find_gvsoc


def require_gvsoc() -> str:
    """The GVSoC executable ($GVSOC, else gvsoc on PATH); skips the test when none is there."""
    try:
        return find_gvsoc()
    except FlashError as e:
        pytest.skip(str(e))
