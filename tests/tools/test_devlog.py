"""Device-log parser: records, free text, malformed lines and the run sentinels."""
from et.devlog import parse_line, parse_lines


def test_record_fields():
    r = parse_line("@perf layer=dot phase=fwd core=3 cycles=4742 instret=4700 flop=2048")
    assert r.type == "perf"
    assert r["layer"] == "dot" and r.int("core") == 3 and r.int("flop") == 2048
    assert parse_line("@loss step=2 value=2.30258512").float("value") == 2.30258512


def test_free_text_and_malformed_lines_are_not_records():
    for line in ("core 1 of 8 reporting", "", "@", "@perf core=1 oops", "x@done code=0",
                 "@Perf core=1", "@perf core=1 cycles"):
        assert parse_line(line) is None, line


def test_carriage_return_tolerated():
    assert parse_line("@done code=0\r").int("code") == 0


def test_sentinels():
    s = parse_lines(["boot noise", "@start app=a target=qemu cores=8 perf=qemu-icount log=1",
                     "@done code=3"])
    assert s.started and s.finished and s.exit_code == 3 and s.fault is None
    f = parse_lines(["@start app=a", "@fault cause=0x00000002 epc=0x80000010 tval=0x0 core=1"])
    assert f.finished and f.exit_code is None and f.fault["epc"] == "0x80000010"
