"""Host side of the EdgeTune serial boot protocol (docs/boot-protocol.md): frames, bounded
retries with resynchronisation, adaptive frame sizes, and the four commands.

Every attempt carries a fresh sequence number and only a response with that number (and a
valid CRC) counts, so a late or duplicated response can never be taken for another one. A
NAK for a damaged frame is retried at once (the loader has already resynchronised); a lost
or damaged response is retried after the line has been quiet for longer than the loader's
inter-byte timeout. Writes are idempotent (same bytes, same address), so a repeated write is
harmless. Frames shrink when attempts fail and grow back after a run of successes.
"""
from __future__ import annotations

import logging
import struct
import time
import zlib
from dataclasses import dataclass, field

log = logging.getLogger("et.bootlink")

SYNC = b"\xa5\x5a"
RSYNC = b"\x5a\xa5"
CMD_IDENTIFY, CMD_WRITE, CMD_CRC, CMD_START = 1, 2, 3, 4
STATUS = {0: "OK", 1: "CRC", 2: "LEN", 3: "TIMEOUT", 4: "CMD", 5: "RANGE", 6: "PROTECT"}
FRAMING_NAKS = {1, 2, 3}  # the frame was damaged on the way: retry
MAX_RESPONSE = 512


class LinkError(Exception):
    """The link failed (no valid answer after the retries, or the loader refused)."""


@dataclass
class BoardInfo:
    """The IDENTIFY answer."""

    board: str
    version: int
    max_payload: int
    regions: list[tuple[int, int]]


@dataclass
class LinkStats:
    """Counters of one session."""

    attempts: int = 0
    retries: int = 0
    naks: dict[str, int] = field(default_factory=dict)
    timeouts: int = 0
    garbled: int = 0
    bytes_sent: int = 0


def encode(cmd: int, seq: int, payload: bytes = b"") -> bytes:
    """A host -> board frame."""
    body = struct.pack("<BBH", cmd, seq, len(payload)) + payload
    return SYNC + body + struct.pack("<I", zlib.crc32(body))


def encode_response(status: int, seq: int, payload: bytes = b"") -> bytes:
    """A board -> host frame (for tests and simulators)."""
    body = struct.pack("<BBH", status, seq, len(payload)) + payload
    return RSYNC + body + struct.pack("<I", zlib.crc32(body))


class _Failed(Exception):
    """One attempt failed (reason in the message); the caller may retry."""


