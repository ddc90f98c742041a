#!/usr/bin/env python3
"""Load an ELF onto a board and start it.

    python tools/flash.py [--runner serial|openocd] --port PORT [--monitor] ELF

``serial`` (the default) talks to the EdgeTune serial bootloader (docs/boot-protocol.md) over
a serial port or URL (``/dev/ttyUSB0``, ``COM3``, ``socket://host:port``, ``rfc2217://...``);
``openocd`` loads over JTAG. This script only parses the arguments and dispatches to the
runner (tools/runners/). Exit code 0 only when the image was loaded, verified and started
(with ``--monitor``: the program's exit code); non-zero with a message otherwise.
"""
import argparse
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from runners.base import FlashError, add_common_args, check_common_args, get_runner, runner_names  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: common options plus every runner's own."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runner", default="serial", choices=runner_names(),
                    help="flashing method (default serial)")
    ap.add_argument("-v", "--verbose", action="store_true", help="log the session")
    add_common_args(ap)
    for name in runner_names():
        try:
            cls = get_runner(name)
        except FlashError:
            continue  # its dependencies are missing; reported if it is chosen
        cls.add_args(ap.add_argument_group(f"{name} runner"))
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="flash: %(message)s", stream=sys.stderr)
    try:
        runner = get_runner(args.runner)
        check_common_args(runner, args)
        return runner.create(args).run(args.elf)
    except FlashError as e:
        print(f"flash: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("flash: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
