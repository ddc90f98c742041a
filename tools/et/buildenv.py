"""Build logic behind SConstruct: validates the variables, sets up the toolchain of a target,
compiles HAL + SDK + kernels + the app into ``build/<target>/<app>/``, generates the linker
script, checks the memory budgets of the linked ELF and runs the program (``run=1``)."""
from __future__ import annotations

import glob
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass

from .targets import TARGETS, Target, get_target

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RISCV_PREFIX = "riscv64-unknown-elf-"
COMMON_CFLAGS = ["-O2", "-g", "-std=gnu11", "-Wall", "-Wextra", "-ffunction-sections",
                 "-fdata-sections", "-fno-common"]
INCLUDES = ["hal/include", "sdk/include", "kernels/include", "hal/common"]
SDK_SOURCES = ("sdk/runtime/*.c", "hal/common/mem_names.c")
KERNEL_SOURCES = ("kernels/*/*.c", "kernels/*/*.S")  # .S: target-specific, #if-guarded
PERCORE_CONSOLE_MAX = 64
RUNNERS = {"host": ("native",), "qemu": ("qemu",), "siracusa": ("gvsoc",)}  # run=1, first = default  # @perf records up to which run=1 prints the per-core table too


class BuildConfigError(Exception):
    """A build variable is invalid; the message says which and lists the valid values."""


@dataclass
class Build:
    """What one scons invocation builds."""

    target: Target
    app: str
    cores: int
    timeout: float
    runargs: str
    runner: str = ""
    gvsoc: str = ""
    idle: float | None = None   # the run's idle limit (et.harness); None: off
    folder: str = ""            # builddir=: the build folder (default build/<target>/<app>)
    verbose: bool = False       # verbose=1: full command lines, and run=1 mirrors the whole log

    @property
    def build_dir(self) -> str:
        return self.folder or os.path.join("build", self.target.name, self.app)

    @property
    def boot_elf(self) -> str:
        """The serial bootloader of the target (sdk/boot), built into every RISC-V app's
        build folder (it depends on the budgets, and folders are built concurrently)."""
        return os.path.join(self.build_dir, "boot", "boot.elf")

    @property
    def program_name(self) -> str:
        return self.app + (".elf" if self.target.is_riscv else "")


def list_apps() -> list[str]:
    """Application folders under apps/ (each holds the app's sources)."""
    return sorted(d for d in os.listdir(os.path.join(ROOT, "apps"))
                  if os.path.isdir(os.path.join(ROOT, "apps", d)) and not d.startswith("."))