class BootLink:
    """A session with the loader over an open pyserial port (or anything with read/write,
    a ``timeout`` attribute and ``reset_input_buffer``)."""

    def __init__(self, port, retries: int = 16, min_chunk: int = 32, chunk: int = 1024,
                 max_chunk: int = 4096, quiet: float = 0.02, base_timeout: float = 0.1):
        self.port = port
        self.retries = retries
        self.min_chunk, self.chunk, self.max_chunk = min_chunk, chunk, max_chunk
        self.quiet_s = quiet
        self.base_timeout = base_timeout
        self.stats = LinkStats()
        self.info: BoardInfo | None = None
        self._seq = 0
        self._backoff = quiet

    # -- low level -----------------------------------------------------------------------
    def _read(self, n: int, deadline: float) -> bytes:
        out = b""
        while len(out) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self.port.timeout = remaining
            chunk = self.port.read(n - len(out))
            if not chunk:
                break
            out += chunk
        return out

    def quiet(self, silence: float | None = None, limit: float = 3.0) -> None:
        """Discard input until the line has been silent for ``silence`` seconds."""
        end = time.monotonic() + limit
        while time.monotonic() < end:
            self.port.timeout = silence or self.quiet_s
            if not self.port.read(4096):
                return

    def _response(self, seq: int, deadline: float) -> tuple[int, bytes]:
        """The response to attempt ``seq``: (status, payload); _Failed on timeout/garbage."""
        while True:
            b = self._read(1, deadline)
            if not b:
                self.stats.timeouts += 1
                raise _Failed("no answer")
            if b != RSYNC[:1]:
                continue
            b = self._read(1, deadline)
            while b == RSYNC[:1]:
                b = self._read(1, deadline)
            if b != RSYNC[1:]:
                continue
            hdr = self._read(4, deadline)
            if len(hdr) < 4:
                self.stats.timeouts += 1
                raise _Failed("incomplete answer")
            status, rseq, n = struct.unpack("<BBH", hdr)
            if n > MAX_RESPONSE:
                self.stats.garbled += 1
                raise _Failed("garbled answer (length)")
            rest = self._read(n + 4, deadline)
            if len(rest) < n + 4:
                self.stats.timeouts += 1
                raise _Failed("incomplete answer")
            payload, crc = rest[:n], struct.unpack("<I", rest[n:])[0]
            if zlib.crc32(hdr + payload) != crc:
                self.stats.garbled += 1
                raise _Failed("garbled answer (CRC)")
            if rseq != seq:
                if status in FRAMING_NAKS:  # our frame, its sequence byte damaged
                    self._nak(status)
                    raise _Failed(f"NAK {STATUS[status]}")
                continue  # a late answer to an earlier attempt
            return status, payload

    def _nak(self, status: int) -> None:
        name = STATUS.get(status, str(status))
        self.stats.naks[name] = self.stats.naks.get(name, 0) + 1

    def attempt(self, cmd: int, payload: bytes, timeout: float | None = None) -> bytes:
        """Send one frame and wait for its answer; the OK payload, _Failed or LinkError."""
        self._seq = (self._seq + 1) & 0xFF
        frame = encode(cmd, self._seq, payload)
        self.stats.attempts += 1
        self.stats.bytes_sent += len(frame)
        self.port.write(frame)
        deadline = time.monotonic() + (timeout or self.base_timeout + len(frame) / 10000.0)
        try:
            status, data = self._response(self._seq, deadline)
        except _Failed as e:
            if "NAK" not in str(e):
                # No (valid) answer: drop stale bytes, and wait for longer silences each time
                # in a row, so that a loader stuck in a frame with a damaged (long) length
                # field hits its inter-byte timeout and resynchronises.
                self.quiet(self._backoff)
                self._backoff = min(1.0, self._backoff * 2)
            raise
        self._backoff = self.quiet_s
        if status == 0:
            return data
        self._nak(status)
        if status in FRAMING_NAKS:
            raise _Failed(f"NAK {STATUS[status]}")
        raise LinkError(f"the loader refused the command: {STATUS.get(status, status)} "
                        f"(see docs/boot-protocol.md)")

    def transact(self, cmd: int, payload: bytes, what: str, timeout: float | None = None) -> bytes:
        """``attempt`` with up to ``retries`` repetitions; LinkError naming ``what`` at the end."""
        last = ""
        for i in range(self.retries + 1):
            if i:
                self.stats.retries += 1
            try:
                return self.attempt(cmd, payload, timeout)
            except _Failed as e:
                last = str(e)
        raise LinkError(f"{what}: no valid answer after {self.retries + 1} attempts (last: {last})")

    # -- commands ------------------------------------------------------------------------
    def identify(self) -> BoardInfo:
        """Ask the loader for board, protocol version, maximum payload and regions."""
        self.quiet()
        data = self.transact(CMD_IDENTIFY, b"", "identify")
        if len(data) < 6:
            raise LinkError("identify: short answer")
        version, max_payload, nreg, nlen = struct.unpack_from("<HHBB", data)
        if len(data) != 6 + 8 * nreg + nlen:
            raise LinkError("identify: malformed answer")
        regions = [struct.unpack_from("<II", data, 6 + 8 * i) for i in range(nreg)]
        board = data[6 + 8 * nreg:].decode("ascii", "replace")
        if version != 1:
            raise LinkError(f"the loader speaks protocol version {version}; this tool speaks 1")
        self.info = BoardInfo(board, version, max_payload, [tuple(r) for r in regions])
        self.max_chunk = min(self.max_chunk, max_payload - 4)
        self.chunk = min(self.chunk, self.max_chunk)
        return self.info

    def write(self, addr: int, data: bytes, progress=None) -> None:
        """Write ``data`` at ``addr`` in frames (adaptive size, bounded retries per frame)."""
        off, size, fails, streak = 0, self.chunk, 0, 0
        while off < len(data):
            n = min(size, len(data) - off)
            try:
                self.attempt(CMD_WRITE, struct.pack("<I", addr + off) + data[off:off + n])
            except _Failed as e:
                fails += 1
                self.stats.retries += 1
                if fails > self.retries:
                    raise LinkError(f"write at 0x{addr + off:08x}: no valid answer after "
                                    f"{fails} attempts (last: {e})") from None
                size, streak = max(self.min_chunk, size // 2), 0
                continue
            off += n
            fails, streak = 0, streak + 1
            if streak >= 4 and size < self.max_chunk:
                size, streak = min(self.max_chunk, size * 2), 0
            if progress:
                progress(n)
        self.chunk = size

    def crc(self, addr: int, size: int) -> int:
        """CRC-32 (zlib's) of ``size`` bytes at ``addr`` on the board."""
        data = self.transact(CMD_CRC, struct.pack("<II", addr, size), f"CRC of 0x{addr:08x}")
        if len(data) != 4:
            raise LinkError("CRC: malformed answer")
        return struct.unpack("<I", data)[0]

    def start(self, entry: int) -> None:
        """Start the program at ``entry`` (acknowledged; it runs once the line is quiet).

        The loader waits BOOT_START_QUIET_US (~0.5 s on qemu) after its acknowledgement before it
        starts the program, so a repetition after a lost acknowledgement must come sooner."""
        self.transact(CMD_START, struct.pack("<I", entry), f"start at 0x{entry:08x}",
                      timeout=0.1)
