# SPDX-License-Identifier: Apache-2.0
"""The siracusa target builds hello into an ELF the Siracusa FC and cluster can run (layout checks),
and the build-time fabric-controller check (tools/et/fccheck.py) catches floating point."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if os.path.join(ROOT, "tools") not in sys.path:
    sys.path.insert(0, os.path.join(ROOT, "tools"))

from et import fccheck  # noqa: E402

GCC = "riscv64-unknown-elf-gcc"
ELF_PATH = os.path.join(ROOT, "build", "siracusa", "hello", "hello.elf")
L1 = (0x10000000, 0x10040000)
L2 = (0x1C010000, 0x1C110000)
EF_RISCV_FLOAT_ABI_MASK = 0x6
EF_RISCV_FLOAT_ABI_SINGLE = 0x2

pytestmark = pytest.mark.skipif(shutil.which(GCC) is None, reason="RISC-V toolchain not installed")


def _scons() -> list[str]:
    """The venv's scons (next to the running interpreter), else scons as a module."""
    exe = os.path.join(os.path.dirname(sys.executable), "scons")
    return [exe] if os.path.exists(exe) else [sys.executable, "-m", "SCons"]


@pytest.fixture(scope="module")
def elf():
    proc = subprocess.run(_scons() + ["-Q", "target=siracusa", "app=hello"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ours = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "hal/siracusa/" in ln]
    assert not [ln for ln in ours if "warning" in ln.lower()], "\n".join(ours)
    with open(ELF_PATH, "rb") as f:
        yield ELFFile(f)


def _inside(addr: int, size: int, rng: tuple[int, int]) -> bool:
    return rng[0] <= addr and addr + size <= rng[1]


def test_header(elf):
    assert elf.elfclass == 32
    assert elf["e_machine"] == "EM_RISCV"
    assert elf["e_flags"] & EF_RISCV_FLOAT_ABI_MASK == EF_RISCV_FLOAT_ABI_SINGLE  # ilp32f


def test_entry_in_fc_section(elf):
    entry = elf["e_entry"]
    assert L2[0] <= entry < L2[1]
    fc = elf.get_section_by_name(fccheck.FC_SECTION)
    assert fc is not None
    assert fc["sh_addr"] <= entry < fc["sh_addr"] + fc["sh_size"]
    assert elf.get_section_by_name(".symtab").get_symbol_by_name("_start")[0]["st_value"] == entry


def test_sections_in_l1_or_l2(elf):
    for sec in elf.iter_sections():
        if not sec["sh_flags"] & SH_FLAGS.SHF_ALLOC or sec["sh_size"] == 0:
            continue
        addr, size = sec["sh_addr"], sec["sh_size"]
        assert _inside(addr, size, L1) or _inside(addr, size, L2), \
            f"{sec.name} at 0x{addr:08x}+{size} is in neither L1 nor the L2 budget"


def test_cluster_entry(elf):
    syms = elf.get_section_by_name(".symtab")
    boot = syms.get_symbol_by_name("et_cluster_boot")
    assert boot, "cluster boot block missing"
    addr = boot[0]["st_value"]
    assert addr % 256 == 0 and L2[0] <= addr < L2[1]  # boot address, +0 and +0x80 both valid
    fc = elf.get_section_by_name(fccheck.FC_SECTION)
    assert not fc["sh_addr"] <= addr < fc["sh_addr"] + fc["sh_size"]  # cluster code is not FC code
    assert syms.get_symbol_by_name("et_cluster_start")


def test_linked_fc_code_is_clean(elf):  # noqa: ARG001 - the fixture builds the ELF
    assert fccheck.check(ELF_PATH) == []


def _compile(tmp_path, name: str, code: str) -> str:
    src, obj = tmp_path / f"{name}.c", tmp_path / f"{name}.o"
    src.write_text(code)
    subprocess.run([GCC, "-march=rv32imfc", "-mabi=ilp32f", "-O2", "-c", str(src), "-o", str(obj)],
                   check=True, capture_output=True, text=True)
    return str(obj)


def test_check_rejects_float_in_fc_object(tmp_path):
    bad = _compile(tmp_path, "bad", '__attribute__((section(".text.fc")))\n'
                   "float fc_add(float a, float b) { return a + b; }\n")
    findings = fccheck.check(bad)
    assert findings and any("floating-point" in f.reason for f in findings)
    assert fccheck.main([bad]) == 1


def test_check_accepts_integer_fc_object(tmp_path):
    good = _compile(tmp_path, "good", '__attribute__((section(".text.fc")))\n'
                    "int fc_add(int a, int b) { return a + b; }\n")
    assert fccheck.check(good) == []


def test_check_needs_fc_section(tmp_path):
    plain = _compile(tmp_path, "plain", "int f(int a) { return a; }\n")
    with pytest.raises(fccheck.FcCheckError):
        fccheck.check(plain)
