"""Target descriptions: memory levels, cores and compiler flags of host, qemu and siracusa.

This module is the single source of truth for the memory map: the linker script of a RISC-V
target is generated from it (``sdk/ld/edgetune.ld.j2``) and the ELF region check reads it.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class Region:
    """One memory level of a target: name (``L1``/``L2``/``L3``), base address and capacity."""

    name: str
    origin: int
    length: int
    window: int = 0  # address space the linker may use; the budget check reports overflow

    @property
    def link_length(self) -> int:
        return max(self.window, self.length)

    @property
    def end(self) -> int:
        return self.origin + self.length


@dataclass(frozen=True)
class Target:
    """A build target. ``regions`` is empty for ``host`` (native memory, capacities only)."""

    name: str
    description: str
    cores: int
    capacities: dict[str, int]
    regions: tuple[Region, ...] = ()
    march: str = ""
    mabi: str = ""
    hal_sources: tuple[str, ...] = ()  # globs relative to the project root
    stack_per_core: int = 2 * KIB
    l1_loadable: bool = False  # siracusa's simulator hangs on NOLOAD sections in L1
    l3_loadable: bool = True  # False: .l3 is not memory-mapped; kept in the ELF, not loaded
    fc_stack: int = 0  # siracusa: fabric-controller stack in L2
    # siracusa: L2 outside the application region (the private bank the serial bootloader ran
    # from, free once the program starts): the FC stack at its top, the L3 boot buffer at its base
    boot_scratch: tuple[int, int] = (0, 0)
    # L3 <-> L2 DMA bandwidth in bytes per cluster cycle (read L3 -> L2, write L2 -> L3), as
    # measured (0: free in this model); the plan and the report flag layers it limits
    l3_bytes_per_cycle: tuple[float, float] = (0.0, 0.0)
    extra_defines: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_riscv(self) -> bool:
        return bool(self.regions)

    def region(self, name: str) -> Region:
        for r in self.regions:
            if r.name == name:
                return r
        raise KeyError(f"target {self.name} has no region {name}")

    def with_capacity(self, level: str, size: int) -> "Target":
        """Copy of this target with one level's capacity changed (e.g. a smaller L1 to test tiling)."""
        caps = dict(self.capacities)
        caps[level] = size
        regions = tuple(
            replace(r, length=size, window=max(r.window, r.length)) if r.name == level else r
            for r in self.regions
        )
        return replace(self, capacities=caps, regions=regions)


_SIRACUSA_CAPS = {"L1": 256 * KIB, "L2": 1 * MIB, "L3": 8 * MIB}

TARGETS: dict[str, Target] = {
    "host": Target(
        name="host",
        description="native build on this machine (pthreads as cluster cores, fast tests)",
        cores=8,
        capacities=dict(_SIRACUSA_CAPS),
        hal_sources=("hal/host/*.c", "hal/common/dma_memcpy.c", "hal/common/dma_fault.c"),
    ),
    "qemu": Target(
        name="qemu",
        description="qemu-system-riscv32 virt, 8 harts as the cluster, Siracusa's memory budget",
        cores=8,
        capacities=dict(_SIRACUSA_CAPS),
        regions=(
            Region("L2", 0x80000000, _SIRACUSA_CAPS["L2"], window=2 * MIB),
            Region("L1", 0x80200000, _SIRACUSA_CAPS["L1"], window=2 * MIB),
            Region("L3", 0x80400000, _SIRACUSA_CAPS["L3"], window=12 * MIB),
        ),
        march="rv32imafc",
        mabi="ilp32f",
        hal_sources=("hal/qemu/*.S", "hal/qemu/*.c", "hal/common/dma_memcpy.c", "hal/common/dma_fault.c",
                     "hal/common/mem_linker.c", "hal/common/stdio_picolibc.c"),
    ),
    "siracusa": Target(
        name="siracusa",
        description="PULP Siracusa SoC: FC boots, 8-core cluster computes (builds here, runs on the chip)",
        cores=8,
        capacities=dict(_SIRACUSA_CAPS),
        regions=(
            # Application L2 budget (as Deeploy's Siracusa configuration): shared banks.
            Region("L2", 0x1C010000, _SIRACUSA_CAPS["L2"], window=0x180000),
            Region("L1", 0x10000000, _SIRACUSA_CAPS["L1"], window=1 * MIB),
            # HyperRAM is not memory-mapped: L3 addresses are device offsets for the uDMA.
            Region("L3", 0x80000000, _SIRACUSA_CAPS["L3"], window=64 * MIB),
        ),
        march="rv32imfc",
        mabi="ilp32f",
        hal_sources=("hal/siracusa/*.S", "hal/siracusa/*.c", "hal/common/mem_linker.c", "hal/common/dma_fault.c",
                     "hal/common/stdio_picolibc.c"),
        l1_loadable=True,
        l3_loadable=False,
        fc_stack=2 * KIB,
        boot_scratch=(0x1C008000, 0x8000),
        # GVSoC Siracusa model, kbench dma_l3_to_l2 / dma_l2_to_l3 (32 KiB copies, uDMA HyperBus)
        l3_bytes_per_cycle=(0.979, 0.548),
    ),
}


def get_target(name: str) -> Target:
    """Return the target called ``name`` or raise ValueError listing the valid ones."""
    try:
        return TARGETS[name]
    except KeyError:
        raise ValueError(
            f"unknown target '{name}'; valid targets: {', '.join(sorted(TARGETS))}"
        ) from None
