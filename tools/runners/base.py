"""The runner interface: every flashing method is a ``Runner`` subclass that declares its
capabilities (``Caps``), adds its own command-line options, is created from the parsed
arguments and runs. ``tools/flash.py`` only parses arguments and dispatches.

The common options (``--port``, ``--baud``, ``--monitor``, ``--timeout``, ``--idle``, the ELF) are
registered here for every runner, so no runner can reuse their names; a runner that does not
support one says so in its ``Caps`` and gets a clear error when it is given.
"""
from __future__ import annotations

import abc
import argparse
import importlib
import logging
import shutil
from dataclasses import dataclass

log = logging.getLogger("et.runners")

# name -> module holding the runner class; imported lazily so that a missing optional
# dependency (pyserial, ...) only matters for the runner that needs it.
_RUNNER_MODULES = {"serial": "serial", "openocd": "openocd", "gvsoc": "gvsoc"}


class FlashError(Exception):
    """Loading failed; the message says why (nothing is reported as loaded)."""


@dataclass(frozen=True)
class Caps:
    """What a runner supports."""

    flash: bool = True     # loads an ELF
    verify: bool = False   # checks every loaded byte
    port: bool = False     # uses --port (serial device or URL)
    monitor: bool = False  # --monitor: reads the console after the start
    start: bool = True     # starts the program after loading


class Runner(abc.ABC):
    """One flashing method."""

    @classmethod
    @abc.abstractmethod
    def name(cls) -> str:
        """The name given to ``--runner``."""

    @classmethod
    def capabilities(cls) -> Caps:
        """What this runner supports (default: flash only)."""
        return Caps()

    @classmethod
    def add_args(cls, parser: argparse.ArgumentParser) -> None:
        """Add this runner's own options (their names must not clash with the common ones)."""

    @classmethod
    @abc.abstractmethod
    def create(cls, args: argparse.Namespace) -> "Runner":
        """An instance configured from the parsed arguments."""

    @abc.abstractmethod
    def run(self, elf: str) -> int:
        """Load (and start) ``elf``; returns the exit code for flash.py. Raises FlashError."""

    @staticmethod
    def require(program: str) -> str:
        """Full path of a tool binary, or FlashError naming it when it is not installed."""
        path = shutil.which(program)
        if not path:
            raise FlashError(f"{program} not found on PATH: install it (Debian: apt-get install "
                             f"{program.split('/')[-1]})")
        return path


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Options every runner shares."""
    parser.add_argument("elf", help="the program (32-bit RISC-V ELF)")
    parser.add_argument("--port", help="serial port: /dev/ttyUSB0, COM3, socket://host:port, "
                                       "rfc2217://host:port")
    parser.add_argument("--baud", type=int, default=115200, help="baud rate (default 115200)")
    parser.add_argument("--monitor", action="store_true",
                        help="after the start, read the device log until @done/@fault/timeout")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="--monitor: wall-clock seconds for the whole run (default 600)")
    parser.add_argument("--idle", type=float, default=120.0,
                        help="--monitor: the idle limit: a run that prints nothing is stopped "
                             "after this many seconds of its simulator's CPU time (gvsoc), or "
                             "of silence (a board); default 120, 0: off")


def check_common_args(runner: type[Runner], args: argparse.Namespace) -> None:
    """Refuse common options the runner does not support, and require the ones it needs."""
    caps = runner.capabilities()
    if args.monitor and not caps.monitor:
        raise FlashError(f"runner {runner.name()} does not support --monitor")
    if caps.port and not args.port:
        raise FlashError(f"runner {runner.name()} needs --port")
    if args.port and not caps.port:
        raise FlashError(f"runner {runner.name()} does not use --port")


def runner_names() -> list[str]:
    """Names of the known runners."""
    return sorted(_RUNNER_MODULES)


def get_runner(name: str) -> type[Runner]:
    """The runner class called ``name``; FlashError (listing the valid ones) otherwise."""
    if name not in _RUNNER_MODULES:
        raise FlashError(f"unknown runner '{name}'; valid runners: {', '.join(runner_names())}")
    try:
        mod = importlib.import_module(f"{__package__}.{_RUNNER_MODULES[name]}")
    except ImportError as e:  # deferred: only this runner needs the missing module
        raise FlashError(f"runner {name} is unavailable: {e}") from None
    for obj in vars(mod).values():
        if isinstance(obj, type) and issubclass(obj, Runner) and obj is not Runner \
                and obj.name() == name:
            return obj
    raise FlashError(f"runner module for '{name}' defines no runner")
