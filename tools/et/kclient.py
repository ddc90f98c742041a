"""Client of the ktest firmware (apps/ktest): runs kernels on ``host`` or ``qemu`` from Python.

One firmware process serves many calls over a framed binary protocol on its console (stdin and
stdout of the native program, or the UART socket of the qemu board). Protocol: apps/ktest/README.md.

    with KernelClient("host") as kc:
        (y,), perf = kc.call("gemm.fwd", [m, n, k, ...], [a, b, Out((m, n))], ncores=8)
"""
from __future__ import annotations

import logging
import os
import select
import struct
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger("et.kclient")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAGIC_REQ = b"ETKQ"
MAGIC_RSP = b"ETKR"
F_DATA, F_RETURN = 1, 2
KT_ERRORS = {-100: "protocol error", -101: "unknown op", -102: "arena full", -103: "bad checksum"}


class KernelError(RuntimeError):
    """A call returned a non-OK status (``.status`` holds it) or the link failed."""

    def __init__(self, msg: str, status: int | None = None):
        super().__init__(msg)
        self.status = status


@dataclass
class Out:
    """An output tensor: ``shape`` to allocate (zero-filled on the device), or ``init`` contents
    sent with the request (for accumulating kernels and untouched-on-error checks)."""

    shape: tuple | int | None = None
    init: np.ndarray | None = None

    def __post_init__(self):
        if self.init is not None:
            self.init = np.ascontiguousarray(self.init, dtype=np.float32)
            self.shape = self.init.shape
        elif isinstance(self.shape, int):
            self.shape = (self.shape,)


@dataclass
class Perf:
    """Status and per-core counters of one call (cycles/instret as defined in hal_perf.h)."""

    status: int
    cycles: list[int] = field(default_factory=list)
    instret: list[int] = field(default_factory=list)

    @property
    def makespan(self) -> int:
        return max(self.cycles, default=0)

    @property
    def max_instret(self) -> int:
        return max(self.instret, default=0)


def build(target: str, app: str = "ktest") -> str:
    """Build the firmware with scons; returns the program path."""
    cmd = [sys.executable, "-m", "SCons", "-Q", f"target={target}", f"app={app}"]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if res.returncode != 0:
        raise KernelError(f"build of {app} for {target} failed:\n{res.stdout}{res.stderr}")
    name = app + (".elf" if target != "host" else "")
    return os.path.join(ROOT, "build", target, app, name)


