"""Serial-log harness and report: real qemu logs, hand-written training logs, corrupted variants.

data/hello_qemu.log is apps/hello's console captured from `scons target=qemu app=hello run=1`;
data/train_*.log are hand-written in the device log format. The corrupted variants are made
from them here (flipped bytes, lines cut or run together, garbage, CRLF, missing end, fault).
"""
import io
import json
import os
import random
import subprocess
import sys
import time

import pytest

from et_testutil import ROOT, TOOLS
from et.devlog import parse_lines, scan_line
from et.harness import (EXIT_FAULT, EXIT_TIMEOUT, EXIT_TRUNCATED, Harness, done_exit_code,
                        file_source, lines_source, serial_source, split_log_bytes)
from et.report import build_report, format_report, perf_table, write_report

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
HELLO = os.path.join(DATA, "hello_qemu.log")
CUMUL = os.path.join(DATA, "train_cumulative.log")
STEPS = os.path.join(DATA, "train_steps.log")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _run_bytes(data: bytes, tmp_path, **kw):
    """Harness over a log given as bytes, read through the file source."""
    path = tmp_path / "log.txt"
    path.write_bytes(data)
    kw.setdefault("echo", False)
    kw.setdefault("progress", False)
    return Harness(**kw).run(file_source(str(path)))


def _perf(res):
    return [(r["layer"], r["phase"], r.int("core"), r.int("cycles"), r.int("instret"))
            for r in res.of_type("perf")]


def _clean(path: str):
    return Harness(echo=False, progress=False).run(file_source(path))


# --- the real log -------------------------------------------------------------------------------
def test_real_hello_log():
    res = _clean(HELLO)
    assert (res.status, res.exit_code, res.done_code) == ("done", 0, 0)
    assert res.dropped == 0 and res.recovered == 0 and res.fault is None
    ref = parse_lines(_bytes(HELLO).decode().splitlines())
    assert [r.fields for r in res.records] == [r.fields for r in ref.records]
    dot = [r for r in res.of_type("perf") if r["layer"] == "dot"]
    assert sorted(r.int("core") for r in dot) == list(range(8))
    assert res.text_lines == 8  # "core i of 8 reporting"


def test_report_of_real_hello_log():
    rep = build_report(_clean(HELLO), freq_mhz=370)
    dot = next(r for r in rep["layers"] if (r["layer"], r["phase"]) == ("dot", "fwd"))
    # by hand from the log: 8 cores x (4742 cycles, 4742 instret, 2048 FLOP, 8192 B DMA in)
    assert dot["cycles"] == 4742 and dot["measurements"] == 1 and dot["cores"] == 8
    assert dot["instret_max"] == 4742 and dot["instret_sum"] == 8 * 4742
    assert dot["flop"] == 8 * 2048 and dot["dma_bytes"] == 8 * 8192
    assert dot["flop_per_cycle"] == pytest.approx(16384 / 4742)
    assert rep["step"]["images_per_s"] is None  # hello is not a training run
    assert [m["level"] for m in rep["memory"]] == ["L1", "L2", "L3"]
    assert rep["memory"][0]["cap"] == 262144 and rep["memory"][0]["peak"] is None
    assert rep["results"] == [{"name": "dot", "ok": True, "value": "1.875", "ref": "1.875"}]
    text = format_report(rep)
    assert "images/s at 370 MHz: n/a" in text and "dot" in text and "4,742" in text
    assert "makespan 4742 cycles on 8 core(s)" in perf_table(parse_lines(open(HELLO).read().splitlines()))


