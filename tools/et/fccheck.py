# SPDX-License-Identifier: Apache-2.0
"""Build-time check of Siracusa's fabric-controller (FC) code: no floating-point instruction.

The FC is an RV32IMC core without FPU, while the ELF is built for the cluster's rv32imfc/ilp32f:
gcc may use F instructions (even for integer code: it can spill integer registers to FP ones),
and any of them traps on the FC. The siracusa backend keeps every FC function in the section
``.text.fc`` (an output section of its own in the linked ELF, see ``sdk/ld/edgetune.ld.j2``).
(With ``-ffunction-sections`` a C function named exactly ``fc`` would also land there; the
check then judges it like FC code, so keep that name free.)
This module disassembles that section with ``riscv64-unknown-elf-objdump`` and reports:

- any floating-point instruction (mnemonic ``f*`` other than ``fence``, incl. the FP CSR
  aliases ``frcsr``/``fscsr``/...) or any FP register operand;
- in a linked executable, any direct jump, branch or call whose target lies outside
  ``.text.fc`` (the FC would run unchecked code, e.g. libc's ``memset``), and any indirect
  jump other than ``ret`` (its target cannot be checked). In a relocatable object the targets
  are not resolved yet, so only the instruction check applies.

Command line: ``python -m et.fccheck FILE...`` (from ``tools/``) exits 1 if anything is found.
"""
from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from dataclasses import dataclass

from elftools.elf.elffile import ELFFile

log = logging.getLogger("et.fccheck")

FC_SECTION = ".text.fc"
OBJDUMP = "riscv64-unknown-elf-objdump"

_LINE = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$")
_FP_REG = re.compile(r"(?<![\w.])f(?:t(?:1[01]|[0-9])|s(?:1[01]|[0-9])|a[0-7])(?!\w)")
_TARGET = re.compile(r"\b([0-9a-f]+) <[^>]*>")
_SYMREF = re.compile(r"<[^>]*>")
_BRANCHES = {"beq", "bne", "blt", "bge", "bltu", "bgeu", "beqz", "bnez", "blez", "bgez",
             "bltz", "bgtz", "bgt", "ble", "bgtu", "bleu"}
_JUMPS = {"j", "jal", "call", "tail"} | _BRANCHES
_INDIRECT = {"jalr", "jr"}


class FcCheckError(Exception):
    """The file cannot be checked (no FC section, objdump missing or failing)."""


@dataclass(frozen=True)
class Finding:
    """One offending instruction of the FC section."""

    addr: int
    text: str
    reason: str

    def __str__(self) -> str:
        return f"0x{self.addr:08x}: {self.text}  ({self.reason})"


def _section_info(path: str, section: str) -> tuple[int, int, bool]:
    """(start address, size, is a linked executable) of ``section`` in the ELF ``path``."""
    with open(path, "rb") as f:
        elf = ELFFile(f)
        sec = elf.get_section_by_name(section)
        if sec is None:
            raise FcCheckError(f"{path}: no section {section} (FC code must be placed there)")
        return sec["sh_addr"], sec["sh_size"], elf["e_type"] == "ET_EXEC"


def _disassemble(path: str, section: str, objdump: str) -> list[tuple[int, str, str]]:
    """(address, mnemonic, operands) of every instruction of ``section``."""
    cmd = [objdump, "-d", "--no-show-raw-insn", "-j", section, path]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    except FileNotFoundError:
        raise FcCheckError(f"{objdump} not found: run `bash tools/setup.sh`") from None
    except subprocess.CalledProcessError as e:
        raise FcCheckError(f"{' '.join(cmd)} failed: {e.stderr.strip()}") from None
    insns = []
    for line in out.splitlines():
        m = _LINE.match(line)
        if m and not line.rstrip().endswith(">:"):
            insns.append((int(m.group(1), 16), m.group(2), m.group(3).strip()))
    return insns


def _is_float(mnemonic: str, operands: str) -> str:
    """Why the instruction is a floating-point one, or ''."""
    base = mnemonic[2:] if mnemonic.startswith("c.") else mnemonic
    if base.startswith("f") and not base.startswith("fence"):
        return "floating-point instruction"
    regs = _SYMREF.sub("", operands.split("#", 1)[0])
    if _FP_REG.search(regs):
        return "floating-point register operand"
    return ""


def check(path: str, section: str = FC_SECTION, objdump: str = OBJDUMP) -> list[Finding]:
    """Return the offending instructions of the FC section of ``path`` (ELF or object file)."""
    start, size, linked = _section_info(path, section)
    findings = []
    for addr, mnem, ops in _disassemble(path, section, objdump):
        text = f"{mnem} {ops}".strip()
        reason = _is_float(mnem, ops)
        if not reason and linked:
            target = _TARGET.search(ops)
            if mnem in _JUMPS or (mnem in _INDIRECT and target):
                if target and not start <= int(target.group(1), 16) < start + size:
                    reason = f"jumps out of {section}: the FC would run unchecked code"
            elif mnem in _INDIRECT:
                reason = "indirect jump: its target cannot be checked"
        if reason:
            findings.append(Finding(addr, text, reason))
    return findings


def format_findings(path: str, findings: list[Finding], section: str = FC_SECTION) -> str:
    """A readable report of ``findings`` (one line each)."""
    head = (f"{path}: {len(findings)} problem(s) in {section}, the code of the fabric "
            "controller (RV32IMC, no FPU):")
    return "\n".join([head] + [f"  {f}" for f in findings])


def scons_action():
    """A scons post-link action: check the linked ELF; on a finding delete it and fail."""
    from SCons.Action import Action

    def action(target, source, env):  # noqa: ARG001 - scons action signature
        elf = str(target[0])
        try:
            findings = check(elf)
        except FcCheckError as e:
            print(f"scons: *** {e}", file=sys.stderr)
            os.remove(elf)
            return 1
        if findings:
            print(f"scons: *** {format_findings(elf, findings)}", file=sys.stderr)
            os.remove(elf)
            return 1
        return 0

    return Action(action, f"  FCCHK {FC_SECTION}: no floating point on the fabric controller")


def main(argv: list[str]) -> int:
    """Check every file named in ``argv``; 0 if all are clean, 1 otherwise."""
    status = 0
    for path in argv:
        try:
            findings = check(path)
        except FcCheckError as e:
            print(e, file=sys.stderr)
            status = 1
            continue
        if findings:
            print(format_findings(path, findings))
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
