"""Sealed device logs (format 2, docs/devlog.md): every record ends with ` q=<seq> c=<crc32>`.
A record a noisy link changed is never used, a lost one is counted, one received twice is
dropped, and a verdict (`@done`, `@result ok=`) never rests on a changed record."""
from __future__ import annotations

import os

import pytest

from et_testutil import ROOT, run_scons

from et.compiler.trainrun import TrainError, parse_log  # noqa: E402
from et.devlog import BROKEN, SEALED, UNSEALED, parse_line, seal_text, unseal  # noqa: E402
from et.harness import EXIT_TRUNCATED, Harness, lines_source  # noqa: E402

RECORDS = ["@start app=t target=qemu cores=2 perf=qemu-icount log=2",
           "@train steps=2 batch=1",
           "@perf layer=fc phase=fwd step=1 core=0 cycles=100 instret=90 flop=50",
           "@loss step=1 value=2.5",
           "@loss step=2 value=1.5",
           "@result name=check ok=0 value=1 ref=2",
           "@done code=1"]


def sealed(records=RECORDS) -> list[str]:
    return [seal_text(r, q) for q, r in enumerate(records)]


def _run(lines):
    return Harness(timeout=5, inactivity=None, echo=False, progress=False).run(lines_source(lines))


def test_seal_round_trip_and_every_single_character_change_is_caught():
    line = seal_text("@result name=check ok=0 value=1 ref=2", 5)
    assert unseal(line) == ("@result name=check ok=0 value=1 ref=2", SEALED, 5)
    assert unseal("@done code=0") == ("@done code=0", UNSEALED, None)
    alphabet = "0123456789abcdefqc=@ .x"
    for i, ch in enumerate(line):
        for new in alphabet:
            if new == ch:
                continue
            changed = line[:i] + new + line[i + 1:]
            rec = parse_line(changed)
            assert rec is None or rec.seq is None and "q" not in rec.fields, changed
    flipped = line.replace("ok=0", "ok=1")
    assert unseal(flipped)[1] == BROKEN and parse_line(flipped) is None


def test_clean_sealed_log():
    res = _run(sealed())
    assert res.sealed and res.lost == 0 and res.dropped == 0
    assert (res.status, res.done_code) == ("done", 1)
    assert res.of_type("result")[0]["ok"] == "0"


def test_a_changed_verdict_is_never_a_pass():
    lines = sealed()
    lines[-1] = lines[-1].replace("code=1", "code=0")           # the @done changed on the way
    res = _run(lines)
    assert res.status == "truncated" and res.exit_code == EXIT_TRUNCATED and res.dropped == 1
    lines = sealed()
    lines[5] = lines[5].replace("ok=0", "ok=1")
    res = _run(lines)
    assert not res.of_type("result") and res.dropped == 1


def test_lost_duplicated_and_unsealed_records():
    lines = sealed()
    del lines[3]                                               # @loss step=1 lost
    lines.insert(4, lines[3])                                   # @loss step=2 twice
    lines.insert(2, "@loss step=9 value=0.1")                   # unsealed in a sealed log
    res = _run(lines)
    assert res.lost == 1 and res.duplicates == 1 and res.dropped == 2
    assert [r["step"] for r in res.of_type("loss")] == ["2"]
    assert any("1 record(s) lost" in w for w in res.warnings)


def test_version_1_logs_are_still_read():
    res = _run([r.replace("log=2", "log=1") for r in RECORDS])
    assert not res.sealed and res.status == "done" and len(res.of_type("loss")) == 2


def test_trained_tensors_never_come_from_a_changed_record():
    lines = sealed(["@start app=t target=host cores=1 perf=host-clock log=2",
                    "@loss step=1 value=0.5",
                    "@tensor name=w n=2 off=0 hex=3f8000003f800000",
                    "@done code=0"])
    assert parse_log(lines)["tensors"]["w"].tolist() == [1.0, 1.0]
    lines[2] = lines[2].replace("3f800000", "3f800001", 1)
    with pytest.raises(TrainError, match="seal does not match"):
        parse_log(lines)


def test_firmware_seals_check_out_on_host():
    """The SDK's writers (sdk/runtime/log.c) compute the same CRC-32 as zlib: every record of
    a real run is sealed, in sequence from 0."""
    r = run_scons("target=host", "app=hello", "run=1")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    with open(os.path.join(ROOT, "build", "host", "hello", "run.log")) as f:
        recs = [ln.rstrip("\n") for ln in f if ln.startswith("@")]
    assert len(recs) > 3
    seals = [unseal(ln) for ln in recs]
    assert all(s == SEALED for _, s, _ in seals), recs
    assert [q for _, _, q in seals] == list(range(len(recs)))
