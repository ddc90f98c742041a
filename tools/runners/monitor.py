"""The console after the start: the serial-log harness (tools/et/harness.py) reads the device
log from the open port until @done, @fault or the timeout."""
from __future__ import annotations

import logging

log = logging.getLogger("et.monitor")


class LineRecorder:
    """Wraps a ``read_line(timeout)`` source and keeps every line it hands out."""

    def __init__(self, read_line):
        self.read_line = read_line
        self.lines: list[str] = []

    @property
    def partial(self) -> str:
        return getattr(self.read_line, "partial", "")

    def __call__(self, timeout: float):
        line = self.read_line(timeout)
        if line is not None:
            self.lines.append(line)
        return line


def monitor(port, timeout: float, echo: bool = True, idle: float | None = 120.0, meter=None,
            on_record=None):
    """Read the log from an open pyserial port to its end: (HarnessResult, lines). ``idle``:
    the idle limit (None: off), in CPU seconds of the board's
    process when ``meter`` measures one (a simulated board), else seconds of silence.
    ``on_record``: see et.harness.Harness (e.g. a SampleFeeder writing to ``port``)."""
    from et.harness import Harness, serial_source

    source = LineRecorder(serial_source(None, port=port))
    result = Harness(timeout=timeout, echo=echo, inactivity=idle,
                     meter=meter, on_record=on_record).run(source)
    return result, source.lines


def monitor_group(group, timeout: float, echo: bool = True, idle: float | None = 120.0,
                  on_record=None):
    """Read the device log a started process (an et.procgroup.ProcessGroup: a simulator, the
    native program) writes on its stdout: (HarnessResult, lines). The idle limit counts the
    group's CPU time. The group is stopped at the end: 5 s after its log ended, at once when a
    limit stopped the run."""
    from et.harness import Harness, PipePort, serial_source

    source = LineRecorder(serial_source(None, port=PipePort(group.proc.stdout)))
    try:
        result = Harness(timeout=timeout, echo=echo, inactivity=idle,
                         meter=group.cpu_seconds, on_record=on_record).run(source)
        if result.status in ("done", "fault", "truncated"):
            group.wait(timeout=5)
    finally:
        group.stop()
    return result, source.lines