# --- hand-written training logs: numbers checked by hand ------------------------------------------
def test_training_report_cumulative_counters(tmp_path):
    res = _clean(CUMUL)
    assert res.exit_code == 0 and res.dropped == 0
    rep = write_report(res, str(tmp_path / "rep"), freq_mhz=100)
    rows = {(r["layer"], r["phase"]): r for r in rep["layers"]}
    assert list(rows) == [("conv1", "fwd"), ("conv1", "bwd"), ("conv1", "update"),
                          ("fc", "fwd"), ("fc", "bwd"), ("fc", "update")]
    c1f = rows["conv1", "fwd"]
    assert (c1f["cycles"], c1f["instret_max"], c1f["instret_sum"], c1f["flop"], c1f["dma_bytes"]) \
        == (1200, 1100, 2000, 8000, 4096)
    assert c1f["flop_per_cycle"] == pytest.approx(8000 / 1200)
    c1b = rows["conv1", "bwd"]
    assert (c1b["cycles"], c1b["dma_in"], c1b["dma_out"], c1b["flop_per_cycle"]) == (2000, 2048, 2048, 8.0)
    assert rows["fc", "bwd"]["cycles"] == 1000 and rows["fc", "bwd"]["instret_sum"] == 1800
    ph = rep["phases"]
    assert list(ph) == ["fwd", "bwd", "update"]
    assert (ph["fwd"]["cycles"], ph["bwd"]["cycles"], ph["update"]["cycles"]) == (1700, 3000, 400)
    assert (ph["fwd"]["flop"], ph["bwd"]["flop"], ph["update"]["flop"]) == (10000, 20000, 1400)
    assert rep["total"]["cycles"] == 5100 and rep["total"]["dma_bytes"] == 9728
    st = rep["step"]
    assert (st["steps"], st["batch"], st["steps_measured"]) == (4, 8, 4)
    assert st["cycles_per_step"] == pytest.approx(1275)
    assert st["images_per_s"] == pytest.approx(8 * 100e6 / 1275)  # 627,450.98
    mem = {m["level"]: m for m in rep["memory"]}
    assert mem["L1"]["peak"] == 65536 and mem["L1"]["used_pct"] == pytest.approx(25.0)
    assert mem["L3"]["peak"] is None and mem["L3"]["used"] == 0
    assert [p["value"] for p in rep["loss"]] == [2.5, 2.0, 1.5, 1.25]
    # the default clock: Siracusa's cluster
    assert build_report(res)["step"]["images_per_s"] == pytest.approx(8 * 370e6 / 1275)


def test_training_report_per_step_counters():
    res = _clean(STEPS)
    rep = build_report(res, freq_mhz=100)
    rows = {r["phase"]: r for r in rep["layers"]}
    assert {p: rows[p]["measurements"] for p in rows} == {"fwd": 3, "bwd": 3, "update": 3}
    assert (rows["fwd"]["cycles"], rows["fwd"]["instret_max"], rows["fwd"]["instret_sum"]) == (330, 285, 565)
    assert (rows["bwd"]["cycles"], rows["bwd"]["instret_max"], rows["bwd"]["instret_sum"]) == (630, 600, 1175)
    assert (rows["update"]["cycles"], rows["update"]["flop"]) == (160, 96)
    st = rep["step"]
    assert (st["steps"], st["batch"], st["steps_measured"]) == (3, 4, 3)
    assert st["cycles_per_step"] == pytest.approx(1120 / 3)
    assert st["images_per_s"] == pytest.approx(4 * 100e6 / (1120 / 3))  # 1,071,428.57
    text = format_report(rep)
    assert "trained images/s at 100 MHz: 1071428.57" in text
    assert "loss: 3 values, first 1 (step 1), last 0.5 (step 3)" in text
    # a time or a rate built on qemu's instruction counts says so where it is printed
    for source, tagged in (("qemu-icount", True), ("mcycle", False)):
        lines = format_report(dict(rep, perf_source=source)).splitlines()
        timed = [ln for ln in lines if ln.startswith(("per step:", "trained images/s"))]
        assert len(timed) == 2
        assert all(("IPC = 1 estimate" in ln) == tagged for ln in timed), (source, timed)


