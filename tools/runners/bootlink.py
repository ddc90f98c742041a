"""Host side of the EdgeTune serial boot protocol (docs/boot-protocol.md): frames, bounded
retries with resynchronisation, and the commands. A version-2 loader is written in windows:
blocks sent back to back, each with its own CRC, then one question for the ones that did
not arrive (selective repeat), with the block size chosen from the fault rate measured on the
way. A version-1 loader is written one acknowledged frame at a time (adaptive frame size).

Every attempt carries a fresh sequence number and only a response with that number (and a
valid CRC) counts, so a late or duplicated response can never be taken for another one.
Questions that are idempotent (WINDOW, BITMAP, CRC) go to a version-2 loader in several copies
at once when the link is noisy, and the first answer to any copy counts. Writes are idempotent
(same bytes, same address), so a repeated write or block is harmless. Protocol 1: a NAK for a
damaged frame is retried at once (the loader has already resynchronised); a lost or damaged
response is retried after the line has been quiet for longer than the loader's inter-byte
timeout; frames shrink when attempts fail and grow back after a run of successes.
"""
from __future__ import annotations

import logging
import math
import struct
import time
import zlib
from dataclasses import dataclass, field

log = logging.getLogger("et.bootlink")

SYNC = b"\xa5\x5a"
RSYNC = b"\x5a\xa5"
CMD_IDENTIFY, CMD_WRITE, CMD_CRC, CMD_START = 1, 2, 3, 4
CMD_WINDOW, CMD_BLOCK, CMD_BITMAP = 5, 6, 7  # protocol version 2
VERSIONS = (1, 2)
STATUS = {0: "OK", 1: "CRC", 2: "LEN", 3: "TIMEOUT", 4: "CMD", 5: "RANGE", 6: "PROTECT"}
FRAMING_NAKS = {1, 2, 3}  # the frame was damaged on the way: retry
MAX_RESPONSE = 512
BLOCK_SEQ = 0  # BLOCK frames carry sequence 0, which no answered command uses
BLOCK_SIZES = tuple(16 << i for i in range(9))  # 16 .. 4096 bytes
BLOCK_OVERHEAD = 14  # sync 2, cmd/seq/len 4, tag/idx 4, CRC 4
WINDOW_BLOCKS = 256  # blocks per window (the loader's maximum)
WINDOW_BYTES = 64 * 1024  # and at most this much data per window
TAIL_BLOCKS = 16  # a round with at most this many blocks left sends them in copies
# The shortest answer timeout: longer than every loader's inter-byte timeout (qemu 35 ms,
# siracusa 20 ms), and than the ~40 ms an answer can lag behind on qemu under load
RTO_MIN = 0.08
CRC_BYTES_PER_S = 1e6  # the slowest loader's CRC (Siracusa's HyperRAM, read back in 256 B)


def best_block(fault_rate: float, largest: int = BLOCK_SIZES[-1]) -> int:
    """The block size that carries the most data per byte sent when every byte is hit with
    probability ``fault_rate`` (a block counts only if all its frame's bytes arrive)."""
    q = 1.0 - min(max(fault_rate, 0.0), 0.5)
    return max((b for b in BLOCK_SIZES if b <= largest),
               key=lambda b: b * q ** (b + BLOCK_OVERHEAD) / (b + BLOCK_OVERHEAD))


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
    windows: int = 0
    blocks: int = 0
    blocks_lost: int = 0


def encode(cmd: int, seq: int, payload: bytes = b"") -> bytes:
    """A host -> board frame."""
    body = struct.pack("<BBH", cmd, seq, len(payload)) + payload
    return SYNC + body + struct.pack("<I", zlib.crc32(body))


def encode_response(status: int, seq: int, payload: bytes = b"") -> bytes:
    """A board -> host frame (for tests and simulators)."""
    body = struct.pack("<BBH", status, seq, len(payload)) + payload
    return RSYNC + body + struct.pack("<I", zlib.crc32(body))


def _ranges(addr: int, data: bytes, block: int, idx: list[int]) -> list[tuple[int, bytes]]:
    """The blocks ``idx`` (ascending) of ``data`` at ``addr`` as (addr, bytes) runs."""
    out: list[tuple[int, bytes]] = []
    for i in idx:
        lo = i * block
        if out and out[-1][0] + len(out[-1][1]) == addr + lo:
            out[-1] = (out[-1][0], out[-1][1] + data[lo:lo + block])
        else:
            out.append((addr + lo, data[lo:lo + block]))
    return out