def parse_size(text: str, what: str) -> int:
    """'262144', '256K', '1M' -> bytes (1 byte .. 4 GiB - 1: the cores' 32-bit address space)."""
    m = re.fullmatch(r"\s*(\d+)\s*([kKmM]?)\s*", text)
    if not m:
        raise BuildConfigError(f"{what}={text!r} is not a size (e.g. 65536, 64K, 1M)")
    n = int(m.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[m.group(2).lower()]
    if not 1 <= n < 1 << 32:
        raise BuildConfigError(f"{what}={text!r} is {n} bytes, outside 1 .. {(1 << 32) - 1} "
                               "(32-bit addresses)")
    return n


def _seconds(text: str, what: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not (v == v and 0 <= v < float("inf")):
        raise BuildConfigError(f"{what}={text!r} is not a number of seconds (e.g. 600)")
    return v


def _build_folder(text: str) -> str:
    """builddir=: a folder below build/ (relative to the root), '' for the default."""
    if not text:
        return ""
    full = os.path.abspath(os.path.join(ROOT, text))
    rel = os.path.relpath(full, ROOT)
    if not rel.startswith("build" + os.sep) or rel.split(os.sep)[1].startswith("."):
        raise BuildConfigError(f"builddir={text!r} must be a folder below build/ (e.g. "
                               "build/host/train.2)")
    return rel


def configure(env) -> Build:
    """Validate the scons variables and set up compiler, flags and tools for the target."""
    try:
        target = get_target(env["target"])
    except ValueError as e:
        raise BuildConfigError(str(e)) from None
    apps = list_apps()
    if env["app"] not in apps:
        raise BuildConfigError(f"unknown app '{env['app']}'; valid apps: {', '.join(apps)}")
    for level in ("L1", "L2", "L3"):
        text = env[level.lower()]
        if text:
            target = target.with_capacity(level, parse_size(text, level.lower()))
    cores = int(env["cores"]) if str(env["cores"]).strip() else target.cores
    if not 1 <= cores <= target.cores:
        raise BuildConfigError(f"cores={cores} out of range: target {target.name} has 1..{target.cores}")
    runner = env.get("runner", "") or RUNNERS[target.name][0]
    if runner not in RUNNERS[target.name]:
        raise BuildConfigError(f"runner={runner} cannot run target {target.name}; valid: "
                               f"{', '.join(RUNNERS[target.name])} (a board: tools/flash.py)")
    timeout, idle = (_seconds(env[k], k) for k in ("timeout", "idle"))
    if timeout <= 0:
        raise BuildConfigError(f"timeout={env['timeout']} must be more than 0 seconds")
    build = Build(target, env["app"], cores, timeout, env["runargs"], runner,
                  env.get("gvsoc", ""), idle or None, _build_folder(env.get("builddir", "")),
                  bool(env["verbose"]))

    defines = [f"ET_TARGET_{target.name.upper()}", f"ET_APP_CORES={cores}",
               f"ET_APP_NAME=\\\"{build.app}\\\""]
    defines += [f"ET_{lvl}_BYTES={cap}u" for lvl, cap in target.capacities.items()]
    env.Replace(CPPPATH=["#" + p for p in INCLUDES], CPPDEFINES=defines)
    env.Replace(CCFLAGS=list(COMMON_CFLAGS))
    if target.is_riscv:
        for tool, name in (("CC", "gcc"), ("AS", "gcc"), ("AR", "ar"), ("RANLIB", "ranlib")):
            env[tool] = RISCV_PREFIX + name
        if not env.WhereIs(env["CC"]):
            raise BuildConfigError(f"{env['CC']} not found: run `bash tools/setup.sh` (installs the "
                                   "RISC-V toolchain, picolibc and qemu)")
        arch = [f"-march={target.march}", f"-mabi={target.mabi}", "-mcmodel=medany"]
        env.Append(CCFLAGS=arch + ["--specs=picolibc.specs"], ASFLAGS=arch,
                   LINKFLAGS=arch + ["--specs=picolibc.specs", "-nostartfiles", "-Wl,--gc-sections",
                              "-Wl,--no-warn-rwx-segments"],
                   LIBS=["m"])
        env["ASCOM"] = "$CC $ASFLAGS $_CPPDEFFLAGS $_CPPINCFLAGS -c -o $TARGET $SOURCE"
    else:
        env.Append(CCFLAGS=["-pthread"], LINKFLAGS=["-pthread"], LIBS=["m"])
    if not env["verbose"]:
        for key, label in (("CCCOMSTR", "CC"), ("ASCOMSTR", "AS"), ("LINKCOMSTR", "LINK")):
            env[key] = f"  {label:<5} $TARGET"
    return build


def _sources(patterns) -> list[str]:
    out = []
    for pat in patterns:
        out += sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, pat)))
    return out


