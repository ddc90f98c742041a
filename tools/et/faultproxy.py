"""A fault-injecting TCP proxy for link tests: clients connect to ``port`` on 127.0.0.1, and
the bytes between them and an upstream (a pyserial-like object, e.g. a qemu session's UART
socket, or a ``(host, port)`` to connect to) are flipped, dropped and duplicated at random.

Seeded (``random.Random(seed)``), so a run's fault pattern depends only on the seed and the
byte stream. ``rate`` is the probability that a byte is hit; a hit byte is flipped (one random
bit), dropped or duplicated with equal odds. ``directions``: "up" (client -> upstream),
"down" (upstream -> client) or "both". ``enabled`` can be switched off while running (to read
a program's console cleanly after a faulty load).
"""
from __future__ import annotations

import logging
import random
import socket
import threading
from dataclasses import dataclass, field

log = logging.getLogger("et.faultproxy")


@dataclass
class FaultCounts:
    """Bytes forwarded and faults injected, per direction."""

    bytes: dict[str, int] = field(default_factory=lambda: {"up": 0, "down": 0})
    flips: dict[str, int] = field(default_factory=lambda: {"up": 0, "down": 0})
    drops: dict[str, int] = field(default_factory=lambda: {"up": 0, "down": 0})
    dups: dict[str, int] = field(default_factory=lambda: {"up": 0, "down": 0})

    @property
    def total(self) -> int:
        return sum(sum(d.values()) for d in (self.flips, self.drops, self.dups))


class Faults:
    """The fault injector itself: seeded, per direction, with its counts (``counts``)."""

    def __init__(self, seed: int = 0, rate: float = 0.01, directions: str = "both"):
        if directions not in ("up", "down", "both"):
            raise ValueError("directions must be up, down or both")
        self.rate = rate
        self.directions = directions
        self.enabled = True
        self.counts = FaultCounts()
        self._rng = {d: random.Random(f"{seed}:{d}") for d in ("up", "down")}

    def mangle(self, data: bytes, direction: str) -> bytes:
        """``data`` with this direction's faults applied (when enabled)."""
        self.counts.bytes[direction] += len(data)
        if not self.enabled or self.directions not in (direction, "both") or self.rate <= 0:
            return data
        rng = self._rng[direction]
        out = bytearray()
        for b in data:
            if rng.random() >= self.rate:
                out.append(b)
                continue
            kind = rng.randrange(3)
            if kind == 0:
                out.append(b ^ (1 << rng.randrange(8)))
                self.counts.flips[direction] += 1
            elif kind == 1:
                self.counts.drops[direction] += 1
            else:
                out += bytes((b, b))
                self.counts.dups[direction] += 1
        return bytes(out)


class FaultProxy(Faults):
    """Use as a context manager; ``url`` is what the client opens (``socket://127.0.0.1:N``)."""

    def __init__(self, upstream, seed: int = 0, rate: float = 0.01, directions: str = "both"):
        super().__init__(seed, rate, directions)
        self.upstream = upstream
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(1)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._client: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        self._listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._client = conn
            if isinstance(self.upstream, tuple):
                up = socket.create_connection(self.upstream)
                up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.upstream = _SocketStream(up)
            for fn in (self._pump_up, self._pump_down):
                t = threading.Thread(target=fn, daemon=True)
                t.start()
                self._threads.append(t)
            return

    def _pump_up(self) -> None:
        conn = self._client
        conn.settimeout(0.2)
        while not self._stop.is_set():
            try:
                data = conn.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            if not data:
                return
            try:
                self.upstream.write(self.mangle(data, "up"))
            except Exception:  # noqa: BLE001 - upstream gone
                return

    def _pump_down(self) -> None:
        conn = self._client
        while not self._stop.is_set():
            try:
                self.upstream.timeout = 0.2
                data = self.upstream.read(getattr(self.upstream, "in_waiting", 0) or 1)
            except Exception:  # noqa: BLE001 - upstream closed (qemu exited)
                break
            if not data:
                continue
            try:
                conn.sendall(self.mangle(data, "down"))
            except OSError:
                return
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        """Stop forwarding and close the client side (the upstream belongs to the caller)."""
        self._stop.set()
        for s in (self._client, self._listener):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass
        for t in self._threads:
            t.join(timeout=2)

    def __enter__(self) -> "FaultProxy":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _SocketStream:
    """pyserial-like read/write/timeout over a plain socket."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.timeout = 0.2
        self.in_waiting = 0

    def read(self, n: int) -> bytes:
        self.sock.settimeout(self.timeout)
        try:
            data = self.sock.recv(n)
        except socket.timeout:
            return b""
        if not data:
            raise ConnectionError("upstream closed")
        return data

    def write(self, data: bytes) -> None:
        self.sock.sendall(data)