class _Failed(Exception):
    """One attempt failed (reason in the message); the caller may retry."""


class BootLink:
    """A session with the loader over an open pyserial port (or anything with read/write,
    a ``timeout`` attribute and ``reset_input_buffer``)."""

    def __init__(self, port, retries: int = 16, min_chunk: int = 32, chunk: int = 1024,
                 max_chunk: int = 4096, quiet: float = 0.02, base_timeout: float = 0.1,
                 windowed: bool = True):
        self.port = port
        self.windowed = windowed  # use windows when the loader speaks version 2
        # estimated probability that a byte is hit, learnt from lost blocks; the prior (as if
        # 8 blocks had shown it) starts with 512-byte blocks, not 4 KiB ones that a noisy
        # link would lose whole
        self.fault_rate = 1e-4
        self._fault_weight = 8.0
        # bytes per second the loader takes in; a first guess from the baud rate, then measured
        self.rate = getattr(port, "baudrate", 115200) / 10.0
        self._tag = 0
        self._srtt: float | None = None  # smoothed answer round trip (s) and its deviation
        self._rttvar = 0.0
        self.block = 0  # the block size of the last window
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
                if status in FRAMING_NAKS and rseq != BLOCK_SEQ:  # ours, its seq damaged
                    self._nak(status)
                    raise _Failed(f"NAK {STATUS[status]}")
                continue  # a late answer to an earlier attempt
            return status, payload

    def _answer_any(self, seqs: list[int], deadline: float) -> tuple[int, bytes]:
        """(status, payload) of the first valid answer to any of ``seqs`` before ``deadline``
        that is not a framing NAK (that copy was damaged; another may arrive). Every sync
        position in the input is tried, so a damaged answer (one whose length field claims
        more bytes than ever come) does not hide the good one behind it."""
        buf, lo = bytearray(), 0
        while True:
            i, first_open = buf.find(RSYNC, lo), None
            while i >= 0:
                final = False  # what lies at i can no longer change
                if len(buf) - i >= 6:
                    status, rseq, n = struct.unpack_from("<BBH", buf, i + 2)
                    final = n > MAX_RESPONSE or len(buf) - i >= 10 + n
                    if (final and n <= MAX_RESPONSE and rseq in seqs
                            and status not in FRAMING_NAKS and zlib.crc32(buf[i + 2:i + 6 + n])
                            == struct.unpack_from("<I", buf, i + 6 + n)[0]):
                        return status, bytes(buf[i + 6:i + 6 + n])
                if not final and first_open is None:
                    first_open = i
                i = buf.find(RSYNC, i + 1)
            lo = first_open if first_open is not None else max(0, len(buf) - 1)
            remaining = deadline - time.monotonic()
            if remaining > 0:
                self.port.timeout = remaining
                chunk = self.port.read(getattr(self.port, "in_waiting", 0) or 1)
            if remaining <= 0 or not chunk:
                self.stats.timeouts += 1
                raise _Failed(f"no valid answer ({len(buf)} bytes came)")
            buf += chunk

    def _nak(self, status: int) -> None:
        name = STATUS.get(status, str(status))
        self.stats.naks[name] = self.stats.naks.get(name, 0) + 1

    def _next_seq(self) -> int:
        self._seq = self._seq % 255 + 1  # 1..255: 0 is BLOCK_SEQ
        return self._seq

    def attempt(self, cmd: int, payload: bytes, timeout: float | None = None) -> bytes:
        """Send one frame and wait for its answer; the OK payload, _Failed or LinkError."""
        self._next_seq()
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
        if version not in VERSIONS:
            raise LinkError(f"the loader speaks protocol version {version}; this tool speaks "
                            f"{' and '.join(map(str, VERSIONS))}")
        self.info = BoardInfo(board, version, max_payload, [tuple(r) for r in regions])
        self.max_chunk = min(self.max_chunk, max_payload - 4)
        self.chunk = min(self.chunk, self.max_chunk)
        return self.info

    def write(self, addr: int, data: bytes, progress=None) -> None:
        """Write ``data`` at ``addr``: in windows on a version-2 loader, else frame by frame.
        ``progress(n)`` is called as bytes are confirmed."""
        if self.windowed and self.info is not None and self.info.version >= 2:
            largest = min(BLOCK_SIZES[-1], self.info.max_payload - 4)
            pending = [(addr, data)]
            while pending:
                a, d = pending.pop(0)
                block = self.block = best_block(self.fault_rate, largest)
                # the first window is short: the link's rate is not known yet
                count = min(WINDOW_BLOCKS, (4096 if not self.stats.windows else WINDOW_BYTES)
                            // block)
                n = min(len(d), block * count)
                if n < len(d):
                    pending.insert(0, (a + n, d[n:]))
                pending[0:0] = self._write_window(a, d[:n], block, largest, progress)
            return
        self._write_frames(addr, data, progress)

    def _write_window(self, addr: int, data: bytes, block: int, largest: int,
                      progress) -> list[tuple[int, bytes]]:
        """One window: open it, send every block, ask which arrived, send those again. When
        the fault rate measured on the way calls for blocks half as large or smaller, the
        blocks still missing are returned as (addr, data) ranges for new windows."""
        self._tag = (self._tag + 1) & 0xFFFF
        tag, count = self._tag, (len(data) + block - 1) // block
        self.stats.windows += 1
        self._ask(CMD_WINDOW, struct.pack("<IIHH", addr, len(data), block, tag),
                  f"window at 0x{addr:08x}", 0)
        missing, stalls = list(range(count)), 0
        while missing:
            # The last few blocks of a window go in several copies each: a round costs a
            # round trip, a copy only its bytes.
            lost = 1.0 - (1.0 - min(self.fault_rate, 0.5)) ** (block + BLOCK_OVERHEAD)
            reps = 1
            if len(missing) < count and len(missing) <= TAIL_BLOCKS and lost > 0.01:
                reps = min(4, math.ceil(math.log(0.05) / math.log(lost)))
            frames = b"".join(encode(CMD_BLOCK, BLOCK_SEQ, struct.pack("<HH", tag, i)
                                     + data[i * block:(i + 1) * block]) * reps for i in missing)
            t0 = time.monotonic()
            self.port.write(frames)
            self.stats.bytes_sent += len(frames)
            self.stats.blocks += len(missing) * reps
            bits = self._bitmap(count, len(frames), t0, f"window at 0x{addr:08x}")
            arrived = [i for i in missing if bits[i >> 3] >> (i & 7) & 1]
            lost = len(missing) - len(arrived)
            if reps == 1:
                self._learn_faults(len(missing), lost, block + BLOCK_OVERHEAD)
            self.stats.blocks_lost += lost
            if progress:
                progress(sum(min(block, len(data) - i * block) for i in arrived))
            missing = [i for i in missing if not bits[i >> 3] >> (i & 7) & 1]
            stalls = stalls + 1 if not arrived else 0
            if missing and best_block(self.fault_rate, largest) * 2 <= block:
                return _ranges(addr, data, block, missing)
            if missing and stalls > self.retries:
                raise LinkError(f"write at 0x{addr + missing[0] * block:08x}: no block of "
                                f"{block} bytes arrived in {stalls} rounds")
        return []

    def _copies(self, frame_bytes: int) -> int:
        """How many copies of a question (and so of its answer) to send at once so that at
        the measured fault rate at least one round trip survives with 98% odds."""
        ok = (1.0 - min(self.fault_rate, 0.5)) ** frame_bytes
        if ok > 0.9:
            return 1 if self.fault_rate < 1e-4 else 2
        return min(8, max(2, math.ceil(math.log(0.02) / math.log(1.0 - ok))))

    def rto(self) -> float:
        """The answer timeout: smoothed round trip + 4 deviations (as TCP), RTO_MIN .. 2 s."""
        if self._srtt is None:
            return self.base_timeout
        return min(2.0, max(RTO_MIN, self._srtt + 4 * self._rttvar))

    def _sample_rtt(self, rtt: float) -> None:
        if self._srtt is None:
            self._srtt, self._rttvar = rtt, rtt / 2
        else:
            self._rttvar = 0.75 * self._rttvar + 0.25 * abs(self._srtt - rtt)
            self._srtt = 0.875 * self._srtt + 0.125 * rtt

    def _ask(self, cmd: int, payload: bytes, what: str, answer_bytes: int, burst: int = 0,
             t0: float | None = None, work: float = 0.0) -> bytes:
        """Send an idempotent question in copies (``_copies``) and take the first valid answer
        to any of them; repeated until one arrives. ``burst``: bytes sent just before (the
        first wait also covers them at the measured intake rate, which it then updates);
        ``work``: seconds the loader may need to answer (each wait covers them)."""
        copies = self._copies(2 * 10 + len(payload) + answer_bytes)
        timeout = self.rto() + 2.0 * burst / self.rate + work
        last = ""
        for i in range(self.retries + 1):
            seqs = [self._next_seq() for _ in range(copies)]
            frames = b"".join(encode(cmd, q, payload) for q in seqs)
            sent = time.monotonic()
            self.port.write(frames)
            self.stats.attempts += copies
            self.stats.bytes_sent += len(frames)
            try:
                status, data = self._answer_any(seqs, sent + timeout)
            except _Failed as e:
                last = str(e)
                log.debug("%s: %s within %.3f s (%d copies, burst %d B at %.0f B/s)", what, e,
                          timeout, copies, burst, self.rate)
                self.stats.retries += 1
                # No quiet needed: the wait (at least RTO_MIN without sending) already outlasted
                # the loader's inter-byte timeout, so a loader caught in a damaged frame has
                # dropped it; stale answers still on their way are told apart by their seq.
                timeout = self.rto() + 0.5 * burst / self.rate + work
                continue
            if status:
                raise LinkError(f"{what}: the loader refused it: {STATUS.get(status, status)} "
                                f"(see docs/boot-protocol.md)")
            log.debug("%s: answer after %.3f s (try %d, burst %d B)", what,
                      time.monotonic() - (t0 if burst and i == 0 else sent), i, burst)
            if i == 0 and not burst:
                self._sample_rtt(time.monotonic() - sent)
            elif i == 0 and burst >= 4096:  # burst and answer in one wait: the intake rate
                measured = burst / max(time.monotonic() - t0, 1e-3)
                self.rate = max(self.rate * 0.5, 0.5 * self.rate + 0.5 * measured)
            return data
        raise LinkError(f"{what}: no valid answer after {self.retries + 1} attempts of "
                        f"{copies} copies (last: {last})")

    def _bitmap(self, count: int, burst: int, t0: float, what: str) -> bytes:
        """Which blocks of the window arrived (bit i of byte i/8)."""
        nb = (count + 7) // 8
        data = self._ask(CMD_BITMAP, b"", what, 4 + nb, burst, t0)
        if len(data) != 4 + nb or struct.unpack_from("<H", data)[0] != count:
            raise LinkError(f"{what}: the loader no longer holds the window (was the board "
                            "reset?)")
        return data[4:]

    def _learn_faults(self, sent: int, lost: int, frame: int) -> None:
        """Update the byte fault-rate estimate from one round's lost blocks."""
        if not sent:
            return
        q = lost / sent if lost < sent else 1 - 0.5 / sent  # all lost: only a bound
        p = 1.0 - (1.0 - q) ** (1.0 / frame)
        w = min(self._fault_weight, 256.0)
        self.fault_rate = (self.fault_rate * w + p * sent) / (w + sent)
        self._fault_weight = w + sent

    def _write_frames(self, addr: int, data: bytes, progress=None) -> None:
        """Protocol 1: one acknowledged WRITE frame at a time (adaptive size, bounded retries
        per frame)."""
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
        what, payload = f"CRC of 0x{addr:08x}", struct.pack("<II", addr, size)
        if self.info is not None and self.info.version >= 2:  # idempotent: asked in copies
            data = self._ask(CMD_CRC, payload, what, 4, work=size / CRC_BYTES_PER_S)
        else:
            data = self.transact(CMD_CRC, payload, what, timeout=self.base_timeout
                                 + size / CRC_BYTES_PER_S)
        if len(data) != 4:
            raise LinkError("CRC: malformed answer")
        return struct.unpack("<I", data)[0]

    def start(self, entry: int) -> None:
        """Start the program at ``entry`` (acknowledged; it runs once the line is quiet).

        The loader waits BOOT_START_QUIET_US (~0.5 s on qemu) after its acknowledgement before it
        starts the program, so a repetition after a lost acknowledgement must come sooner."""
        self.transact(CMD_START, struct.pack("<I", entry), f"start at 0x{entry:08x}",
                      timeout=0.1)
