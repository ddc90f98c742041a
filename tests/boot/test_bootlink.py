"""The host side of the serial boot protocol (tools/runners/bootlink.py) against the loader's
own parser (sdk/boot/boot_proto.c, built natively with the fuzz driver) behind a seeded fault
injector (et.faultproxy.Faults): windowed writes (protocol 2) and acknowledged frames
(protocol 1) load a verified image through flips, drops and duplicates both ways, or fail
with a clear error; never a wrong image. No qemu: the whole exchange runs in a pipe, so the
fault rates that take minutes on qemu take seconds here (the qemu sweep:
`python tools/bench.py --link`)."""
import os
import select
import struct
import subprocess
import time

import pytest

from et.faultproxy import Faults
from runners.bootlink import BootLink, LinkError, best_block
from runners.image import Image, Segment
from runners.serial import flash_port

BIG = 0x100000  # the driver's 1 MiB region
INTERBYTE_S = 0.02  # the simulated loader's inter-byte timeout (line quiet this long)


class ParserPort:
    """The loader's parser behind a pyserial-like port: bytes written go through ``faults``
    ("up") to the parser, its answers come back through ``faults`` ("down"). When the line has
    been quiet for INTERBYTE_S the parser's inter-byte timeout fires, as on a board."""

    def __init__(self, driver_path: str, faults: Faults | None = None):
        self.proc = subprocess.Popen([driver_path], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.faults = faults
        self.timeout = 0.1
        self.baudrate = 1_000_000
        self._rx = bytearray()
        self._last_tx = time.monotonic()
        self._timer_armed = False

    def write(self, data: bytes) -> None:
        if self.faults:
            data = self.faults.mangle(data, "up")
        for i in range(0, len(data), 0xFFFF):
            chunk = data[i:i + 0xFFFF]
            self.proc.stdin.write(b"\0" + struct.pack("<H", len(chunk)) + chunk)
        self.proc.stdin.flush()
        self._last_tx, self._timer_armed = time.monotonic(), True

    def _poll(self, wait: float) -> None:
        if self._timer_armed and time.monotonic() - self._last_tx > INTERBYTE_S:
            self.proc.stdin.write(b"\x01")
            self.proc.stdin.flush()
            self._timer_armed = False
        fd = self.proc.stdout.fileno()
        if select.select([fd], [], [], wait)[0]:
            data = os.read(fd, 65536)
            self._rx += self.faults.mangle(data, "down") if self.faults else data

    @property
    def in_waiting(self) -> int:
        self._poll(0)
        return len(self._rx)

    def read(self, n: int) -> bytes:
        deadline = time.monotonic() + (self.timeout or 0)
        while len(self._rx) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._poll(min(left, 0.005))
        out = bytes(self._rx[:n])
        del self._rx[:n]
        return out

    def close(self) -> str:
        self.proc.stdin.close()
        err = self.proc.stderr.read().decode()
        assert self.proc.wait(10) == 0, err
        return err


def _image(size: int, seed: int = 1) -> Image:
    import random

    data = random.Random(seed).randbytes(size)
    return Image("test image", BIG, [Segment(BIG, data, size)])


def _load(driver_path, image, faults=None, windowed=True):
    port = ParserPort(driver_path, faults)
    try:
        return flash_port(port, image, progress=False, windowed=windowed), port.close()
    except BaseException:
        port.proc.kill()
        raise


def test_block_size_follows_the_fault_rate():
    assert best_block(0.0) == 4096 and best_block(0.0, 1000) == 512
    sizes = [best_block(p) for p in (1e-5, 1e-4, 1e-3, 1e-2, 3e-2)]
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] == 16 and sizes[0] > 512


def test_clean_link_loads_in_large_windows(driver):
    summary, err = _load(driver, _image(600_000))
    assert summary["bytes"] == 600_000
    # nothing lost, nothing repeated, and the blocks grew from 512 bytes to 2 KiB or more
    assert summary["blocks_lost"] == 0 and summary["retries"] == 0 and summary["block"] >= 2048
    assert f"blocks={summary['blocks']}/0" in err and summary["blocks"] < 600_000 / 1024


@pytest.mark.parametrize("rate,seed", [(0.01, 1), (0.01, 2), (0.03, 3)])
def test_faulty_link_loads_a_verified_image(driver, rate, seed):
    faults = Faults(seed=seed, rate=rate)
    summary, _err = _load(driver, _image(48_000, seed), faults)
    assert faults.counts.total > 100  # the faults were there, both ways
    assert min(faults.counts.flips.values()) > 0 and min(faults.counts.drops.values()) > 0
    assert summary["blocks_lost"] > 0
    # the estimate found the rate, and the blocks shrank to match it
    assert rate / 3 < summary["fault_rate"] < rate * 3, summary
    assert summary["block"] <= best_block(rate / 3)


def test_protocol_1_still_loads_through_faults(driver):
    """Frame by frame (a version-1 loader, or BootLink(windowed=False)) through 1% faults."""
    faults = Faults(seed=5, rate=0.01)
    summary, err = _load(driver, _image(8_000, 5), faults, windowed=False)
    assert summary["windows"] == 0 and summary["retries"] > 0 and "blocks=0/0" in err


def test_a_dead_link_mid_window_is_a_clear_error(driver):
    """Every block lost from some point on (a cable pulled): LinkError after bounded rounds."""
    faults = Faults(seed=7, rate=0.0)
    port = ParserPort(driver, faults)
    link = BootLink(port, retries=3)
    link.identify()
    faults.rate = 1.0  # from now on every byte is hit: nothing arrives whole
    with pytest.raises(LinkError, match="no valid answer|no block"):
        link.write(BIG, bytes(20_000))
    port.proc.kill()


def test_a_board_reset_mid_window_is_a_clear_error(driver):
    """The loader restarts while a window is open (its bitmap gone): the host says so in one
    line instead of writing blocks nobody keeps."""
    port = ParserPort(driver)
    link = BootLink(port)
    link.identify()
    real_write = port.write

    def write(data: bytes) -> None:
        real_write(data)
        if data[2:3] == bytes([6]):  # the first burst of blocks: the board resets under it
            port.proc.kill()
            port.proc.wait()
            port.__init__(driver)
            port.write = real_write
    port.write = write
    with pytest.raises(LinkError, match="no longer holds the window"):
        link.write(BIG, bytes(50_000))
    port.proc.kill()
