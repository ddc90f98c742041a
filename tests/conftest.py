"""Root pytest configuration: tools/ on sys.path (through et_testutil) and the ``scons`` fixture."""
from __future__ import annotations

import pytest

from et_testutil import run_scons


@pytest.fixture(scope="session")
def scons():
    """The run_scons helper, as a fixture."""
    return run_scons
