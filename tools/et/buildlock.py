"""One build folder, one build at a time.

Everything a build makes lives in its build folder (``build/<target>/<app>/`` or the
``builddir=`` given to scons): objects, the bootloader, the ELF, the generated sources,
``memplan.json``, ``run.log`` and the report. ``BuildLock`` is an exclusive ``flock`` on
``build/.locks/<folder>.lock`` that scons holds from reading the SConstruct to its exit, so a
second build of the same folder waits (saying for whom) instead of overwriting the first's
files while it runs. The lock dies with its process: a killed build leaves nothing to clean.

Tools that build and then read the results themselves (``edgetune.py train``, ``bench.py``)
``claim`` a folder: the first free one of ``base``, ``base.2``, ``base.3``, ... (a run alone
reuses ``base`` and its compiled objects; a concurrent run gets a folder of its own), hold its
lock for the whole build, run and read-back, and hand it to scons (``lock_env``): scons finds
the lock already held by the open file it inherits and takes it over instead of waiting for
itself.
"""
from __future__ import annotations

import fcntl
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOCK_DIR = os.path.join(ROOT, "build", ".locks")
ENV_FD = "ET_BUILD_LOCK_FD"      # an inherited descriptor holding the lock of ...
ENV_DIR = "ET_BUILD_LOCK_DIR"    # ... this build folder (relative to the root)
MAX_SLOTS = 16


class BuildBusy(Exception):
    """The folder is locked by another build (``wait=False``)."""


def folder_key(build_dir: str) -> str:
    """A file name for a build folder: its path below build/, '/' as '_' ('host_train')."""
    rel = os.path.relpath(os.path.abspath(os.path.join(ROOT, build_dir)), os.path.join(ROOT, "build"))
    return rel.replace(os.sep, "_")


def _rel(build_dir: str) -> str:
    return os.path.relpath(os.path.abspath(os.path.join(ROOT, build_dir)), ROOT)


class BuildLock:
    """The exclusive lock of one build folder (released by ``release`` or the process's end)."""

    def __init__(self, build_dir: str, fd: int):
        self.build_dir = _rel(build_dir)
        self.fd = fd

    @classmethod
    def path(cls, build_dir: str) -> str:
        return os.path.join(LOCK_DIR, folder_key(build_dir) + ".lock")

    @classmethod
    def acquire(cls, build_dir: str, wait: bool = True, say=None) -> "BuildLock":
        """Lock ``build_dir``; with ``wait``, block until it is free (``say`` is called once
        with a line naming the holder), else raise BuildBusy naming it."""
        inherited = cls._inherited(build_dir)
        if inherited is not None:
            return inherited
        os.makedirs(LOCK_DIR, exist_ok=True)
        fd = os.open(cls.path(build_dir), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd)
                if not wait:
                    raise BuildBusy(f"{_rel(build_dir)} is in use by {holder}") from None
                if say:
                    say(f"waiting for {_rel(build_dir)}: in use by {holder}")
                fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}: {' '.join(sys.argv)[:300]}\n".encode(), 0)
        os.set_inheritable(fd, False)
        return cls(build_dir, fd)

    @classmethod
    def _inherited(cls, build_dir: str) -> "BuildLock | None":
        """The lock our parent holds for this very folder and passed down (see ``lock_env``)."""
        fd_text, held = os.environ.get(ENV_FD, ""), os.environ.get(ENV_DIR, "")
        if not fd_text.isdigit() or held != _rel(build_dir):
            return None
        fd = int(fd_text)
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(cls.path(build_dir)))
            if same:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # ours already: succeeds at once
        except OSError:
            return None
        return cls(build_dir, fd) if same else None

    def lock_env(self, env: dict | None = None) -> dict:
        """An environment for a child (scons) that takes this lock over (pass ``pass_fds``)."""
        env = dict(os.environ if env is None else env)
        env[ENV_FD], env[ENV_DIR] = str(self.fd), self.build_dir
        return env

    def release(self) -> None:
        if self.fd >= 0:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            finally:
                os.close(self.fd)
                self.fd = -1

    def __enter__(self) -> "BuildLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 400, 0).decode(errors="replace").strip()
    except OSError:
        text = ""
    return text or "another build"


def claim(base: str, say=None, slots: int = MAX_SLOTS) -> BuildLock:
    """The lock of the first free folder of ``base``, ``base.2``, ... ``base.<slots>``; when all
    are busy, wait for ``base``."""
    for i in range(1, slots + 1):
        d = base if i == 1 else f"{base}.{i}"
        try:
            return BuildLock.acquire(d, wait=False)
        except BuildBusy:
            continue
    return BuildLock.acquire(base, wait=True, say=say)


def wait_message(line: str) -> None:
    """How scons says that it waits for a folder."""
    print(f"scons: {line}", file=sys.stderr, flush=True)


__all__ = ["BuildLock", "BuildBusy", "claim", "folder_key", "wait_message"]