def build_app(env, build: Build):
    """Declare the objects, the linker script and the program; return the program node."""
    t = build.target
    app_dir = os.path.join("apps", build.app)
    srcs = _sources(t.hal_sources) + _sources(SDK_SOURCES) + _sources(KERNEL_SOURCES)
    srcs += _sources((f"{app_dir}/*.c", f"{app_dir}/*.S"))
    objdir = os.path.join(build.build_dir, "obj")
    objects = [env.Object(target="#" + os.path.join(objdir, os.path.splitext(s)[0] + ".o"),
                          source="#" + s) for s in srcs]
    extra = os.path.join(ROOT, app_dir, "SConscript")
    if os.path.exists(extra):  # an app may add generated sources or defines
        objects += env.SConscript("#" + os.path.relpath(extra, ROOT), exports={"env": env, "build": build}) or []
    env.Append(CPPPATH=["#" + app_dir])

    prog_path = "#" + os.path.join(build.build_dir, build.program_name)
    if not t.is_riscv:
        return env.Program(prog_path, objects)

    ld = env.Command("#" + os.path.join(build.build_dir, "link.ld"),
                     ["#sdk/ld/edgetune.ld.j2", "#tools/et/targets.py"],
                     _render_linker_script(t))
    env.Depends(ld, env.Value(repr(t)))
    mapfile = os.path.join(build.build_dir, build.app + ".map")
    prog = env.Program(prog_path, objects,
                       LINKFLAGS=env["LINKFLAGS"] + [f"-T{ld[0].abspath}", f"-Wl,-Map={mapfile}"])
    env.Depends(prog, ld)
    env.SideEffect("#" + mapfile, prog)
    env.AddPostAction(prog, _check_regions_action(t))
    if t.name == "siracusa":  # the fabric controller has no FPU: check its code
        from .fccheck import scons_action
        env.AddPostAction(prog, scons_action())
    if not t.l3_loadable:  # HyperRAM is not memory-mapped: the runner places .l3 (l3image.py)
        env.AddPostAction(prog, _finish_l3_action())
    env.Clean(prog, "#" + build.build_dir)
    boot = env.SConscript("#sdk/boot/SConscript", exports={"env": env, "build": build})
    if boot:  # `scons target=qemu boot` builds only the loader; run=1 loads through it
        env.Alias("boot", boot)
        env.Default(boot)
        env.Depends(env.Alias("run"), boot)
    return prog


def render_linker_script(t: Target) -> str:
    """The linker script of target ``t`` (template sdk/ld/edgetune.ld.j2)."""
    import jinja2

    with open(os.path.join(ROOT, "sdk", "ld", "edgetune.ld.j2")) as f:
        return jinja2.Template(f.read(), undefined=jinja2.StrictUndefined).render(t=t)


def _render_linker_script(t: Target):
    def action(target, source, env):  # noqa: ARG001 - scons action signature
        with open(str(target[0]), "w") as f:
            f.write(render_linker_script(t))
        return 0

    return env_action(action, f"  GEN   linker script for {t.name}")


def env_action(fn, label):
    """A scons Action running a Python function, printed as ``label``."""
    from SCons.Action import Action

    return Action(fn, label)


def _check_regions_action(t: Target):
    def action(target, source, env):  # noqa: ARG001
        from .elfregions import (RegionOverflowError, check, format_outside, format_table,
                                 measure, outside_plan)

        elf = str(target[0])
        plan_path = os.path.join(os.path.dirname(elf), "memplan.json")
        outside = None
        try:
            uses = measure(elf, t)
            print(format_table(uses))
            if os.path.exists(plan_path):   # a generated training app: the plan's share of L2
                with open(plan_path) as f:
                    outside = outside_plan(uses, json.load(f))
                if outside:
                    print(format_outside(outside))
            check(uses)
        except RegionOverflowError as e:
            os.remove(elf)
            hint = ("\n" + format_outside(outside)) if outside else ""
            print(f"scons: *** {elf}: does not fit target {t.name}:\n{e}{hint}", file=sys.stderr)
            return 1
        regions = {u.name: {"used": u.used, "capacity": u.capacity, "origin": u.origin}
                   for u in uses}
        if outside:
            regions["L2"]["outside_plan"] = outside
        with open(os.path.join(os.path.dirname(elf), "regions.json"), "w") as f:
            json.dump(regions, f, indent=1)
        return 0

    return env_action(action, f"  SIZE  memory regions of {t.name}")


