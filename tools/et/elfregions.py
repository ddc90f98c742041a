"""Memory-region report and budget check of a linked RISC-V ELF (read with pyelftools).

The linker places sections inside address windows; this check compares what was placed with
each level's budget from ``targets.py`` and names the sections that overflow, in bytes.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile

from .targets import Target

log = logging.getLogger("et.elfregions")
L3_SECTION = ".l3"


@dataclass
class RegionUse:
    """Bytes of one region taken by the sections placed in it."""

    name: str
    origin: int
    capacity: int
    end: int = 0  # highest address used + 1 (origin if empty)
    sections: list[tuple[str, int, int]] = field(default_factory=list)  # (name, addr, size)

    @property
    def used(self) -> int:
        return max(0, self.end - self.origin)

    @property
    def overflow(self) -> int:
        return max(0, self.used - self.capacity)


class RegionOverflowError(Exception):
    """A section does not fit its memory level's budget."""


def measure(elf_path: str, target: Target) -> list[RegionUse]:
    """Return the use of every region of ``target`` by the allocated sections of the ELF."""
    uses = [RegionUse(r.name, r.origin, r.length, r.origin) for r in target.regions]
    with open(elf_path, "rb") as f:
        elf = ELFFile(f)
        for sec in elf.iter_sections():
            kept_for_loader = sec.name == L3_SECTION  # siracusa: not loadable, placed by the runner
            if not (sec["sh_flags"] & SH_FLAGS.SHF_ALLOC or kept_for_loader) or sec["sh_size"] == 0:
                continue
            addr, size = sec["sh_addr"], sec["sh_size"]
            for use, reg in zip(uses, target.regions):
                if reg.origin <= addr < reg.origin + reg.link_length:
                    use.sections.append((sec.name, addr, size))
                    use.end = max(use.end, addr + size)
                    break
            else:
                raise RegionOverflowError(
                    f"section {sec.name} at 0x{addr:08x} ({size} bytes) lies in no memory "
                    f"level of target {target.name}"
                )
    return uses


def format_table(uses: list[RegionUse]) -> str:
    """A small console table: region, used bytes, capacity, percentage."""
    lines = [f"{'region':<7}{'used':>10}{'capacity':>11}{'use':>8}"]
    for u in uses:
        pct = 100.0 * u.used / u.capacity if u.capacity else 0.0
        lines.append(f"{u.name:<7}{u.used:>10}{u.capacity:>11}{pct:>7.1f}%")
    return "\n".join(lines)


def outside_plan(uses: list[RegionUse], memplan: dict) -> dict | None:
    """L2 bytes the memory plan does not own (code, read-only data, runtime state, stacks),
    measured from the linked ELF: the L2 region's use minus the plan's arena and L2-resident
    tensors; next to the L2 reserve the planner kept for them (``l2_reserve``, docs/memplan.md)."""
    l2 = next((u for u in uses if u.name == "L2"), None)
    tot = memplan.get("totals", {}).get("L2", {})
    if l2 is None or "arena" not in tot:
        return None
    planned = int(tot["arena"]) + int(tot.get("persistent", 0))
    return {"planned": planned, "outside": l2.used - planned,
            "reserve": int(memplan.get("l2_reserve", 0))}


def format_outside(o: dict) -> str:
    slack = o["reserve"] - o["outside"]
    return (f"L2: plan {o['planned']} bytes; code and data outside the plan {o['outside']} bytes "
            f"(measured), reserve {o['reserve']} bytes, "
            + (f"{slack} bytes to spare" if slack >= 0 else f"EXCEEDED by {-slack} bytes"))


def check(uses: list[RegionUse]) -> None:
    """Raise RegionOverflowError naming each region, section and overflow in bytes."""
    problems = []
    for u in uses:
        if not u.overflow:
            continue
        limit = u.origin + u.capacity
        culprits = [
            f"{name} (0x{addr:08x}-0x{addr + size:08x}, {size} bytes, "
            f"{addr + size - max(addr, limit)} bytes past the end)"
            for name, addr, size in u.sections
            if addr + size > limit
        ]
        problems.append(
            f"region {u.name} overflowed by {u.overflow} bytes: {u.used} bytes used of "
            f"{u.capacity}; sections beyond the budget: {', '.join(culprits)}"
        )
    if problems:
        raise RegionOverflowError("\n".join(problems))
