"""The ``openocd`` runner: JTAG boards. openocd serves gdb; gdb-multiarch loads the ELF
(``load``), verifies it (``compare-sections``) and starts it at its entry point.

The command lines are built by ``openocd_command`` and ``gdb_command`` (tested as such: the
tools cannot run without a board here).
"""
from __future__ import annotations

import logging
import os
import subprocess
import time

from .base import Caps, FlashError, Runner
from .image import ImageError, load_image

log = logging.getLogger("et.runners.openocd")

DEFAULT_OPENOCD = "openocd"
DEFAULT_GDB = "gdb-multiarch"
DEFAULT_GDB_PORT = 3333
DEFAULT_TCL_PORT = 6333
DEFAULT_TELNET_PORT = 4444
DEFAULT_CONFIG = os.path.join("boards", "siracusa", "openocd.cfg")


class OpenOcdRunner(Runner):
    """Load over JTAG with openocd and gdb-multiarch."""

    def __init__(self, config: str = DEFAULT_CONFIG, openocd: str = DEFAULT_OPENOCD,
                 gdb: str = DEFAULT_GDB, gdb_port: int = DEFAULT_GDB_PORT,
                 tcl_port: int = DEFAULT_TCL_PORT, telnet_port: int = DEFAULT_TELNET_PORT,
                 search: list[str] | None = None, pre_init: list[str] | None = None,
                 verify: bool = True):
        self.config, self.openocd, self.gdb = config, openocd, gdb
        self.gdb_port, self.tcl_port, self.telnet_port = gdb_port, tcl_port, telnet_port
        self.search = list(search or [])
        self.pre_init = list(pre_init or [])
        self.verify = verify

    @classmethod
    def name(cls) -> str:
        return "openocd"

    @classmethod
    def capabilities(cls) -> Caps:
        return Caps(flash=True, verify=True, port=False, monitor=False, start=True)

    @classmethod
    def add_args(cls, parser) -> None:
        parser.add_argument("--openocd-config", default=DEFAULT_CONFIG,
                            help=f"openocd: board configuration (default {DEFAULT_CONFIG})")
        parser.add_argument("--openocd", default=DEFAULT_OPENOCD, help="openocd: the binary")
        parser.add_argument("--openocd-search", action="append", default=[],
                            help="openocd: script search directory (repeatable)")
        parser.add_argument("--openocd-cmd", action="append", default=[],
                            help="openocd: command run before init (repeatable)")
        parser.add_argument("--gdb", default=DEFAULT_GDB, help="openocd: the gdb binary")
        parser.add_argument("--gdb-port", type=int, default=DEFAULT_GDB_PORT,
                            help=f"openocd: gdb server port (default {DEFAULT_GDB_PORT})")

    @classmethod
    def create(cls, args) -> "OpenOcdRunner":
        return cls(config=args.openocd_config, openocd=args.openocd, gdb=args.gdb,
                   gdb_port=args.gdb_port, search=args.openocd_search,
                   pre_init=args.openocd_cmd)

    def openocd_command(self) -> list[str]:
        """openocd serving gdb on ``gdb_port``, the target halted after reset."""
        cmd = [self.openocd]
        for d in self.search:
            cmd += ["-s", d]
        cmd += ["-f", self.config]
        for c in self.pre_init:
            cmd += ["-c", c]
        cmd += ["-c", f"gdb_port {self.gdb_port}", "-c", f"tcl_port {self.tcl_port}",
                "-c", f"telnet_port {self.telnet_port}", "-c", "init", "-c", "reset halt"]
        return cmd

    def gdb_command(self, elf: str, entry: int) -> list[str]:
        """gdb: connect, halt, load, verify, start at ``entry``, detach."""
        cmd = [self.gdb, "-q", "-nx", "-batch",
               "-ex", "set pagination off",
               "-ex", "set confirm off",
               "-ex", f"target extended-remote localhost:{self.gdb_port}",
               "-ex", "monitor reset halt",
               "-ex", "load"]
        if self.verify:
            cmd += ["-ex", "compare-sections"]
        cmd += ["-ex", f"monitor resume 0x{entry:08x}", "-ex", "detach", elf]
        return cmd

    def run(self, elf: str) -> int:
        try:
            image = load_image(elf)
        except ImageError as e:
            raise FlashError(str(e)) from None
        openocd = self.require(self.openocd)
        self.require(self.gdb)
        cmd = self.openocd_command()
        cmd[0] = openocd
        log.info("starting %s", " ".join(cmd))
        server = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
        try:
            time.sleep(1.0)  # openocd opens its gdb port after init
            if server.poll() is not None:
                raise FlashError(f"openocd exited with {server.returncode} (see its messages)")
            proc = subprocess.run(self.gdb_command(elf, image.entry), capture_output=True,
                                  text=True)
            out = proc.stdout + proc.stderr
            if proc.returncode != 0 or "MIS-MATCHED" in out:
                raise FlashError(f"gdb load/verify failed:\n{out.strip()}")
            return 0
        finally:
            server.terminate()
            try:
                server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
