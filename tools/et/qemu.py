"""The simulated board: runs a RISC-V ELF on qemu-system-riscv32 ``virt`` with 8 harts.

QEMU runs with ``-icount shift=0,align=off,sleep=off`` (deterministic counters), its UART on a
TCP socket on 127.0.0.1 (a free port), which is read with pyserial (``socket://``). The run
stops when the program exits (the virt test finisher makes qemu exit with the app's code), on
a timeout, or on Ctrl-C; in every case QEMU's process group is killed and reaped (it runs as an
``et.procgroup.ProcessGroup``: it also dies with its parent, even one killed by SIGKILL), so no
orphan is left. ``QemuSession.cpu_seconds`` meters QEMU's progress for the harness's idle limit.
"""
from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

log = logging.getLogger("et.qemu")

QEMU = "qemu-system-riscv32"
EXIT_TIMEOUT = 124  # like timeout(1)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RunResult:
    """Outcome of one run: exit code (124 on timeout), the console lines, whether it timed out."""

    exit_code: int
    lines: list[str] = field(default_factory=list)
    timed_out: bool = False

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


class QemuSession:
    """A running QEMU with its UART connected. Use as a context manager; close() kills QEMU."""

    def __init__(self, group, serial_port, port: int, echo: bool):
        self.group = group
        self.proc = group.proc
        self.serial = serial_port
        self.port = port
        self.echo = echo
        self._buf = b""

    def read_line(self, timeout: float) -> str | None:
        """Next complete console line (without the newline), or None at timeout or end."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.serial.timeout = min(remaining, 0.2)
            try:  # read only what is there: pyserial drops a partial read when the socket closes
                chunk = self.serial.read(self.serial.in_waiting or 1)
            except Exception:  # the socket closes when qemu exits
                chunk = b""
            if not chunk:
                if self.proc.poll() is not None:
                    if self._buf:  # partial last line: hand it out once
                        line, self._buf = self._buf, b""
                        return self._emit(line)
                    return None
                continue
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return self._emit(line)

    def _emit(self, raw: bytes) -> str:
        line = raw.decode("utf-8", "replace").rstrip("\r")
        if self.echo:
            print(line, flush=True)
        return line

    def wait(self, timeout: float) -> int | None:
        """Wait for QEMU to exit; its exit status is the app's exit code. None on timeout."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def cpu_seconds(self) -> float | None:
        """CPU time QEMU has used so far (the harness's progress meter)."""
        return self.group.cpu_seconds()

    def close(self) -> None:
        """Disconnect and kill QEMU's process group (idempotent)."""
        try:
            self.serial.close()
        except Exception:
            pass
        self.group.stop(grace=0.5)

    def __enter__(self) -> "QemuSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class QemuBoard:
    """How to start the qemu board: harts, memory, icount, timeout, console echo."""

    def __init__(self, timeout: float = 600.0, harts: int = 8, memory: str = "32M",
                 echo: bool = True, qemu: str = QEMU, loader: str | None = None):
        self.timeout = timeout
        self.loader = loader  # a resident loader ELF (sdk/boot) started when no ELF is given
        self.harts = harts
        self.memory = memory
        self.echo = echo
        self.qemu = qemu

    def command(self, elf: str | None, port: int, extra_args=()) -> list[str]:
        """The qemu command line for an ELF (None: the board's ``loader``, if any, else no -kernel)."""
        cmd = [self.qemu, "-machine", "virt", "-smp", str(self.harts), "-m", self.memory,
               "-bios", "none", "-display", "none", "-monitor", "none", "-nodefaults",
               "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on",
               "-icount", "shift=0,align=off,sleep=off"]
        if elf or self.loader:
            cmd += ["-kernel", elf or self.loader]
        return cmd + list(extra_args)

    def start(self, elf: str | None, extra_args=()) -> QemuSession:
        """Start QEMU and connect to its UART; raises RuntimeError with qemu's message on failure."""
        import serial  # pyserial

        from .procgroup import ProcessGroup

        for path in (elf, None if elf else self.loader):
            if path and not os.path.isfile(path):
                raise FileNotFoundError(f"no such ELF: {path}")
        last_error = ""
        for _attempt in range(3):  # the free port may be taken between probe and bind
            port = free_port()
            group = ProcessGroup(self.command(elf, port, extra_args), stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            proc = group.proc
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    ser = serial.serial_for_url(f"socket://127.0.0.1:{port}", timeout=0.2)
                    return QemuSession(group, ser, port, self.echo)
                except serial.SerialException:
                    time.sleep(0.05)
            out = proc.stdout.read().decode(errors="replace") if proc.poll() is not None else ""
            session = QemuSession(group, _Closed(), port, False)
            session.close()
            last_error = out.strip() or f"qemu did not open its serial socket on port {port}"
            if "Address already in use" not in last_error:
                break
        raise RuntimeError(f"could not start {self.qemu}: {last_error}")

    def run_elf(self, elf: str, extra_args=()) -> RunResult:
        """Run an ELF to its end: mirror the console, return exit code and lines."""
        with self.start(elf, extra_args) as s:
            result = RunResult(exit_code=0)
            deadline = time.monotonic() + self.timeout
            try:
                while True:
                    line = s.read_line(max(0.0, deadline - time.monotonic()))
                    if line is None:
                        break
                    result.lines.append(line)
                code = s.wait(timeout=max(0.0, deadline - time.monotonic()) + 5)
            except KeyboardInterrupt:
                print("interrupted: stopping qemu", file=sys.stderr)
                raise
            if code is None or time.monotonic() > deadline:
                result.timed_out = True
                result.exit_code = EXIT_TIMEOUT
                print(f"qemu: timeout after {self.timeout:g} s, stopped", file=sys.stderr)
            else:
                result.exit_code = code if code >= 0 else 128 - code
            return result


class _Closed:
    """Stand-in serial object for a session whose socket never opened."""

    def close(self) -> None:
        pass
