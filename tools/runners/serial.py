"""The ``serial`` runner: loads an ELF through the EdgeTune serial bootloader (sdk/boot).

Order of work: read and check the ELF (nothing sent if it is unfit), open the port with
pyserial's ``serial_for_url`` (a device name or a ``socket://``/``rfc2217://`` URL), identify
the board, check every segment against the board's application regions (nothing written
if one is outside), write the segments' file bytes in frames (the zero tails are the
program's .bss: not sent), read back a CRC-32 of every segment and compare, and only then
start the program. Success is reported only when every byte was verified.
"""
from __future__ import annotations

import logging
import os
import sys
import time
import zlib

from .base import Caps, FlashError, Runner
from .bootlink import BootLink, LinkError
from .image import Image, ImageError, load_image

log = logging.getLogger("et.runners.serial")


class Progress:
    """A progress bar on stderr (redrawn at most 10 times a second)."""

    def __init__(self, total: int, stream=None, enabled: bool = True):
        self.total, self.done = total, 0
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.t0 = time.monotonic()
        self._last = 0.0

    def __call__(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and (now - self._last > 0.1 or self.done >= self.total):
            self._last = now
            frac = self.done / self.total if self.total else 1.0
            rate = self.done / max(now - self.t0, 1e-6) / 1024
            bar = "#" * int(frac * 30)
            self.stream.write(f"\rloading [{bar:<30}] {frac * 100:5.1f}% {self.done}/{self.total} "
                              f"bytes {rate:6.1f} KiB/s")
            if self.done >= self.total:
                self.stream.write("\n")
            self.stream.flush()


def flash_port(port, image: Image, progress: bool = True, retries: int = 16,
               verify_passes: int = 2, windowed: bool = True) -> dict:
    """Load ``image`` over an open port and start it; a summary dict, FlashError otherwise.
    ``windowed=False`` writes frame by frame even to a protocol-2 loader (the reference)."""
    t0 = time.monotonic()
    link = BootLink(port, retries=retries, windowed=windowed)
    try:
        info = link.identify()
        log.info("board %s, protocol %d, max payload %d, regions %s", info.board, info.version,
                 info.max_payload, ", ".join(f"0x{b:08x}+0x{n:x}" for b, n in info.regions))
        image.check_regions(info.regions, board=f"board '{info.board}'")
        bar = Progress(image.load_bytes, enabled=progress)
        for seg in image.segments:
            if not seg.data:
                continue
            want = zlib.crc32(seg.data)
            for attempt in range(verify_passes):
                link.write(seg.addr, seg.data, progress=bar if attempt == 0 else None)
                got = link.crc(seg.addr, len(seg.data))
                if got == want:
                    break
                log.warning("segment 0x%08x: read-back CRC 0x%08x, expected 0x%08x: rewriting",
                            seg.addr, got, want)
            else:
                raise FlashError(f"segment 0x{seg.addr:08x} ({len(seg.data)} bytes) failed "
                                 f"verification {verify_passes} times")
        link.start(image.entry)
    except (LinkError, ImageError) as e:
        raise FlashError(str(e)) from None
    except OSError as e:  # pyserial's SerialException: the link was cut, the port went away
        raise FlashError(f"the serial link failed during loading ({e}); nothing was started"
                         ) from None
    dt = time.monotonic() - t0
    st = link.stats
    summary = {"board": info.board, "bytes": image.load_bytes, "seconds": dt,
               "attempts": st.attempts, "retries": st.retries, "naks": dict(st.naks),
               "timeouts": st.timeouts, "garbled": st.garbled, "sent": st.bytes_sent,
               "protocol": info.version, "windows": st.windows, "blocks": st.blocks,
               "blocks_lost": st.blocks_lost, "block": link.block, "fault_rate": link.fault_rate}
    log.info("loaded and verified %d bytes in %.2f s (%d frames, %d retries), started at 0x%08x",
             image.load_bytes, dt, st.attempts, st.retries, image.entry)
    return summary


def open_port(url: str, baud: int):
    """Open a serial port or URL with pyserial; FlashError naming it on failure."""
    try:
        import serial  # pyserial
    except ImportError:
        raise FlashError("pyserial is not installed (pip install pyserial)") from None
    _check_url(url)
    try:
        return serial.serial_for_url(url, baudrate=baud, timeout=0.2)
    except (serial.SerialException, ValueError, OSError) as e:
        raise FlashError(f"cannot open {url}: {e}") from None


def _check_url(url: str) -> None:
    """A ``socket://`` or ``rfc2217://`` URL needs host:port with a port in 1..65535 (pyserial
    says less clear things about it)."""
    from urllib.parse import urlsplit

    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in ("socket", "rfc2217"):
        return
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        port, parts = -1, None
    if parts is None or not parts.hostname or port is None or not 1 <= port <= 65535:
        raise FlashError(f"cannot open {url}: a {scheme}:// URL needs host:port with a port in "
                         "1..65535 (e.g. socket://127.0.0.1:4321)")


class SerialRunner(Runner):
    """Load through the serial bootloader; optionally monitor the console afterwards."""

    def __init__(self, port: str, baud: int = 115200, monitor: bool = False,
                 timeout: float = 600.0, retries: int = 16, progress: bool = True,
                 idle: float | None = 120.0, samples: str = ""):
        self.port, self.baud = port, baud
        self.samples = samples
        self.monitor, self.timeout, self.idle = monitor, timeout, idle
        self.retries, self.progress = retries, progress

    @classmethod
    def name(cls) -> str:
        return "serial"

    @classmethod
    def capabilities(cls) -> Caps:
        return Caps(flash=True, verify=True, port=True, monitor=True, start=True)

    @classmethod
    def add_args(cls, parser) -> None:
        parser.add_argument("--retries", type=int, default=16,
                            help="serial: attempts per frame before giving up (default 16)")
        parser.add_argument("--no-progress", action="store_true",
                            help="serial: no progress bar")
        parser.add_argument("--samples", default="", metavar="FILE",
                            help="serial --monitor: answer the program's requests for training "
                                 "samples (@need) from FILE (default: link_samples.npz beside "
                                 "the ELF of a program built with sample_source link)")

    @classmethod
    def create(cls, args) -> "SerialRunner":
        return cls(args.port, args.baud, args.monitor, args.timeout,
                   getattr(args, "retries", 16), not getattr(args, "no_progress", False),
                   idle=getattr(args, "idle", None) or None,
                   samples=getattr(args, "samples", "") or "")

    def run(self, elf: str) -> int:
        try:
            image = load_image(elf)  # before the port is even opened
        except ImageError as e:
            raise FlashError(str(e)) from None
        port = open_port(self.port, self.baud)
        try:
            flash_port(port, image, progress=self.progress, retries=self.retries)
            print(f"flash: {elf} loaded, verified and started", file=sys.stderr)
            if not self.monitor:
                return 0
            from et.samplelink import LinkError, feeder_for, summary

            from .monitor import monitor

            if self.samples and not os.path.isfile(self.samples):
                raise FlashError(f"--samples {self.samples}: no such file")
            feeder = feeder_for(elf, port.write, self.samples)
            try:
                result, _lines = monitor(port, self.timeout, idle=self.idle, on_record=feeder)
            except LinkError as e:   # the program asked for samples the file does not have
                raise FlashError(f"samples over the link: {e}") from None
            if feeder is not None:
                print(summary(feeder), file=sys.stderr)
            return result.exit_code
        finally:
            port.close()
