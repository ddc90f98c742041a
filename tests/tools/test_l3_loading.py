"""How a siracusa program's L3 content (weights, bundled samples) reaches HyperRAM, checked on
the host: the ELF keeps ``.l3`` non-loadable with its size and CRC-32 recorded in ``.l3_meta``
(what the firmware checks at boot, hal/siracusa/l3.c); the HyperFlash image the gvsoc runner
preloads has the header the firmware reads; the serial runner sends ``.l3`` to the L3 region
of a model of the bootloader (frames of docs/boot-protocol.md, memory as a dict) and verifies
it; a loader without an L3 region is refused before anything is written; the gvsoc runner
builds GVSoC's command line and fails with one line when GVSoC is missing."""
import os
import struct
import zlib

import pytest
from elftools.elf.elffile import ELFFile

from et_testutil import ROOT, run_scons
from et.l3image import DATA_OFFSET, MAGIC, read_l3
from runners import gvsoc
from runners.base import FlashError
from runners.bootlink import CMD_CRC, CMD_IDENTIFY, CMD_START, CMD_WRITE, SYNC, encode_response
from runners.image import load_image
from runners.serial import flash_port

ELF = os.path.join(ROOT, "build", "siracusa", "deep_ae", "deep_ae.elf")
SIRACUSA_REGIONS = [(0x1C010000, 0x180000), (0x10000000, 0x40000), (0x80000000, 0x800000)]


@pytest.fixture(scope="module")
def elf():
    r = run_scons("target=siracusa", "app=deep_ae", timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return ELF


def test_l3_is_kept_not_loaded_and_its_crc_is_recorded(elf):
    with open(elf, "rb") as f:
        e = ELFFile(f)
        l3, meta = e.get_section_by_name(".l3"), e.get_section_by_name(".l3_meta")
        assert l3["sh_size"] > 1_000_000 and not l3["sh_flags"] & 0x2   # kept, not SHF_ALLOC
        assert all(s["p_filesz"] == 0 or s["p_paddr"] < 0x80000000
                   for s in e.iter_segments() if s["p_type"] == "PT_LOAD")
        size, crc = struct.unpack("<II", meta.data())
        assert (size, crc) == (len(l3.data()), zlib.crc32(l3.data()))


def test_hyperflash_image_layout(elf):
    img = read_l3(elf)
    flash = img.flash_bytes()
    magic, size, crc, off = struct.unpack("<IIII", flash[:16])
    assert (magic, size, crc, off) == (MAGIC, len(img.data), zlib.crc32(img.data), 0)
    assert flash[DATA_OFFSET:] == img.data and flash[:4] == b"ETL3"


class ModelLoader:
    """The serial bootloader as a host model: parses host frames, writes a byte dict, answers
    CRC over it, records START; its IDENTIFY regions are ``regions``."""

    def __init__(self, regions):
        self.regions, self.mem, self.started = regions, {}, None
        self.timeout, self._rx, self._buf = 0.1, b"", b""

    def reset_input_buffer(self):
        self._rx = b""

    def write(self, data):
        self._buf += data
        while len(self._buf) >= 10:
            i = self._buf.find(SYNC)
            if i < 0:
                self._buf = b""
                return
            cmd, seq, n = struct.unpack("<BBH", self._buf[i + 2:i + 6])
            if len(self._buf) < i + 10 + n:
                return
            payload = self._buf[i + 6:i + 6 + n]
            self._buf = self._buf[i + 10 + n:]
            self._rx += encode_response(0, seq, self._execute(cmd, payload))

    def _execute(self, cmd, p):
        if cmd == CMD_IDENTIFY:
            return struct.pack("<HHBB", 1, 4100, len(self.regions), 8) + b"".join(
                struct.pack("<II", *r) for r in self.regions) + b"siracusa"
        if cmd == CMD_WRITE:
            (addr,) = struct.unpack("<I", p[:4])
            for k, b in enumerate(p[4:]):
                self.mem[addr + k] = b
            return b""
        if cmd == CMD_CRC:
            addr, size = struct.unpack("<II", p)
            return struct.pack("<I", zlib.crc32(bytes(self.mem.get(addr + k, 0xFF)
                                                      for k in range(size))))
        if cmd == CMD_START:
            self.started = struct.unpack("<I", p)[0]
        return b""

    def read(self, n):
        out, self._rx = self._rx[:n], self._rx[n:]
        return out


def test_serial_runner_writes_l3_into_the_loaders_l3_region(elf):
    img = read_l3(elf)
    board = ModelLoader(SIRACUSA_REGIONS)
    flash_port(board, load_image(elf), progress=False)
    got = bytes(board.mem[img.base + k] for k in range(len(img.data)))
    assert got == img.data and board.started == load_image(elf).entry


def test_loader_without_l3_region_is_refused_before_any_write(elf):
    board = ModelLoader(SIRACUSA_REGIONS[:2])
    with pytest.raises(FlashError, match=r"segment 0x80000000\.\..*outside the application"):
        flash_port(board, load_image(elf), progress=False)
    assert not board.mem


def test_gvsoc_command_line_and_missing_gvsoc(tmp_path, monkeypatch):
    cmd = gvsoc.gvsoc_command("/opt/x/gvsoc", "build/a.elf", str(tmp_path), str(tmp_path / "f.bin"))
    assert cmd[:3] == ["/opt/x/gvsoc", "--target=siracusa", "--binary"]
    assert os.path.isabs(cmd[3]) and cmd[3].endswith("build/a.elf")
    assert f"--config-opt=hyperflash/content/image={tmp_path}/f.bin" in cmd
    assert "--config-opt=hyperflash/writeback=false" in cmd and cmd[-1] == "run"
    monkeypatch.delenv("GVSOC", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FlashError, match="GVSoC is not installed"):
        gvsoc.find_gvsoc()
    monkeypatch.setenv("GVSOC", str(tmp_path / "nope"))
    with pytest.raises(FlashError, match="GVSoC not found at .*nope .from .GVSOC"):
        gvsoc.find_gvsoc()


def test_gvsoc_child_env_drops_our_virtualenv(monkeypatch):
    monkeypatch.setenv("VIRTUAL_ENV", "/somewhere/.venv")
    monkeypatch.setenv("PATH", os.pathsep.join(["/somewhere/.venv/bin", "/opt/gvsoc/bin", "/usr/bin"]))
    env = gvsoc.child_env()
    assert "VIRTUAL_ENV" not in env
    assert env["PATH"].split(os.pathsep) == ["/opt/gvsoc/bin", "/usr/bin"]
