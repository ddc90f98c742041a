"""The native build of the bootloader's frame parser with its driver (fuzz_driver.c), shared
by the parser's fuzz tests and the host link tests."""
import os
import shutil
import subprocess

import pytest

from et_testutil import ROOT

BOOT = os.path.join(ROOT, "sdk", "boot")


@pytest.fixture(scope="session")
def driver(tmp_path_factory):
    if not shutil.which("gcc"):
        pytest.skip("no native gcc")
    out = tmp_path_factory.mktemp("bootfuzz") / "fuzz"
    cmd = ["gcc", "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
           "-Wall", "-Wextra", "-Werror", "-I", BOOT, os.path.join(BOOT, "boot_proto.c"),
           os.path.join(os.path.dirname(__file__), "fuzz_driver.c"), "-o", str(out)]
    subprocess.run(cmd, check=True)
    return str(out)