def encode_request(op: str, ints, floats, tensors, ncores: int, l1_bytes: int = 0) -> bytes:
    """Request frame: magic, payload words, payload, CRC-32 of the payload."""
    name = op.encode()
    words = [struct.pack("<3I", ncores, l1_bytes, len(name)), name + b"\0" * (-len(name) % 4)]
    words.append(struct.pack(f"<I{len(ints)}i", len(ints), *[int(v) for v in ints]))
    words.append(struct.pack(f"<I{len(floats)}f", len(floats), *[float(v) for v in floats]))
    desc, data = [struct.pack("<I", len(tensors))], []
    for t in tensors:
        if t is None:
            desc.append(struct.pack("<2I", 0, 0))
        elif isinstance(t, Out):
            n = int(np.prod(t.shape)) if t.shape else 0
            flags = F_RETURN | (F_DATA if t.init is not None else 0)
            desc.append(struct.pack("<2I", n, flags))
            if t.init is not None and n:
                data.append(t.init.tobytes())
        else:
            a = np.ascontiguousarray(t, dtype=np.float32)
            desc.append(struct.pack("<2I", a.size, F_DATA if a.size else 0))
            data.append(a.tobytes())
    payload = b"".join(words + desc + data)
    return MAGIC_REQ + struct.pack("<I", len(payload) // 4) + payload + \
        struct.pack("<I", zlib.crc32(payload))


def decode_response(payload: bytes, outs: list[Out]) -> tuple[list[np.ndarray], Perf]:
    """Parse a response payload (CRC already checked)."""
    status, nperf = struct.unpack_from("<iI", payload, 0)
    pos = 8
    perf = Perf(status)
    for _ in range(nperf):
        cyc, ins = struct.unpack_from("<QQ", payload, pos)
        perf.cycles.append(cyc)
        perf.instret.append(ins)
        pos += 16
    (nret,) = struct.unpack_from("<I", payload, pos)
    pos += 4
    arrays = []
    for _ in range(nret):
        (n,) = struct.unpack_from("<I", payload, pos)
        pos += 4
        arrays.append(np.frombuffer(payload, np.float32, n, pos).copy())
        pos += 4 * n
    if nret == len(outs):
        arrays = [a.reshape(o.shape) for a, o in zip(arrays, outs)]
    return arrays, perf


class KernelClient:
    """The ktest firmware running on ``host`` (a subprocess) or ``qemu`` (QemuBoard)."""

    def __init__(self, target: str = "host", timeout: float = 60.0, program: str | None = None,
                 build_first: bool = True):
        self.target = target
        self.timeout = timeout
        self.program = program or (build(target) if build_first else None)
        self.proc = self.session = None
        self._buf = self._text_buf = b""
        self.text: list[str] = []  # console text seen between frames (e.g. @start)
        if target == "host":
            self.proc = subprocess.Popen([self.program], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, bufsize=0)
        elif target == "qemu":
            from .qemu import QemuBoard

            self.session = QemuBoard(timeout=timeout, echo=False).start(self.program)
        else:
            raise ValueError(f"KernelClient: target {target!r} is not host or qemu")

    # -- link ---------------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        if self.proc:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        else:
            self.session.serial.write(data)

    def _read_some(self, deadline: float) -> bytes:
        """Whatever bytes arrive before ``deadline`` (may be empty); raises when the firmware ended."""
        wait = max(0.01, min(0.5, deadline - time.monotonic()))
        if self.proc:
            ready, _, _ = select.select([self.proc.stdout], [], [], wait)
            chunk = os.read(self.proc.stdout.fileno(), 65536) if ready else b""
            dead = bool(ready) and not chunk
        else:
            ser = self.session.serial
            ser.timeout = wait
            try:
                chunk = ser.read(ser.in_waiting or 1)
            except Exception:  # noqa: BLE001 - the socket closes when qemu exits
                chunk = b""
            dead = not chunk and self.session.proc.poll() is not None
        if dead:
            raise KernelError(f"ktest on {self.target} ended; console: " + " | ".join(self.text[-5:]))
        return chunk

    def _read_exact(self, n: int, deadline: float) -> bytes:
        while len(self._buf) < n:
            if time.monotonic() > deadline:
                raise KernelError(f"timeout after {self.timeout} s waiting for ktest")
            self._buf += self._read_some(deadline)
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def _read_frame(self, deadline: float) -> bytes:
        while True:  # text before the frame is console output: keep it for diagnostics
            i = self._buf.find(MAGIC_RSP)
            if i >= 0:
                self._keep_text(self._buf[:i])
                self._buf = self._buf[i + 4:]
                break
            if time.monotonic() > deadline:
                raise KernelError(f"timeout after {self.timeout} s waiting for ktest")
            keep = len(self._buf) - 3
            if keep > 0:
                self._keep_text(self._buf[:keep])
                self._buf = self._buf[keep:]
            self._buf += self._read_some(deadline)
        (words,) = struct.unpack("<I", self._read_exact(4, deadline))
        payload = self._read_exact(4 * words, deadline)
        (crc,) = struct.unpack("<I", self._read_exact(4, deadline))
        if zlib.crc32(payload) != crc:
            raise KernelError("response checksum mismatch")
        return payload

    def _keep_text(self, raw: bytes) -> None:
        self._text_buf += raw
        *lines, self._text_buf = self._text_buf.split(b"\n")
        for line in lines:
            text = line.decode("utf-8", "replace").rstrip("\r")
            if text.strip():
                self.text.append(text)
                if text.startswith("@fault"):
                    raise KernelError(f"ktest crashed: {text}")

    # -- API ----------------------------------------------------------------------------------
    def call(self, op: str, ints=(), tensors=(), ncores: int = 1, floats=(), l1_bytes: int = 0,
             check: bool = True) -> tuple[list[np.ndarray], Perf]:
        """Run ``op`` on ``ncores`` cores. ``tensors``: numpy arrays (inputs), ``Out`` (outputs,
        returned in order) or None (a NULL pointer). ``l1_bytes`` limits the L1 scratch
        (0: all). Raises KernelError on a non-OK status unless ``check`` is False."""
        outs = [t for t in tensors if isinstance(t, Out)]
        self._write(encode_request(op, ints, floats, tensors, ncores, l1_bytes))
        arrays, perf = decode_response(self._read_frame(time.monotonic() + self.timeout), outs)
        if check and perf.status != 0:
            why = KT_ERRORS.get(perf.status, "kernel error")
            raise KernelError(f"{op}: status {perf.status} ({why})", perf.status)
        return arrays, perf

    def close(self) -> None:
        """Ask the firmware to quit, then stop it (idempotent)."""
        try:
            if (self.proc and self.proc.poll() is None) or self.session:
                self._write(encode_request("quit", (), (), (), 1))
        except (OSError, ValueError, Exception):  # noqa: BLE001 - best effort on shutdown
            pass
        if self.proc:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        if self.session:
            self.session.close()
            self.session = None

    def __enter__(self) -> "KernelClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
