"""The loadable image of an ELF, read with pyelftools: PT_LOAD segments (load address, the
bytes to write, the zero-filled tail), the L3 content a siracusa build keeps in its
non-loadable ``.l3`` section (HyperRAM is not memory-mapped: the bootloader writes it through
the uDMA) and the entry point. Everything that makes an ELF
unfit for loading (not an ELF, truncated, 64-bit, not RISC-V, nothing to load, an entry point
outside the loaded code, a segment outside the board's application regions) is an
``ImageError`` raised before anything is sent to a board."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

EM_RISCV = 243


class ImageError(Exception):
    """The ELF cannot be loaded; the message says why."""


@dataclass(frozen=True)
class Segment:
    """One loadable segment: ``data`` goes to ``addr``; ``memsz - len(data)`` zero bytes follow
    (the program's .bss, cleared by its own start-up, so never sent)."""

    addr: int
    data: bytes
    memsz: int

    @property
    def end(self) -> int:
        return self.addr + self.memsz


@dataclass
class Image:
    """What a runner loads."""

    path: str
    entry: int
    segments: list[Segment] = field(default_factory=list)

    @property
    def load_bytes(self) -> int:
        return sum(len(s.data) for s in self.segments)

    def check_regions(self, regions, board: str = "the board") -> None:
        """Every segment (with its zero tail) must lie wholly inside one of ``regions``
        ((base, size) pairs); otherwise ImageError naming the segment and the regions."""
        for s in self.segments:
            if not any(base <= s.addr and s.end <= base + size for base, size in regions):
                where = ", ".join(f"0x{b:08x}..0x{b + n:08x}" for b, n in regions)
                raise ImageError(f"{self.path}: segment 0x{s.addr:08x}..0x{s.end:08x} "
                                 f"({s.memsz} bytes) is outside the application regions of "
                                 f"{board} ({where})")


def load_image(path: str) -> Image:
    """Read and check ``path``; ImageError with a clear message if it cannot be loaded."""
    from elftools.common.exceptions import ELFError, ELFParseError
    from elftools.elf.elffile import ELFFile

    if os.path.isdir(path):
        raise ImageError(f"{path} is a directory, not an ELF file")
    if not os.path.exists(path):
        raise ImageError(f"no such file: {path}")
    if not os.path.isfile(path):
        raise ImageError(f"{path} is not a regular file (a device or a pipe), not an ELF file")
    size = os.path.getsize(path)
    try:
        with open(path, "rb") as f:
            ident = f.read(6)
            if ident[:4] != b"\x7fELF":
                raise ImageError(f"{path}: not an ELF file" + (" (empty)" if not size else ""))
            if ident[5:6] == b"\x02":
                raise ImageError(f"{path}: big-endian ELF; the board needs a little-endian "
                                 "32-bit RISC-V ELF (rv32)")
            f.seek(0)
            elf = ELFFile(f)
            if elf.elfclass != 32:
                raise ImageError(f"{path}: {elf.elfclass}-bit ELF; the board needs a 32-bit "
                                 "RISC-V ELF (rv32)")
            if elf["e_machine"] not in ("EM_RISCV", EM_RISCV):
                raise ImageError(f"{path}: machine {elf['e_machine']} is not RISC-V")
            if elf["e_type"] != "ET_EXEC":
                raise ImageError(f"{path}: type {elf['e_type']}, not an executable")
            entry = elf["e_entry"]
            if elf["e_phoff"] + elf["e_phnum"] * elf["e_phentsize"] > size:
                raise ImageError(f"{path}: corrupt or truncated ELF (program headers beyond "
                                 f"the end of the file)")
            if elf["e_shoff"] and elf["e_shoff"] + elf["e_shnum"] * elf["e_shentsize"] > size:
                raise ImageError(f"{path}: truncated ELF (section headers beyond the end of "
                                 f"the file, {size} bytes)")
            segments = []
            for i in range(elf.num_segments()):
                seg = elf.get_segment(i)
                if seg["p_type"] != "PT_LOAD" or seg["p_memsz"] == 0:
                    continue
                off, filesz, memsz = seg["p_offset"], seg["p_filesz"], seg["p_memsz"]
                if filesz > memsz:
                    raise ImageError(f"{path}: segment {i} has filesz > memsz (corrupt)")
                if off + filesz > size:
                    raise ImageError(f"{path}: truncated: segment {i} needs bytes up to "
                                     f"{off + filesz}, the file has {size}")
                data = seg.data() if filesz else b""
                if len(data) != filesz:
                    raise ImageError(f"{path}: truncated: segment {i} is short")
                if seg["p_paddr"] + memsz > 1 << 32:
                    raise ImageError(f"{path}: segment {i} wraps the 32-bit address space")
                segments.append(Segment(seg["p_paddr"], data, memsz))
            l3 = elf.get_section_by_name(".l3")
            if l3 is not None and l3["sh_size"] and not l3["sh_flags"] & 0x2:  # not SHF_ALLOC
                data = l3.data()
                if len(data) != l3["sh_size"]:
                    raise ImageError(f"{path}: truncated: the .l3 section is short")
                segments.append(Segment(l3["sh_addr"], data, len(data)))
    except ImageError:
        raise
    except (ELFError, ELFParseError, ValueError, KeyError, OSError, AssertionError) as e:
        raise ImageError(f"{path}: corrupt or truncated ELF ({type(e).__name__}: {e})") from None
    except Exception as e:  # pyelftools raises struct.error and others on garbage
        raise ImageError(f"{path}: corrupt or truncated ELF ({type(e).__name__}: {e})") from None
    segments.sort(key=lambda s: s.addr)
    if not any(s.data for s in segments):
        raise ImageError(f"{path}: no loadable bytes")
    for a, b in zip(segments, segments[1:]):
        if b.addr < a.end:
            raise ImageError(f"{path}: segments at 0x{a.addr:08x} and 0x{b.addr:08x} overlap")
    if not any(s.addr <= entry < s.addr + len(s.data) for s in segments):
        raise ImageError(f"{path}: entry point 0x{entry:08x} is not in a loaded segment")
    return Image(path, entry, [s for s in segments])
