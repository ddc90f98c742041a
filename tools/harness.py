#!/usr/bin/env python3
"""Read a device log (saved file, serial port or a run on the qemu board), print its report and
exit with the run's result (the @done code; 134 fault, 124 timeout, 125 truncated log; 2 usage).

    python tools/harness.py --log build/qemu/hello/run.log [--out DIR] [--json FILE]
    python tools/harness.py --port /dev/ttyUSB0 [--baud 115200] [--timeout S] [--freq-mhz F]
    python tools/harness.py --qemu build/qemu/hello/hello.elf --out build/qemu/hello/report
"""
import argparse
import json
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from et.harness import DEFAULT_INACTIVITY, DEFAULT_TIMEOUT, Harness, file_source, serial_source  # noqa: E402
from et.report import SIRACUSA_CLUSTER_MHZ, jsonable, build_report, format_report, write_report  # noqa: E402

EXIT_USAGE = 2


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--log", metavar="FILE", help="a saved console log")
    src.add_argument("--port", metavar="URL",
                     help="serial port for pyserial's serial_for_url (/dev/ttyUSB0, COM3, "
                          "socket://host:port, rfc2217://host:port)")
    src.add_argument("--qemu", metavar="ELF", help="run an ELF on the qemu board and follow it")
    ap.add_argument("--baud", type=int, default=115200, help="baud rate for --port (115200)")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                    help=f"seconds for the whole run ({DEFAULT_TIMEOUT:g})")
    ap.add_argument("--idle-timeout", type=float, default=DEFAULT_INACTIVITY,
                    help=f"the idle limit: seconds without output before giving up (--qemu: "
                         f"seconds of qemu's CPU time; {DEFAULT_INACTIVITY:g}; 0: off)")
    ap.add_argument("--freq-mhz", type=float, default=SIRACUSA_CLUSTER_MHZ,
                    help=f"cluster clock for time and images/s ({SIRACUSA_CLUSTER_MHZ:g}, Siracusa)")
    ap.add_argument("--out", metavar="DIR", help="write report.json, report.txt and the PNG plots here")
    ap.add_argument("--json", metavar="FILE", help="write the report's JSON to this file")
    echo = ap.add_mutually_exclusive_group()
    echo.add_argument("--echo", action="store_true", default=None,
                      help="mirror the console (default for --port and --qemu)")
    echo.add_argument("--quiet", action="store_false", dest="echo", help="do not mirror the console")
    ap.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    ap.add_argument("-v", "--verbose", action="store_true", help="log every dropped line")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(name)s: %(levelname)s: %(message)s")
    if args.freq_mhz <= 0:
        ap.error("--freq-mhz must be positive")
    echo_on = args.echo if args.echo is not None else args.log is None
    harness = Harness(timeout=args.timeout, echo=echo_on, progress=not args.no_progress,
                      inactivity=args.idle_timeout or None)
    try:
        if args.log:
            result = harness.run(file_source(args.log))
        elif args.port:
            reader = serial_source(args.port, baudrate=args.baud)
            try:
                result = harness.run(reader)
            finally:
                reader.close()
        else:
            from et.qemu import QemuBoard

            with QemuBoard(timeout=args.timeout, echo=False).start(args.qemu) as session:
                harness.meter = session.cpu_seconds  # the idle limit in qemu's CPU seconds
                result = harness.run(session.read_line)
    except (OSError, RuntimeError, ValueError) as e:  # missing file, port that will not open
        print(f"harness: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("harness: interrupted", file=sys.stderr)
        return 130

    if args.out:
        rep = write_report(result, args.out, freq_mhz=args.freq_mhz)
        print(f"report: {', '.join(os.path.join(args.out, f) for f in rep['files'])}", file=sys.stderr)
    else:
        rep = build_report(result, freq_mhz=args.freq_mhz)
    print(format_report(rep))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(jsonable({k: v for k, v in rep.items() if k != "files"}), f, indent=1,
                      allow_nan=False, default=str)
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