def test_layer_in_chunks_within_a_step_sums_its_chunks():
    """A layer run in chunks (a streamed SGD update) logs one record per core and chunk with the
    same step=: every chunk is a measurement of its own, so cycles and FLOP add up."""
    log = ["@start app=t target=qemu cores=2 perf=qemu-icount log=1", "@train steps=1 batch=1"]
    for chunk, cyc in enumerate((100, 120, 80)):
        log.append(f"@perf layer=upd phase=update step=1 core=0 cycles={cyc} instret={cyc} flop=10")
        log.append(f"@perf layer=upd phase=update step=1 core=1 cycles={cyc - 1} instret=5")
    log.append("@done code=0")
    res = Harness(echo=False, progress=False).run(lines_source(log))
    (row,) = build_report(res)["layers"]
    assert (row["measurements"], row["cycles"], row["instret_sum"], row["flop"]) == (3, 300, 315, 30)
    assert build_report(res)["step"]["cycles_per_step"] == 300


def test_report_files(tmp_path):
    out = tmp_path / "report"
    memplan = {"nodes": [{"index": 0, "phase": "fwd", "layer": "conv1", "op": "conv2d"},
                         {"index": 1, "phase": "bwd", "layer": "conv1", "op": "conv2d"}],
               "tensors": [{"name": "a", "kind": "act", "level": "L2", "size": 4096, "first": 0,
                            "last": 1, "buffer": "a"}],
               "totals": {"L2": {"capacity": 65536, "reserve": 8192, "persistent": 1024,
                                 "arena": 4096}, "L3": {"arena": 0, "persistent": 0}}}
    rep = write_report(_clean(CUMUL), str(out), freq_mhz=100, memplan=memplan)
    plots = ("cycles_breakdown.png", "cycles_per_layer.png", "loss.png", "memory.png")
    assert sorted(rep["files"]) == sorted(plots + ("report.json", "report.txt"))
    for name in plots:
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000, name
        import matplotlib.image

        assert matplotlib.image.imread(str(out / name)).shape[0] > 200  # decodes as an image
    js = json.loads((out / "report.json").read_text())
    assert js["app"] == "lenet" and js["cores"] == 2 and js["freq_mhz"] == 100
    assert js["run"]["status"] == "done" and js["run"]["exit_code"] == 0
    assert js["total"]["cycles"] == 5100 and js["step"]["batch"] == 8
    assert js["step"]["images_per_s"] == pytest.approx(627450.98, rel=1e-6)
    assert len(js["layers"]) == 6 and js["loss"][-1] == {"step": 4, "value": 1.25}
    assert "trained images/s" in (out / "report.txt").read_text()
    # no @loss: no loss.png; the cycles plot is still there
    rep = write_report(_clean(HELLO), str(tmp_path / "hello"))
    assert "loss.png" not in rep["files"] and (tmp_path / "hello" / "cycles_per_layer.png").exists()


def test_nan_loss_is_strict_json(tmp_path):
    lines = ["@start app=x", "@train steps=2 batch=1", "@loss step=1 value=1.5",
             "@loss step=2 value=nan", "@done code=0"]
    res = Harness(echo=False, progress=False).run(lines_source(lines))
    write_report(res, str(tmp_path))
    js = json.loads((tmp_path / "report.json").read_text())
    assert js["loss"][1]["value"] == "nan" and (tmp_path / "loss.png").exists()


# --- corrupted variants --------------------------------------------------------------------------
def test_crlf_same_as_lf(tmp_path):
    clean = _clean(HELLO)
    res = _run_bytes(_bytes(HELLO).replace(b"\n", b"\r\n"), tmp_path)
    assert res.exit_code == 0 and res.dropped == 0 and _perf(res) == _perf(clean)


def test_flipped_byte_drops_only_that_record(tmp_path):
    data = bytearray(_bytes(HELLO))
    i = data.index(b"core=3 cycles=4742") + len("core=3 cycles=47")
    data[i] = 0xFF  # not UTF-8, not a digit
    res = _run_bytes(bytes(data), tmp_path)
    assert res.exit_code == 0 and res.dropped == 1
    dot = [r.int("core") for r in res.of_type("perf") if r["layer"] == "dot"]
    assert dot == [0, 1, 2, 4, 5, 6, 7]
    assert "\ufffd" in res.dropped_lines[0]


