"""Samples over the serial link (GenSpec sample_source="link", sdk/runtime/et_link.c,
tools/et/samplelink.py): the device asks for each training sample and receives it in CRC-checked
blocks. Training on streamed samples must give exactly what training on bundled ones gives (the
numpy reference), on host, on qemu and on qemu through the fault proxy (flipped, dropped and
duplicated bytes both ways: no sample lost or corrupted unnoticed)."""
from __future__ import annotations

import os
import struct
import zlib

import numpy as np
import pytest

from codegen_helpers import build_train_app, check_against_reference, reference_run, small_cct
from et.compiler.codegen import LINK_SAMPLES, GenSpec
from et.compiler.ir import CompileError
from et.compiler.trainrun import parse_log, run_training
from et.devlog import Record
from et.samplelink import BLOCK, LinkError, SampleFeeder, blocks, missing


@pytest.fixture(scope="module")
def cct(tmp_path_factory):
    return small_cct(str(tmp_path_factory.mktemp("link")))


def spec_for(cct, target: str, steps: int = 3) -> GenSpec:
    path, data = cct
    return GenSpec(model=path, data=data, strategy="lora:r=2", lr=0.05, momentum=0.9, batch=2,
                   steps=steps, target=target, grads=True, sample_source="link")


def test_block_format():
    data = bytes(range(150))
    out = blocks(7, data)
    assert out.count(b"ETS1") == 3            # 64 + 64 + 22 bytes
    head = out[4:12]
    assert struct.unpack("<IHH", head) == (7, 0, BLOCK)
    assert out[12:12 + BLOCK] == data[:BLOCK]
    assert struct.unpack("<I", out[12 + BLOCK:16 + BLOCK])[0] == zlib.crc32(head + data[:BLOCK])
    last = blocks(7, data, [2])
    assert struct.unpack("<IHH", last[4:12]) == (7, 2, 22) and last[12:34] == data[128:]
    assert missing("05", 3) == [0, 2] and missing("0001", 10) == [8]


def test_feeder_refuses_what_it_cannot_send(tmp_path):
    path = str(tmp_path / LINK_SAMPLES)
    np.savez(path, input=np.zeros((3, 4), np.float32), label=np.arange(3, dtype=np.int32))
    sent = []
    feeder = SampleFeeder(path, sent.append)
    feeder(Record("need", {"idx": "1", "bytes": "20", "try": "1"}))
    assert len(sent) == 1 and sent[0].count(b"ETS1") == 1
    feeder(Record("need", {"idx": "1", "bytes": "20", "try": "2", "miss": "01"}))
    assert feeder.retries == 1 and feeder.requests == 2
    with pytest.raises(LinkError, match="sample 3; the host has 3"):
        feeder(Record("need", {"idx": "3", "bytes": "20", "try": "1"}))
    with pytest.raises(LinkError, match="asked for 24 bytes of sample 0; it has 20"):
        feeder(Record("need", {"idx": "0", "bytes": "24", "try": "1"}))
    with pytest.raises(LinkError, match="malformed miss= bitmap"):
        feeder(Record("need", {"idx": "0", "bytes": "20", "try": "2", "miss": "zz"}))


def test_bad_sample_source_is_named(cct):
    path, data = cct
    with pytest.raises(CompileError, match="sample_source 'usb'"):
        run_training(GenSpec(model=path, data=data, sample_source="usb", target="host"), "")


def test_host_streamed_samples_match_reference(cct):
    spec = spec_for(cct, "host")
    res = run_training(spec, "")
    check_against_reference(spec, res["arrays"])
    log = open(res["log"]).read()
    assert log.count("try=1 ") == spec.steps * spec.batch   # one request per sample
    gen = os.path.dirname(res["log"])
    assert os.path.exists(os.path.join(gen, LINK_SAMPLES))


@pytest.mark.qemu
@pytest.mark.parametrize("seed,directions", [(3, "up"), (4, "both")])
def test_qemu_streamed_samples_through_faults(cct, scons, seed, directions):
    """Faults on 0.3% of the bytes while the samples stream: host -> device ("up": blocks hit)
    or both ways (requests hit too, and the log). The proxy is switched off after the last
    step. Blocks and requests are lost and corrupted on the way, and still the training is the
    reference's: the trained tensors (up; they come back clean) or every step's loss that
    arrived sealed (both; a record the link changed is dropped, never read)."""
    from et.faultproxy import FaultProxy
    from et.qemu import QemuBoard
    from runners.monitor import monitor
    from runners.serial import open_port

    spec = spec_for(cct, "qemu", steps=2)
    elf = build_train_app(spec, scons)
    with QemuBoard(timeout=300, echo=False).start(elf) as s, \
            FaultProxy(s.serial, seed=seed, rate=0.003, directions=directions) as px:
        port = open_port(px.url, 115200)
        feeder = SampleFeeder(os.path.join(os.path.dirname(elf), LINK_SAMPLES), port.write)

        def on_record(rec):
            feeder(rec)
            if rec.type == "loss" and rec.int("step") == spec.steps:
                px.enabled = False

        try:
            res, lines = monitor(port, 300, echo=False, idle=120, on_record=on_record)
        finally:
            port.close()
        faults = px.counts.total
    assert res.exit_code == 0, lines[-5:]
    assert faults > 0 and feeder.retries > 0, (faults, feeder.retries)
    ref = reference_run(spec)
    if directions == "up":
        arrays = parse_log(lines)["tensors"]
        for p in ref["trainable"]:
            np.testing.assert_allclose(arrays[p], ref["params"][p].reshape(-1), rtol=1e-5,
                                       atol=1e-6)
    losses = {r.int("step"): float(r.fields["value"]) for r in res.of_type("loss")}
    assert losses, "no @loss arrived"
    for step, value in losses.items():
        assert abs(value - ref["loss"][step - 1]) <= 1e-5 * abs(ref["loss"][step - 1])


@pytest.mark.qemu
def test_flash_monitor_answers_the_programs_requests(cct, scons):
    """tools/flash.py --monitor loads a link program through the bootloader and serves its
    samples from the link_samples.npz beside the ELF; a --samples file that is not there, or
    that lacks a sample the program asks for, is one line, exit 2."""
    import subprocess
    import sys

    from et.qemu import QemuBoard

    spec = spec_for(cct, "qemu", steps=1)
    elf = build_train_app(spec, scons)
    boot = os.path.join(os.path.dirname(elf), "boot", "boot.elf")
    flash = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), "tools", "flash.py")
    few = os.path.join(os.path.dirname(elf), "one_sample.npz")
    with np.load(os.path.join(os.path.dirname(elf), LINK_SAMPLES)) as d:
        np.savez(few, input=d["input"][:1], label=d["label"][:1])
    for extra, code, said in (([], 0, "2 samples sent over the serial link"),
                              (["--samples", "/nonexistent.npz"], 2,
                               "--samples /nonexistent.npz: no such file"),
                              (["--samples", few], 2, "the device asked for sample 1; the host "
                                                       "has 1")):
        with QemuBoard(timeout=120, echo=False, loader=boot).start(None) as s:
            port = s.port
            s.serial.close()  # flash.py opens the socket itself
            r = subprocess.run([sys.executable, flash, "--port", f"socket://127.0.0.1:{port}",
                                "--monitor", "--timeout", "120", "--no-progress", *extra, elf],
                               capture_output=True, text=True, timeout=300)
        assert r.returncode == code, r.stdout[-2000:] + r.stderr[-2000:]
        assert "Traceback" not in r.stderr and said in r.stderr, r.stderr[-2000:]
        if code == 0:
            assert "@done code=0" in r.stdout