def _finish_l3_action():
    def action(target, source, env):  # noqa: ARG001
        from .l3image import L3ImageError, finish_elf

        try:
            n = finish_elf(str(target[0]), RISCV_PREFIX + "objcopy")
        except L3ImageError as e:
            os.remove(str(target[0]))
            print(f"scons: *** {e}", file=sys.stderr)
            return 1
        if n:
            print(f"  L3    {n} bytes in .l3 (size and CRC-32 in .l3_meta), not loadable: the "
                  "runner places them in HyperFlash or HyperRAM")
        return 0

    return env_action(action, None)


def _run_qemu_loaded(build: Build, prog: str):
    """qemu starts the serial bootloader, tools/flash.py's serial runner loads ``prog`` over the
    UART socket, and the harness reads the log to its end. Returns (exit code, result, lines)."""
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    from runners.base import FlashError
    from runners.image import ImageError, load_image
    from runners.monitor import monitor
    from runners.serial import flash_port

    from .qemu import QemuBoard

    try:
        image = load_image(prog)
    except ImageError as e:
        raise RuntimeError(str(e)) from None
    board = QemuBoard(timeout=build.timeout, loader=build.boot_elf)
    with board.start(None, extra_args=build.runargs.split()) as session:
        try:
            flash_port(session.serial, image, progress=sys.stderr.isatty())
        except FlashError as e:
            raise RuntimeError(f"loading {prog} through {build.boot_elf} failed: {e}") from None
        from .samplelink import feeder_for
        feeder = feeder_for(prog, session.serial.write)
        result, lines = monitor(session.serial, build.timeout, echo=_echo(build, prog),
                                idle=build.idle, meter=session.cpu_seconds, on_record=feeder)
        _say_link(feeder)
        code = result.exit_code
        if result.status == "done":  # the finisher's status is the authoritative exit code
            qcode = session.wait(timeout=10)
            if qcode is not None and qcode != code:
                print(f"scons: *** qemu exited with {qcode}, the log says {code}", file=sys.stderr)
                code = qcode or code
    return code, result, lines


def _echo(build: Build, prog: str) -> bool:
    """run=1 mirrors the device log on the console with verbose=1, and for hand-written apps
    (a few dozen lines); a generated training program (thousands of @perf and @tensor lines)
    shows a progress line instead (the log is in run.log either way)."""
    return build.verbose or not os.path.exists(
        os.path.join(os.path.dirname(os.path.abspath(prog)), "memplan.json"))


def _say_link(feeder) -> None:
    """The samples a run sent over the link, if it asked for any (et.samplelink)."""
    if feeder is not None:
        from .samplelink import summary
        print(summary(feeder))


def _run_host(build: Build, prog: str):
    """The native program, its stdout read by the harness as a board's UART would be."""
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    from runners.monitor import monitor_group

    from .procgroup import ProcessGroup

    from .samplelink import SampleFeeder, samples_for
    link = samples_for(prog)
    group = ProcessGroup([os.path.abspath(prog)], stdout=subprocess.PIPE,
                         stdin=subprocess.PIPE if link else subprocess.DEVNULL)

    def write(data: bytes) -> None:
        group.proc.stdin.write(data)
        group.proc.stdin.flush()

    feeder = SampleFeeder(link, write) if link else None
    result, lines = monitor_group(group, build.timeout, echo=_echo(build, prog),
                                  idle=build.idle, on_record=feeder)
    _say_link(feeder)
    code = group.proc.returncode if result.status == "done" else result.exit_code
    return code, result, lines