def test_line_cut_in_half_and_run_together(tmp_path):
    # the newline and the tail of core 2's record are lost: the line holds half a record
    # followed by core 3's whole record
    text = _bytes(HELLO).decode()
    a = text.index("@perf layer=dot phase=fwd core=2")
    cut = text[:a + 25] + text[text.index("@perf layer=dot phase=fwd core=3"):]
    res = _run_bytes(cut.encode(), tmp_path)
    assert res.exit_code == 0 and res.dropped == 1
    assert [r.int("core") for r in res.of_type("perf") if r["layer"] == "dot"] == [0, 1, 3, 4, 5, 6, 7]


def test_garbage_inserted(tmp_path):
    rng = random.Random(5)
    lines = _bytes(HELLO).split(b"\n")
    out = []
    for ln in lines:
        out.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40))).replace(b"\n", b"."))
        out.append(ln)
    out.insert(12, b"\x00\x00\xff@@@ @perf core= @done code")  # a garbled record start
    out[1] = b"\x1b[0m\x00boot>" + out[1]  # noise before a record (@start) on the same line
    res = _run_bytes(b"\n".join(out), tmp_path)
    clean = _clean(HELLO)
    assert res.exit_code == 0 and _perf(res) == _perf(clean)
    assert res.recovered >= 1 and res.dropped >= 1


def test_missing_done_is_truncated(tmp_path):
    data = _bytes(HELLO).replace(b"@done code=0\n", b"")
    res = _run_bytes(data, tmp_path)
    assert (res.status, res.exit_code) == ("truncated", EXIT_TRUNCATED)
    assert len(res.of_type("perf")) == len(_clean(HELLO).of_type("perf"))


def test_stops_mid_line(tmp_path):
    text = _bytes(HELLO)
    data = text[:text.index(b"core=5 cycles=4742") + len(b"core=5 cycles=47")]
    res = _run_bytes(data, tmp_path)
    assert res.exit_code == EXIT_TRUNCATED and res.dropped == 1
    # the cut record would parse with cycles=47: it must not be kept
    assert [r.int("core") for r in res.of_type("perf")] == [0, 1, 2, 3, 4]
    assert any("unterminated" in w for w in res.warnings)


def test_fault(tmp_path):
    text = _bytes(HELLO).decode()
    i = text.index("@mem")
    data = text[:i] + "@fault cause=0x00000005 epc=0x80001234 tval=0x0 core=2\nregs: ...\n"
    res = _run_bytes(data.encode(), tmp_path)
    assert (res.status, res.exit_code) == ("fault", EXIT_FAULT)
    assert res.fault["epc"] == "0x80001234" and len(res.of_type("perf")) == 16
    assert res.lines == data[:data.index("regs")].count("\n")  # stops reading at the fault
    garbled = _run_bytes(data.replace("tval=0x0", "tval=0x\xff\xfe").encode("latin-1"), tmp_path)
    assert garbled.exit_code == EXIT_FAULT  # a crash report hit by noise is still a crash


def test_done_codes(tmp_path):
    for code, want in ((0, 0), (3, 3), (-1, 255), (256, 1), (512, 1), (300, 44)):
        res = Harness(echo=False, progress=False).run(lines_source([f"@done code={code}"]))
        assert res.exit_code == want == done_exit_code(code) and res.done_code == code


def test_restart_discards_earlier_run():
    lines = ["@start app=a", "@perf layer=x phase=fwd core=0 cycles=5 instret=5",
             "@start app=a", "@perf layer=x phase=fwd core=0 cycles=7 instret=7", "@done code=0"]
    res = Harness(echo=False, progress=False).run(lines_source(lines))
    assert res.restarts == 1 and [r.int("cycles") for r in res.of_type("perf")] == [7]
    assert any("restarted" in w for w in res.warnings)


