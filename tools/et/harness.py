"""Serial-log harness: follows a device log line by line and decides how the run ended.

Like a twister harness it is fed one console line at a time (``Harness.handle``) and watches
for the sentinels of docs/devlog.md: ``@done`` (end, its ``code`` is the result), ``@fault``
(crash). It adds what a noisy serial link needs: records are found with
``devlog.scan_line`` (noise before a record is skipped, a record broken by noise is dropped and
counted, never trusted), the stream ending without ``@done`` is a truncated log, and two limits
stop a run that hangs: the overall ``timeout`` (wall-clock seconds for the whole run) and the
``idle`` limit, which measures progress, not silence. When the run's processes can be metered
(``meter``: a callable returning the CPU seconds they have used, e.g.
``procgroup.ProcessGroup.cpu_seconds``), a silent run is stopped only when it is stuck: it used
``idle`` CPU seconds without printing a line (spinning), or used no CPU at all for ``idle``
seconds (blocked). A simulator that gets a fifth of a core on a loaded machine therefore keeps
five times longer between lines. Without a meter (a board's UART) ``idle`` is wall-clock
seconds without a line.

``Harness(...).run(read_line)`` drives it from any source whose ``read_line(timeout)`` returns
the next line or None (timeout or end of stream): a qemu session (tools/et/qemu.py), a serial
port (``serial_source``), a saved log (``file_source``) or a list (``lines_source``).

Exit codes (``HarnessResult.exit_code``):
  the ``@done`` code   the run ended; like a POSIX shell, ``code & 255`` (a non-zero code that
                       would wrap to 0 gives 1)
  EXIT_FAULT (134)     ``@fault`` arrived (128 + SIGABRT: "the program crashed")
  EXIT_TIMEOUT (124)   no ``@done`` within the timeout, or stuck past the idle limit
                       (like timeout(1) and the qemu runner); ``HarnessResult.stop_reason``
                       says which limit and what the run had reached
  EXIT_TRUNCATED (125) the stream ended (qemu exited, port closed, end of file) without
                       ``@done`` or ``@fault``
An app may itself end with 124, 125 or 134; ``HarnessResult.status`` tells them apart.
"""
from __future__ import annotations

import logging
import re
import sys
import time
from dataclasses import dataclass, field

from .devlog import _FIELD_RE, LogState, Record, scan_line

log = logging.getLogger("et.harness")

EXIT_TIMEOUT = 124
EXIT_TRUNCATED = 125
EXIT_FAULT = 134
DEFAULT_TIMEOUT = 600.0
DEFAULT_INACTIVITY = 120.0  # the idle limit (seconds; CPU seconds with a meter)
POLL = 1.0  # s: how often a metered run's CPU time is read while it is silent
_MAX_KEPT_DROPS = 50  # dropped lines kept in the result for diagnosis
_SLACK = 0.05  # s: a read_line(t) returning None this close to t timed out
_EOL_RE = re.compile(rb"\r\n|\r|\n")


@dataclass
class HarnessResult:
    """How a run ended and what it logged.

    ``status``: ``done``, ``fault``, ``timeout``, ``inactive`` (the idle limit) or
    ``truncated``. ``state`` holds the trusted records in order (devlog.LogState).
    ``stop_reason``: for ``timeout``/``inactive``, which limit stopped the run and how.
    """

    status: str
    exit_code: int
    state: LogState
    elapsed: float = 0.0
    lines: int = 0
    text_lines: int = 0
    dropped: int = 0
    recovered: int = 0
    restarts: int = 0
    dropped_lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stop_reason: str = ""
    reached: str = ""
    lost: int = 0  # records missing from the sequence numbers (format 2)
    duplicates: int = 0  # sealed records received twice (dropped)
    sealed: bool = False  # the log is sealed (format 2): unsealed records were not trusted

    @property
    def done_code(self) -> int | None:
        return self.state.exit_code

    @property
    def fault(self) -> Record | None:
        return self.state.fault

    @property
    def records(self) -> list[Record]:
        return self.state.records

    def of_type(self, type_: str) -> list[Record]:
        return self.state.of_type(type_)

    def summary(self) -> str:
        """One line: outcome, exit code and the bookkeeping of the log."""
        what = {"done": f"ended with @done code={self.done_code}",
                "fault": "crashed (@fault " + " ".join(f"{k}={v}" for k, v in
                                                     (self.fault.fields if self.fault else {}).items()) + ")",
                "timeout": f"stopped: {self.stop_reason}",
                "inactive": f"stopped: {self.stop_reason}",
                "truncated": "log ended without @done"}[self.status]
        if self.status in ("timeout", "inactive", "truncated") and self.reached:
            what += f"; it had reached {self.reached}"
        seal = f", {self.lost} lost" if self.sealed else ", unsealed log"
        return (f"harness: run {what}; exit code {self.exit_code}; {self.lines} lines, "
                f"{self.state.count} records, {self.dropped} dropped{seal}, {self.recovered} "
                f"recovered from noise, {self.elapsed:.1f} s")


