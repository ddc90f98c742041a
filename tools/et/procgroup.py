"""A simulator or board process that never outlives its run.

``ProcessGroup(cmd, ...)`` starts ``cmd`` in a session (and process group) of its own and
ends the whole group on every exit path: ``stop()``, leaving a ``with`` block (an error, a
timeout, Ctrl-C), and even the death of this Python process by SIGKILL: a small guard process
watches a pipe from us and kills the group when the pipe closes without the all-clear. GVSoC
needs this: its front end (gapy, Python) starts the simulator proper as a child, which a
``proc.kill()`` of the front end alone would orphan.

``cpu_seconds()`` is the CPU time the group's processes have used (Linux ``/proc``; None
elsewhere): the harness measures a silent run's progress with it (tools/et/harness.py).
"""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time

log = logging.getLogger("et.procgroup")

_PR_SET_PDEATHSIG = 1
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

# The guard: reads its stdin until "ok" (the run ended cleanly and the group was reaped) or
# EOF (our process died): then the group is killed. It runs in a session of its own, so a
# Ctrl-C at the terminal reaches us, not it.
_GUARD = r"""
import os, signal, sys
pgid = int(sys.argv[1])
data = sys.stdin.buffer.read()
if not data.startswith(b"ok"):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
"""


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def session_members(sid: int) -> list[int]:
    """PIDs of the live processes of session ``sid`` (Linux /proc; [] elsewhere)."""
    out = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return out
    for name in names:
        if not name.isdigit():
            continue
        stat = _stat_fields(int(name))
        if stat and int(stat[3]) == sid:   # fields after 'comm': state ppid pgrp session ...
            out.append(int(name))
    return out


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (which may hold spaces)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read().decode(errors="replace")
    except OSError:
        return None
    return text[text.rfind(")") + 2:].split()


class ProcessGroup:
    """``cmd`` running in its own session; ``proc`` is its Popen (stdin, stdout, ... as given)."""

    def __init__(self, cmd: list[str], **popen_kwargs):
        popen_kwargs.setdefault("stdin", subprocess.DEVNULL)
        self.proc = subprocess.Popen(cmd, start_new_session=True, preexec_fn=_die_with_parent,
                                     **popen_kwargs)
        self.pgid = self.proc.pid
        self._cpu_max = 0.0
        self._guard = None
        try:
            self._guard = subprocess.Popen([sys.executable, "-c", _GUARD, str(self.pgid)],
                                           stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL, start_new_session=True)
        except OSError as e:  # the group is still stopped on every exit path but SIGKILL
            log.warning("no guard for process group %d: %s", self.pgid, e)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def members(self) -> list[int]:
        """The live processes of the group's session (the leader and what it started)."""
        return session_members(self.pgid)

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system, with reaped children) the group has used so far; never
        decreases. None where /proc is not there."""
        if not os.path.isdir("/proc"):
            return None
        total = 0.0
        for pid in self.members():
            f = _stat_fields(pid)
            if f:  # utime stime cutime cstime are fields 14-17 of stat: 11-14 after 'comm'
                total += sum(int(v) for v in f[11:15]) / _CLK_TCK
        self._cpu_max = max(self._cpu_max, total)
        return self._cpu_max

    def poll(self) -> int | None:
        return self.proc.poll()

    def wait(self, timeout: float | None = None) -> int | None:
        """The leader's exit status, or None if it is still running after ``timeout``."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace: float = 2.0) -> int | None:
        """End the whole group (SIGTERM, then SIGKILL after ``grace`` s), reap the leader and
        release the guard. Idempotent; returns the leader's exit status."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
            if not self.members() and self.proc.poll() is not None:
                break
            try:
                os.killpg(self.pgid, sig)
            except (ProcessLookupError, PermissionError):
                pass
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if self.proc.poll() is not None and not self.members():
                    break
                time.sleep(0.02)
        code = self.wait(timeout=5)
        left = self.members()
        if left:
            log.error("process group %d: %s still running after SIGKILL", self.pgid, left)
        self._release_guard()
        return code

    def _release_guard(self) -> None:
        g, self._guard = self._guard, None
        if g is None:
            return
        try:
            g.stdin.write(b"ok")
            g.stdin.close()
        except OSError:
            pass
        try:
            g.wait(timeout=5)
        except subprocess.TimeoutExpired:
            g.kill()
            g.wait()

    def __enter__(self) -> "ProcessGroup":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


__all__ = ["ProcessGroup", "session_members"]