def test_empty_log(tmp_path):
    res = _run_bytes(b"", tmp_path)
    assert res.exit_code == EXIT_TRUNCATED and "no output at all" in res.warnings


def test_random_corruption_never_crashes(tmp_path):
    """Seeded random flips, cuts, duplicated and deleted bytes over all fixtures: the harness and
    the report never raise, the exit code is one of the documented ones, and a run whose @done
    line survived intact ends with its code."""
    for path in (HELLO, CUMUL, STEPS):
        base = _bytes(path)
        for seed in range(60):
            rng = random.Random(seed)
            data = bytearray(base)
            for _ in range(rng.randrange(1, 12)):
                i = rng.randrange(len(data))
                op = rng.randrange(4)
                if op == 0:
                    data[i] ^= 1 << rng.randrange(8)
                elif op == 1:
                    del data[i]
                elif op == 2:
                    data[i:i] = data[i:i + rng.randrange(1, 30)]
                else:
                    data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 20)))
            if rng.random() < 0.3:
                data = data[:rng.randrange(len(data))]
            res = _run_bytes(bytes(data), tmp_path)
            assert res.exit_code in (0, 1, EXIT_FAULT, EXIT_TRUNCATED) or res.status == "done"
            if data.endswith(b"\n@done code=0\n") and b"@fault" not in data:
                assert res.exit_code == 0, (path, seed)
            rep = build_report(res)
            format_report(rep)
            json.dumps(rep, default=str)


def test_scan_line_rejects_suspicious_values():
    assert scan_line("@perf layer=a phase=fwd core=0 cycles=12 instret=3").record is not None
    for bad in ("@perf layer=a phase=fwd core=0 cycles=1x2 instret=3",    # digit hit by noise
                "@perf layer=a phase=fwd core=0 cycles=-12 instret=3",    # negative counter
                "@perf layer=a phase=fwd core=0 instret=3",               # field lost
                "@perf layer=a phase=fwd core=0 cycles=1 cycles=2 instret=3",
                "@loss step=1 value=0.5e",
                "@result name=x ok=2"):
        s = scan_line(bad)
        assert s.record is None and s.dropped == 1, bad


# --- timeouts and sources --------------------------------------------------------------------------
def _stalling(lines):
    """A live source that gives its lines, then nothing (sleeps out every timeout)."""
    it = iter(lines)

    def read_line(timeout):
        line = next(it, None)
        if line is None:
            time.sleep(timeout)
        return line
    return read_line


def test_overall_timeout():
    t = time.monotonic()
    res = Harness(timeout=0.4, inactivity=None, echo=False, progress=False).run(
        _stalling(["@start app=a", "@loss step=1 value=2"]))
    assert (res.status, res.exit_code) == ("timeout", EXIT_TIMEOUT)
    assert 0.35 < time.monotonic() - t < 2 and len(res.records) == 2


def test_inactivity_timeout():
    res = Harness(timeout=30, inactivity=0.3, echo=False, progress=False).run(
        _stalling(["@start app=a"]))
    assert (res.status, res.exit_code) == ("inactive", EXIT_TIMEOUT) and res.elapsed < 5


def test_serial_source_loop():
    """pyserial's loop:// port: CRLF line ends, noise, then the log (read until @done)."""
    import serial

    port = serial.serial_for_url("loop://", timeout=0.1)
    port.write(b"\xff\xfe boot\r\n" + _bytes(HELLO).replace(b"\n", b"\r\n"))
    res = Harness(timeout=10, inactivity=2, echo=False, progress=False).run(serial_source("", port=port))
    assert res.exit_code == 0 and _perf(res) == _perf(_clean(HELLO))
    port.write(b"@perf layer=a phase=fwd core=0 cyc")  # no @done, unterminated: dropped at the end
    res = Harness(timeout=10, inactivity=0.3, echo=False, progress=False).run(serial_source("", port=port))
    assert res.exit_code == EXIT_TIMEOUT and res.dropped == 1 and not res.records