def done_exit_code(code: int) -> int:
    """The process exit code for an ``@done`` code (shell-like wrap, never a false 0)."""
    masked = code & 0xFF
    return 1 if code != 0 and masked == 0 else masked


class Harness:
    """Follows one run: ``handle(line)`` per console line, or ``run(read_line)`` for a source.

    ``timeout``: wall-clock seconds for the whole run; ``inactivity``: the idle limit (None:
    off), in CPU seconds of the run when ``meter`` is given (see the module's docstring), else
    wall-clock seconds without a line;
    ``on_record``: called with every trusted record as it arrives (a host that answers the
    device: samples over the link);
    ``echo``: mirror console lines to ``echo_stream`` (stdout), leave it off when the source
    echoes already; ``progress``: steps, loss and records on ``progress_stream`` (stderr), a live
    line on a terminal, otherwise a line every ``progress_every`` seconds.
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, echo: bool = True, progress: bool = True,
                 inactivity: float | None = DEFAULT_INACTIVITY, progress_every: float = 10.0,
                 echo_stream=None, progress_stream=None, meter=None, on_record=None):
        self.timeout = timeout
        self.on_record = on_record
        self.inactivity = inactivity
        self.meter = meter
        self.echo = echo
        self.progress = progress
        self.progress_every = progress_every
        self.echo_stream = echo_stream
        self.progress_stream = progress_stream
        self.reset()

    def reset(self) -> None:
        """Forget the run so far (a new run on the same harness)."""
        self.state = LogState()
        self.lines = self.text_lines = self.dropped = self.recovered = self.restarts = 0
        self.dropped_lines: list[str] = []
        self.warnings: list[str] = []
        self.sealed = False
        self.lost = self.duplicates = 0
        self._next_seq: int | None = None
        self.train_steps: int | None = None
        self.last_loss: Record | None = None
        self.last_eval: Record | None = None
        self._first_step_t: float | None = None   # when step 1's @loss arrived (for the ETA)
        self.stop_reason = ""
        self._last_type = ""
        self._t0 = time.monotonic()
        self._last_progress = 0.0
        self._live = False

    # --- per line -------------------------------------------------------------------------
    def handle(self, line: str) -> Record | None:
        """Take one console line; returns the trusted record on it, if any."""
        self.lines += 1
        line = line.rstrip("\r\n")
        if self.echo:
            self._clear_live()
            print(line, file=self.echo_stream or sys.stdout, flush=True)
        scan = scan_line(line)
        rec = scan.record
        if scan.dropped:
            self._drop(line, scan.dropped, scan.reason)
            if rec is None and "@fault" in line:  # a crash report hit by noise is still a crash
                rec = Record("fault", dict(_FIELD_RE.findall(line[line.index("@fault"):])))
                self.warnings.append("garbled @fault record taken as a crash")
        if rec is None:
            if not scan.dropped:
                self.text_lines += 1
            return None
        if not self._seal_ok(rec, line):
            return None
        if scan.noise and not scan.dropped:
            self.recovered += 1
        if rec.type == "start" and self.state.started:
            self._restart(rec)
        self.state.add(rec)
        self._last_type = rec.type
        if rec.type == "start":
            self.state.started = True
            if "steps" in rec.fields:
                self.train_steps = rec.int("steps")
        elif rec.type == "train" and "steps" in rec.fields:
            self.train_steps = rec.int("steps")
        elif rec.type == "loss":
            self.last_loss = rec
            if self._first_step_t is None:
                self._first_step_t = time.monotonic()
        elif rec.type == "eval":
            self.last_eval = rec
        elif rec.type == "done" and self.state.exit_code is None and self.state.fault is None:
            self.state.exit_code = rec.int("code")
        elif rec.type == "fault" and self.state.fault is None:
            self.state.fault = rec
        if self.on_record is not None:   # e.g. et.samplelink.SampleFeeder answers @need
            self.on_record(rec)
        self._show_progress()
        return rec

    def _seal_ok(self, rec: Record, line: str) -> bool:
        """Sealed logs (format 2): take a record only with its seal and in sequence; count the
        records a gap in the sequence numbers shows were lost. A crash report (@fault, written
        by the trap handler unsealed) is always taken."""
        if rec.type == "start" and rec.int("log", 1) >= 2 or rec.seq is not None:
            self.sealed = True
        if rec.seq is None:
            if self.sealed and rec.type != "fault":
                self._drop(line, 1, "unsealed record in a sealed log")
                return False
            return True
        if rec.type == "start":
            self._next_seq = None
        expected = self._next_seq
        if expected is not None and rec.seq < expected:
            self.duplicates += 1
            self._drop(line, 1, f"record q={rec.seq} again (expected q={expected})")
            return False
        if expected is not None and rec.seq > expected:
            self.lost += rec.seq - expected
            log.debug("%d record(s) lost before q=%d", rec.seq - expected, rec.seq)
        self._next_seq = rec.seq + 1
        return True

    def _drop(self, line: str, n: int, reason: str) -> None:
        self.dropped += n
        if len(self.dropped_lines) < _MAX_KEPT_DROPS:
            self.dropped_lines.append(line[:200])
        log.debug("dropped %d record(s): %s", n, reason)

    def _restart(self, rec: Record) -> None:
        self.restarts += 1
        msg = (f"a second @start ({' '.join(f'{k}={v}' for k, v in rec.fields.items())}) after "
               f"{self.state.count} records: the board restarted; the earlier records "
               "are discarded")
        self.warnings.append(msg)
        log.warning(msg)
        self.state = LogState()
        self.train_steps, self.last_loss = None, None

    @property
    def finished(self) -> bool:
        return self.state.finished

    # --- a whole run ----------------------------------------------------------------------
    def run(self, read_line) -> HarnessResult:
        """Read lines with ``read_line(timeout)`` until @done, @fault, the end or a limit."""
        self.reset()
        idle = _Idle(self.inactivity, self.meter, self._t0)
        status = None
        while not self.finished:
            now = time.monotonic()
            left = self.timeout - (now - self._t0)
            if left <= 0:
                status, self.stop_reason = "timeout", (
                    f"no @done within the overall timeout of {self.timeout:g} s")
                break
            stuck = idle.check(now)
            if stuck:
                status, self.stop_reason = "inactive", stuck
                break
            wait = min(left, idle.wait(now))
            line = read_line(wait)
            if line is None:
                # None is a timeout when the whole wait has passed, else the end of the stream
                if time.monotonic() - now >= wait - _SLACK:
                    continue
                status = "truncated"
                break
            idle.saw_line()
            self.handle(line)
        partial = getattr(read_line, "partial", "")  # what the stream ended on, unterminated
        if not self.finished and partial.strip():
            self._drop(partial, 1, "unterminated last line")
            self.warnings.append(f"unterminated last line dropped: {partial[:60]!r}")
        return self._result(status)

    def result(self) -> HarnessResult:
        """The result of the lines handled so far (the stream is taken as ended)."""
        return self._result(None)

    def _result(self, status: str | None) -> HarnessResult:
        if self.state.fault is not None:
            status, code = "fault", EXIT_FAULT
        elif self.state.exit_code is not None:
            status, code = "done", done_exit_code(self.state.exit_code)
        else:
            status = status or "truncated"
            code = EXIT_TRUNCATED if status == "truncated" else EXIT_TIMEOUT
        warnings = list(self.warnings)
        if self.lines == 0:
            warnings.append("no output at all")
        elif not self.state.started and status != "fault":
            warnings.append("no @start record: the log may have been joined mid-run")
        if self.lost:
            warnings.append(f"{self.lost} record(s) lost: gaps in the sequence numbers")
        if self.duplicates:
            warnings.append(f"{self.duplicates} record(s) received twice, dropped")
        for type_, n in self.state.not_kept.items():
            warnings.append(f"{n} @{type_} record(s) summed or counted but not kept in memory")
        res = HarnessResult(status, code, self.state, time.monotonic() - self._t0, self.lines,
                            self.text_lines, self.dropped, self.recovered, self.restarts,
                            list(self.dropped_lines), warnings, self.stop_reason, self.reached(),
                            self.lost, self.duplicates, self.sealed)
        if self.progress:
            self._clear_live()
            stream = self.progress_stream or sys.stderr
            print(res.summary(), file=stream, flush=True)
            for w in warnings:
                print(f"harness: warning: {w}", file=stream, flush=True)
        return res

    def reached(self) -> str:
        """How far the run got: the last training step, the records, the last record's type."""
        parts = []
        if self.last_loss is not None:
            total = f" of {self.train_steps}" if self.train_steps else ""
            parts.append(f"step {self.last_loss['step']}{total}")
        elif self.train_steps:
            parts.append(f"no step of {self.train_steps} finished")
        n = self.state.count
        last = f", the last @{self._last_type}" if n else ""
        parts.append(f"{n} records{last}")
        return ", ".join(parts)

    # --- progress ---------------------------------------------------------------------------
    def progress_text(self) -> str:
        """A bar of the steps done, the current loss, the last held-out accuracy, the time to
        go (from the steps' pace since the first), records seen."""
        now = time.monotonic()
        parts = [f"{now - self._t0:.0f} s"]
        if self.last_loss is not None:
            step = _int(self.last_loss["step"])
            total = self.train_steps or 0
            if total and step is not None:
                done = min(step, total) * 20 // total
                parts[0] = f"[{'#' * done}{'.' * (20 - done)}] " + parts[0]
            parts.append(f"step {step}{f'/{total}' if total else ''}, loss "
                         f"{self.last_loss['value']}")
            ev = self.last_eval
            if ev is not None and "correct" in ev.fields and _int(ev["n"]):
                parts.append(f"held-out accuracy {_int(ev['correct']) / _int(ev['n']):.1%} "
                             f"(step {ev['step']})")
            if total and step and 1 < step < total and self._first_step_t is not None:
                eta = (now - self._first_step_t) / (step - 1) * (total - step)
                parts.append(f"ETA {eta:.0f} s")
        parts.append(f"{self.state.count} records")
        if self.dropped:
            parts.append(f"{self.dropped} dropped")
        return "harness: " + ", ".join(parts)

    def _tty(self) -> bool:
        stream = self.progress_stream or sys.stderr
        return bool(getattr(stream, "isatty", lambda: False)())

    def _show_progress(self) -> None:
        if not self.progress:
            return
        now = time.monotonic()
        tty = self._tty()
        if now - self._last_progress < (0.1 if tty else self.progress_every):
            return
        if not tty and now - self._t0 < self.progress_every:
            return  # short runs stay quiet off a terminal
        self._last_progress = now
        stream = self.progress_stream or sys.stderr
        if tty:
            stream.write("\r\x1b[K" + self.progress_text())
            self._live = True
        else:
            stream.write(self.progress_text() + "\n")
        stream.flush()

    def _clear_live(self) -> None:
        if self._live:
            stream = self.progress_stream or sys.stderr
            stream.write("\r\x1b[K")
            stream.flush()
            self._live = False


