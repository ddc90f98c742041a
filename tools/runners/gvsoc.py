"""The ``gvsoc`` runner: runs a siracusa ELF in an installed GVSoC (the open-source PULP
simulator with a cycle-accurate Siracusa model). GVSoC is the user's tool, found as
``--gvsoc PATH``, else ``$GVSOC``, else ``gvsoc`` on PATH; EdgeTune never ships it.

    gvsoc --target=siracusa --binary ABSOLUTE.elf --work-dir=DIR \\
          --config-opt=hyperflash/content/image=DIR/l3flash.bin \\
          --config-opt=hyperflash/writeback=false run

GVSoC's ELF loader writes the L1 and L2 segments. The program's L3 content (the ELF's
non-loadable ``.l3`` section) is packed by ``et.l3image`` into ``DIR/l3flash.bin``, which the
model's HyperFlash (chip-select 1) is preloaded with; the firmware copies it into HyperRAM and
checks its CRC before ``main`` (``hal/siracusa/l3.c``). The simulation's stdout is the device
log (docs/devlog.md), read by the same harness as a board's UART.
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys

from .base import Caps, FlashError, Runner
from .image import ImageError, load_image

log = logging.getLogger("et.runners.gvsoc")

FLASH_IMAGE = "l3flash.bin"
INSTALL_HINT = ("install GVSoC (github.com/gvsoc/gvsoc with gvsoc-core and gvsoc-pulp, "
                "target siracusa; README.md names the commit EdgeTune is checked with), then "
                "pass gvsoc=PATH / --gvsoc PATH, set $GVSOC, or put gvsoc on PATH")


def find_gvsoc(explicit: str | None = None) -> str:
    """The GVSoC executable: ``explicit``, else ``$GVSOC``, else ``gvsoc`` on PATH.
    FlashError with a one-line hint when none is installed."""
    for cand, origin in ((explicit, "gvsoc= / --gvsoc"), (os.environ.get("GVSOC"), "$GVSOC")):
        if cand:
            path = shutil.which(cand) or (cand if os.access(cand, os.X_OK) else None)
            if not path:
                raise FlashError(f"GVSoC not found at {cand} (from {origin}): {INSTALL_HINT}")
            return os.path.abspath(path)
    path = shutil.which("gvsoc")
    if not path:
        raise FlashError(f"GVSoC is not installed (no gvsoc=, no $GVSOC, no gvsoc on PATH): "
                         f"{INSTALL_HINT}")
    return path


def gvsoc_command(gvsoc: str, elf: str, work_dir: str, flash_image: str | None) -> list[str]:
    """The simulator's command line (absolute paths: GVSoC fails on a relative ELF path)."""
    cmd = [gvsoc, "--target=siracusa", "--binary", os.path.abspath(elf),
           f"--work-dir={os.path.abspath(work_dir)}"]
    if flash_image:  # writeback=false: the model would otherwise grow the file to 64 MiB and write it
        cmd += [f"--config-opt=hyperflash/content/image={os.path.abspath(flash_image)}",
                "--config-opt=hyperflash/writeback=false"]
    return cmd + ["run"]


def prepare(elf: str, work_dir: str, gvsoc: str | None = None) -> list[str]:
    """Check the ELF, write its HyperFlash image into ``work_dir``; the command to run."""
    from et.l3image import L3ImageError, write_flash_image

    exe = find_gvsoc(gvsoc)
    try:
        load_image(elf)
    except ImageError as e:
        raise FlashError(str(e)) from None
    os.makedirs(work_dir, exist_ok=True)
    flash = os.path.join(work_dir, FLASH_IMAGE)
    try:
        l3_bytes = write_flash_image(elf, flash)
    except (L3ImageError, OSError) as e:
        raise FlashError(str(e)) from None
    log.info("L3 image: %d bytes -> %s", l3_bytes, flash)
    return gvsoc_command(exe, elf, work_dir, flash)


def child_env() -> dict[str, str]:
    """The environment GVSoC starts in: this process's, without EdgeTune's own virtual
    environment, whose python would otherwise run GVSoC's Python front end (gapy) and lack
    its packages. A GVSoC environment the user activated, or a wrapper script given as
    gvsoc=, stays in charge."""
    env = dict(os.environ)
    venvs = [env.pop("VIRTUAL_ENV", None)]
    if sys.prefix != sys.base_prefix:  # running inside a virtual environment
        venvs.append(sys.prefix)
    ours = {os.path.abspath(os.path.join(v, "bin")) for v in venvs if v}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if p and os.path.abspath(p) not in ours)
    env.pop("PYTHONHOME", None)
    return env


def start(elf: str, work_dir: str, gvsoc: str | None = None):
    """Start the simulation in a process group of its own (et.procgroup: gapy and the
    simulator it starts are ended together on every exit path); its stdout (stderr merged) is
    a pipe carrying the device log."""
    from et.procgroup import ProcessGroup

    cmd = prepare(elf, work_dir, gvsoc)
    log.info("starting %s", " ".join(cmd))
    stdbuf = shutil.which("stdbuf")
    if stdbuf:  # the model's stdout is block-buffered into a pipe: line-buffer it for the harness
        cmd = [stdbuf, "-oL", "-eL"] + cmd
    try:
        return ProcessGroup(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, cwd=work_dir, env=child_env())
    except OSError as e:
        raise FlashError(f"cannot start GVSoC ({cmd[0]}): {e}") from None


class GvsocRunner(Runner):
    """Run in the GVSoC Siracusa model."""

    def __init__(self, gvsoc: str | None = None, work_dir: str | None = None,
                 monitor: bool = False, timeout: float = 600.0, idle: float | None = 120.0):
        self.gvsoc, self.work_dir = gvsoc, work_dir
        self.monitor, self.timeout, self.idle = monitor, timeout, idle

    @classmethod
    def name(cls) -> str:
        return "gvsoc"

    @classmethod
    def capabilities(cls) -> Caps:
        return Caps(flash=True, verify=False, port=False, monitor=True, start=True)

    @classmethod
    def add_args(cls, parser) -> None:
        parser.add_argument("--gvsoc", help="gvsoc: the simulator (default $GVSOC, else gvsoc "
                                            "on PATH)")
        parser.add_argument("--gvsoc-work-dir", help="gvsoc: its work directory (default: "
                                                     "gvsoc/ beside the ELF)")

    @classmethod
    def create(cls, args) -> "GvsocRunner":
        return cls(gvsoc=args.gvsoc, work_dir=args.gvsoc_work_dir, monitor=args.monitor,
                   timeout=args.timeout, idle=args.idle or None)

    def run(self, elf: str) -> int:
        work_dir = self.work_dir or os.path.join(os.path.dirname(os.path.abspath(elf)), "gvsoc")
        group = start(elf, work_dir, self.gvsoc)
        with group:
            if not self.monitor:  # pass the simulation's output through; its exit code is ours
                for line in group.proc.stdout:
                    print(line.decode(errors="replace"), end="")
                return group.wait()
            result, _ = run_monitored(group, self.timeout, echo=True, idle=self.idle)
        return result.exit_code


def run_monitored(group, timeout: float, echo: bool = True, idle: float | None = 120.0):
    """Read a started simulation's log with the harness: (HarnessResult, lines); its idle
    limit counts the simulation's CPU time (runners.monitor.monitor_group)."""
    from .monitor import monitor_group

    return monitor_group(group, timeout, echo=echo, idle=idle)
