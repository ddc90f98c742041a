"""The full-size apps trained for 2 steps in GVSoC's Siracusa model (marker gvsoc; skipped with the
reason when GVSoC is not installed), next to the same program built for qemu.

Each case builds ``app=train`` from the app's settings (steps=2, no profiling) for siracusa and for
qemu. The siracusa ELF runs through the gvsoc runner (L3 image preloaded into HyperFlash, copied
to HyperRAM by the firmware, streamed with the uDMA HyperBus), the qemu ELF on the qemu board.
Checked: the @loss records are bit-identical (same code, same float operations), both are
within 1e-4 of the numpy reference, and the @dma records (bytes per level moved in each step,
L3 included) are identical and equal the memory plan's L3 -> L2 traffic.
"""
from __future__ import annotations

import os

import pytest

from codegen_helpers import build_train_app, reference_run
from et.compiler.appbuild import app_spec
from et.compiler.codegen import compile_model
from et.devlog import unseal
from et.qemu import QemuBoard
from gvsoc_util import require_gvsoc

STEPS, LOSS_TOL = 2, 1e-4
pytestmark = pytest.mark.gvsoc


def gvsoc_lines(elf: str, gvsoc: str) -> list[str]:
    from runners import gvsoc as runner

    group = runner.start(elf, os.path.join(os.path.dirname(elf), "gvsoc"), gvsoc)
    result, lines = runner.run_monitored(group, timeout=2400, echo=False)
    assert result.status == "done" and result.exit_code == 0, "\n".join(lines[-30:])
    return lines


def records(lines: list[str], kind: str) -> list[str]:
    """The records of one kind without their seals (sequence numbers differ between targets
    that print different records before them)."""
    return [unseal(ln.strip())[0] for ln in lines if ln.startswith(kind)]


@pytest.mark.parametrize("app", ["cct_lora", "cct_lastlayer", "cct_finetune", "deep_ae"])
def test_app_in_gvsoc_equals_qemu(app, scons):
    gvsoc = require_gvsoc()
    over = dict(steps=STEPS, profile_steps="", dump="sums")
    spec_s = app_spec(app, target="siracusa", **over)
    on_chip = gvsoc_lines(build_train_app(spec_s, scons), gvsoc)
    spec_q = app_spec(app, target="qemu", **over)
    res = QemuBoard(timeout=600, echo=False).run_elf(build_train_app(spec_q, scons))
    assert res.exit_code == 0, "\n".join(res.lines[-20:])

    assert records(on_chip, "@loss") == records(res.lines, "@loss")
    assert records(on_chip, "@dma") == records(res.lines, "@dma")
    assert records(on_chip, "@tsum") == records(res.lines, "@tsum")
    ref = reference_run(spec_q)
    loss = [float(ln.split("value=")[1]) for ln in records(on_chip, "@loss")]
    assert len(loss) == STEPS
    for a, b in zip(loss, ref["loss"]):
        assert abs(a - b) / max(abs(b), 1e-6) <= LOSS_TOL, (loss, ref["loss"])
    _, plan, _ = compile_model(spec_s)
    for ln in records(on_chip, "@dma"):
        f = dict(kv.split("=") for kv in ln.split()[1:])
        assert int(f["l3_l2"]) == plan.traffic["l3_to_l2"], ln