def _int(text: str) -> int | None:
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


class _Idle:
    """The idle limit of one run (see the module's docstring): ``check`` says why the run is
    stuck, or ''; ``wait`` is how long the next read may block."""

    def __init__(self, limit: float | None, meter, t0: float):
        self.limit, self.meter = limit, meter
        self.line_wall = self.cpu_wall = t0   # last line; last time the CPU time advanced
        self.cpu = self.line_cpu = self._read()

    def _read(self) -> float | None:
        if self.meter is None:
            return None
        try:
            return self.meter()
        except Exception as e:  # noqa: BLE001 - a meter that fails falls back to wall time
            log.debug("CPU meter failed (%s): the idle limit is wall-clock time", e)
            self.meter = None
            return None

    def saw_line(self) -> None:
        self.line_wall = time.monotonic()
        self.line_cpu = self.cpu = self._read() if self.meter is not None else None

    def check(self, now: float) -> str:
        if self.limit is None:
            return ""
        cpu = self._read() if self.meter is not None else None
        if cpu is None:
            silent = now - self.line_wall
            return (f"no output for {silent:.0f} s (idle limit {self.limit:g} s)"
                    if silent >= self.limit else "")
        if self.cpu is None or cpu > self.cpu:
            self.cpu, self.cpu_wall = cpu, now
        if self.line_cpu is None:
            self.line_cpu = cpu
        busy = cpu - self.line_cpu
        if busy >= self.limit:
            return (f"no output while the run used {busy:.0f} s of CPU in {now - self.line_wall:.0f} s "
                    f"(idle limit {self.limit:g} CPU seconds: it is spinning without progress)")
        if now - self.cpu_wall >= self.limit:
            return (f"no output and no CPU time used for {now - self.cpu_wall:.0f} s (idle limit "
                    f"{self.limit:g} s: it is blocked)")
        return ""

    def wait(self, now: float) -> float:
        if self.limit is None:
            return float("inf")
        if self.meter is None:
            return max(0.0, self.limit - (now - self.line_wall))
        return POLL


