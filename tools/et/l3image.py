"""The L3 image of a siracusa ELF: the bytes of its non-loadable ``.l3`` section (weights,
bundled samples, L3 arenas), packed for HyperFlash the way the firmware reads it at boot
(``hal/siracusa/l3.c``): a 16-byte header at flash offset 0 (magic ``ETL3``, size, CRC-32 of the
data, L3 offset), the data from offset 256. The firmware copies it into HyperRAM and checks
size and CRC before ``main``; a missing or corrupt image is an ``@fault``, never silent."""
from __future__ import annotations

import os
import struct
import subprocess
import tempfile
import zlib
from dataclasses import dataclass

MAGIC = 0x334C5445  # "ETL3" little-endian, SIR_L3_IMAGE_MAGIC
DATA_OFFSET = 256   # SIR_L3_IMAGE_DATA
L3_SECTION = ".l3"
META_SECTION = ".l3_meta"  # 8 bytes in L2: size and CRC-32 of .l3, checked by the firmware


class L3ImageError(Exception):
    """The ELF's L3 content cannot be read; the message says why."""


@dataclass(frozen=True)
class L3Image:
    base: int    # link address of the first byte (HyperRAM offset = base - 0x80000000)
    data: bytes

    @property
    def crc(self) -> int:
        return zlib.crc32(self.data) & 0xFFFFFFFF

    def flash_bytes(self) -> bytes:
        """The HyperFlash content: header, padding, data."""
        hdr = struct.pack("<IIII", MAGIC, len(self.data), self.crc, self.base - 0x80000000)
        return hdr + bytes(DATA_OFFSET - len(hdr)) + self.data


def read_l3(elf_path: str) -> L3Image | None:
    """The ``.l3`` section of ``elf_path`` (None when the program has no L3 content)."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        with open(elf_path, "rb") as f:
            sec = ELFFile(f).get_section_by_name(L3_SECTION)
            if sec is None or sec["sh_size"] == 0:
                return None
            data = sec.data()
            if len(data) != sec["sh_size"]:
                raise L3ImageError(f"{elf_path}: truncated {L3_SECTION} section")
            return L3Image(sec["sh_addr"], data)
    except (ELFError, OSError, ValueError) as e:
        raise L3ImageError(f"{elf_path}: cannot read {L3_SECTION} ({e})") from None


def write_flash_image(elf_path: str, out_path: str) -> int:
    """Write the HyperFlash image of ``elf_path`` to ``out_path``; returns the L3 data bytes
    (0 and an image with a zero-size header when the program has no L3 content)."""
    img = read_l3(elf_path) or L3Image(0x80000000, b"")
    with open(out_path, "wb") as f:
        f.write(img.flash_bytes())
    return len(img.data)


def finish_elf(elf_path: str, objcopy: str) -> int:
    """After linking a target whose L3 is not memory-mapped: record the size and CRC-32 of
    ``.l3`` in ``.l3_meta`` and make ``.l3`` non-loadable (kept in the file for the runners).
    Returns the L3 bytes. L3ImageError if objcopy fails."""
    img = read_l3(elf_path)
    if img is None:
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        meta = os.path.join(tmp, "meta.bin")
        with open(meta, "wb") as f:
            f.write(struct.pack("<II", len(img.data), img.crc))
        cmd = [objcopy, f"--update-section", f"{META_SECTION}={meta}",
               "--set-section-flags", f"{L3_SECTION}=contents,readonly,data", elf_path]
        proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise L3ImageError(f"{elf_path}: {' '.join(cmd)} failed: {proc.stderr.strip()}")
    return len(img.data)
