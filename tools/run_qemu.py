#!/usr/bin/env python3
"""Run an ELF on the simulated board (qemu virt, 8 harts, -icount) and exit with its exit code.

    python tools/run_qemu.py build/qemu/hello/hello.elf [--timeout S] [--quiet]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from et.qemu import QemuBoard  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("elf")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds (default 600)")
    ap.add_argument("--quiet", action="store_true", help="do not mirror the console")
    args = ap.parse_args()
    try:
        res = QemuBoard(timeout=args.timeout, echo=not args.quiet).run_elf(args.elf)
    except (RuntimeError, FileNotFoundError) as e:
        print(f"run_qemu: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return res.exit_code


if __name__ == "__main__":
    sys.exit(main())