# --- sources: read_line(timeout) -> str | None ------------------------------------------------
def lines_source(lines):
    """read_line over an iterable of lines (None at its end)."""
    it = iter(lines)
    return lambda timeout=None: next(it, None)


def split_log_bytes(data: bytes) -> tuple[list[str], bytes]:
    """Complete lines of a byte log (``\\n``, ``\\r\\n`` or a lone ``\\r`` ends a line; invalid
    UTF-8 becomes U+FFFD) and the unterminated rest, which the format says to drop."""
    data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    *lines, rest = data.split(b"\n")
    return [ln.decode("utf-8", "replace") for ln in lines], rest


class file_source:  # noqa: N801 - used like a function: file_source(path)(timeout)
    """read_line over a saved log, read in chunks (memory bounded whatever its size); an
    unterminated last line is dropped (docs/devlog.md) and counted by the harness."""

    CHUNK = 1 << 20
    MAX_LINE = 1 << 16  # a longer "line" is cut here (no record is that long)

    def __init__(self, path: str):
        self._f = open(path, "rb")  # noqa: SIM115 - closed at the end of the stream
        self._lines: list[str] = []
        self._pos = 0
        self._rest = b""
        self.partial = ""

    def __call__(self, timeout=None) -> str | None:
        while self._pos >= len(self._lines):
            if self._f.closed:
                return None
            chunk = self._f.read(self.CHUNK)
            if not chunk:
                self._f.close()
                self.partial = self._rest.decode("utf-8", "replace")
                return None
            data = self._rest + chunk
            if data.endswith(b"\r"):  # a '\r\n' may be split across chunks
                data, tail = data[:-1], b"\r"
            else:
                tail = b""
            self._lines, rest = split_log_bytes(data)
            self._rest = rest[:self.MAX_LINE] + tail
            self._pos = 0
        line = self._lines[self._pos]
        self._pos += 1
        return line