def _run_gvsoc(build: Build, prog: str):
    """GVSoC's Siracusa model runs the ELF (tools/runners/gvsoc.py); the harness reads its
    stdout to the end. Returns (exit code, result, lines)."""
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    from runners import gvsoc
    from runners.base import FlashError

    from .samplelink import samples_for
    if samples_for(prog):
        raise RuntimeError(f"{prog} asks for its samples over the serial link (sample_source "
                           "link), and the gvsoc runner has no way to send them: bundle them "
                           "(sample_source image) or run it on the qemu board or a board")
    try:
        group = gvsoc.start(prog, os.path.join(os.path.dirname(prog), "gvsoc"), build.gvsoc or None)
    except FlashError as e:
        raise RuntimeError(str(e)) from None
    result, lines = gvsoc.run_monitored(group, build.timeout, echo=_echo(build, prog),
                                        idle=build.idle)
    code, rc = result.exit_code, group.proc.returncode
    if result.status == "done" and rc not in (None, code):
        print(f"scons: *** gvsoc exited with {rc}, the log says {code}", file=sys.stderr)
        code = rc or code
    return code, result, lines


CONSOLE_ROWS = 15   # layer rows run=1 prints (the ones with the most cycles; report.txt: all)


def run_action(build: Build):
    """The action behind run=1: run on host or on the qemu board, save the log, print the
    harness report and write it (JSON, text, PNG plots) into build/<target>/<app>/report/."""
    def action(target, source, env):  # noqa: ARG001
        from .report import format_report, perf_table, write_report

        prog = str(source[0])
        outdir = os.path.dirname(prog)
        try:
            run = {"native": _run_host, "qemu": _run_qemu_loaded, "gvsoc": _run_gvsoc}[build.runner]
            code, result, lines = run(build, prog)
        except (RuntimeError, FileNotFoundError) as e:  # qemu or the load failed: no report
            print(f"scons: *** {e}", file=sys.stderr)
            return 2
        logpath = os.path.join(outdir, "run.log")
        with open(logpath, "w") as f:
            f.write("\n".join(lines) + "\n")
        plan_path = os.path.join(outdir, "memplan.json")
        memplan = None
        if os.path.exists(plan_path):
            with open(plan_path) as f:
                memplan = json.load(f)
        rep = write_report(result, os.path.join(outdir, "report"), memplan=memplan)
        percore = perf_table(result.state)
        with open(os.path.join(outdir, "report", "percore.txt"), "w") as f:
            f.write(percore + "\n")
        if len(result.of_type("perf")) <= PERCORE_CONSOLE_MAX:
            print(percore + "\n")
        print(format_report(rep, max_rows=CONSOLE_ROWS))
        if memplan is not None and build.target.l3_bytes_per_cycle[0]:
            from .report import hyperram_lines

            lines_l3 = hyperram_lines(rep, memplan)
            if lines_l3:
                print("\n".join(lines_l3))
                with open(os.path.join(outdir, "report", "report.txt"), "a") as f:
                    f.write("\n".join(lines_l3) + "\n")
        meta_path = os.path.join(outdir, "meta.json")
        if os.path.exists(meta_path) and result.status == "done":   # a generated training program
            from .onnxexport import from_run
            print(from_run(meta_path, lines, os.path.join(outdir, "report", "adapted.onnx")))
        print(f"log: {logpath}")
        print("report: " + ", ".join(os.path.join(outdir, "report", f) for f in rep["files"] + ["percore.txt"]))
        if code == 0 and result.status != "done":
            print(f"scons: *** the run ended without its @done record ({result.status})")
            return 3
        if result.status in ("timeout", "inactive"):  # which limit, and how far it got
            print(f"scons: *** {build.program_name} was stopped (exit code {code}): "
                  f"{result.stop_reason}; it had reached {result.reached} (log: {logpath})")
        elif code != 0:   # the cause on scons's own error line, not only in run.log
            print(f"scons: *** {build.program_name} ended with exit code {code} ({result.status}; "
                  f"log: {logpath})")
        return code

    return env_action(action, f"  RUN   {build.program_name} on {build.target.name}")


__all__ = ["TARGETS", "Build", "BuildConfigError", "configure", "build_app", "run_action"]