def test_split_log_bytes():
    assert split_log_bytes(b"a\r\nb\rc\nd") == (["a", "b", "c"], b"d")


# --- progress and echo -------------------------------------------------------------------------------
class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_and_echo_streams():
    lines = open(STEPS).read().splitlines()
    prog, echo = io.StringIO(), io.StringIO()
    Harness(echo=True, progress=True, progress_every=0, echo_stream=echo,
            progress_stream=prog).run(lines_source(lines))
    assert echo.getvalue().splitlines() == lines
    text = prog.getvalue()
    assert "step 3/3, loss 0.5" in text and "records" in text and "exit code 0" in text
    assert "\r" not in text  # not a terminal: whole lines only
    tty = _Tty()
    Harness(echo=False, progress=True, progress_stream=tty).run(lines_source(lines))
    assert "\r\x1b[K" in tty.getvalue()
    quiet = io.StringIO()  # off a terminal a short run prints only its summary
    Harness(echo=False, progress=True, progress_stream=quiet).run(lines_source(lines))
    assert quiet.getvalue().count("\n") == 1


# --- the CLI ------------------------------------------------------------------------------------------
def _cli(*args):
    return subprocess.run([sys.executable, os.path.join(TOOLS, "harness.py"), *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_cli_log(tmp_path):
    res = _cli("--log", CUMUL, "--out", str(tmp_path / "r"), "--json", str(tmp_path / "x.json"),
               "--freq-mhz", "100")
    assert res.returncode == 0, res.stderr
    assert "trained images/s at 100 MHz: 627450.98" in res.stdout
    assert json.loads((tmp_path / "x.json").read_text())["total"]["cycles"] == 5100
    assert (tmp_path / "r" / "loss.png").read_bytes().startswith(PNG_MAGIC)
    bad = tmp_path / "bad.log"
    bad.write_bytes(_bytes(HELLO).replace(b"@done code=0\n", b""))
    assert _cli("--log", str(bad)).returncode == EXIT_TRUNCATED
    assert _cli("--log", str(tmp_path / "missing.log")).returncode == 2


@pytest.mark.qemu
def test_live_qemu_session(scons):
    """The harness on a live qemu session (the run=1 path reads the board the same way)."""
    from et.qemu import QemuBoard

    res = scons("target=qemu", "app=hello")
    assert res.returncode == 0, res.stdout + res.stderr
    elf = os.path.join(ROOT, "build", "qemu", "hello", "hello.elf")
    with QemuBoard(timeout=60, echo=False).start(elf) as session:
        out = Harness(timeout=60, echo=False, progress=False).run(session.read_line)
    assert (out.status, out.exit_code, out.dropped) == ("done", 0, 0)
    assert sorted(r.int("core") for r in out.of_type("perf") if r["layer"] == "dot") == list(range(8))
    assert build_report(out)["layers"][0]["cycles"] > 0


def test_block_and_op_type_of_a_layer():
    from et.report_plots import block_of, op_type
    assert block_of("/blocks.1/attn/q/MatMul/bwd_igrad") == "blocks.1"
    assert block_of("update/blocks.0.attn.v.lora_A") == "blocks.0"
    assert block_of("/layer3/layer3.0/conv1/Conv") == "layer3"
    assert block_of("/tokenizer/conv/conv.3/Conv") is None
    assert op_type("/blocks.0/fc1/MatMul/bwd_igrad", {"/blocks.0/fc1/MatMul/bwd_igrad": "linear"}) \
        == "linear"
    assert op_type("/blocks.0/attn/q/MatMul/lora_B/bwd_wgrad", {}) == "LoRA adapters"
    assert op_type("update/fc.weight", {}) == "SGD update"
    assert op_type("/blocks.0/act/Gelu_1/bwd_igrad", {}) == "Gelu"