class PipePort:
    """The part of pyserial's port API that serial_source uses, over a pipe (a native program's
    stdout), so host runs are read exactly like a board's UART."""

    def __init__(self, stream):
        self._fd = stream.fileno()
        self._stream = stream
        self.timeout = 0.2
        self._eof = False

    @property
    def in_waiting(self) -> int:
        return 0  # unknown for a pipe: read() returns what one os.read gives

    def read(self, n: int) -> bytes:
        import os
        import select

        if self._eof:
            raise EOFError("the program closed its output")
        ready, _, _ = select.select([self._fd], [], [], self.timeout)
        if not ready:
            return b""
        data = os.read(self._fd, max(n, 4096))
        if not data:
            self._eof = True
            raise EOFError("the program closed its output")
        return data

    def close(self) -> None:
        self._stream.close()


class serial_source:  # noqa: N801 - used like a function: serial_source(url)(timeout)
    """read_line over a serial port opened with pyserial's ``serial_for_url`` (a device such
    as ``/dev/ttyUSB0``, ``socket://host:port``, ``rfc2217://...``, ``loop://``)."""

    def __init__(self, url: str, baudrate: int = 115200, port=None):
        if port is None:
            import serial  # pyserial

            port = serial.serial_for_url(url, baudrate=baudrate, timeout=0.2)
        self.port = port
        self._buf = b""
        self.closed = False

    @property
    def partial(self) -> str:
        """Bytes received after the last line end (an unterminated line; complete lines not
        read yet are not part of it)."""
        ends = list(_EOL_RE.finditer(self._buf))
        return self._buf[ends[-1].end() if ends else 0:].decode("utf-8", "replace")

    def __call__(self, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while True:
            m = _EOL_RE.search(self._buf)
            if m:  # a '\r\n' split across reads gives one extra empty line: harmless free text
                line, self._buf = self._buf[:m.start()], self._buf[m.end():]
                return line.decode("utf-8", "replace")
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.closed:
                return None
            try:
                self.port.timeout = min(remaining, 0.2)
                chunk = self.port.read(self.port.in_waiting or 1)
            except Exception as e:  # noqa: BLE001 - port gone (unplugged, socket closed)
                log.warning("serial port closed: %s", e)
                self.closed = True
                return None  # the unterminated rest is dropped
            self._buf += chunk

    def close(self) -> None:
        self.closed = True
        self.port.close()
