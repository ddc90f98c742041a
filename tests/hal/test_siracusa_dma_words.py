# SPDX-License-Identifier: Apache-2.0
"""The siracusa DMA service's register words, checked on the host against the documented
layouts (no simulator): hal/siracusa/dma.c and hyper.c built natively against a model that
records every register write (tests/hal/siracusa_model.c).

MCHAN v7 command word: LEN bits 16:0, TYPE (1 = L2 -> L1) bit 17, INC 18, 2D_EXT 19, ELE 20;
then the L1 address, the L2 address and, for 2D, the row bytes and the L2 stride (gvsoc-pulp
pulp/mchan/archi/mchan_v7.h). uDMA HyperBus v3 at 0x1A102280: channel 0 (reads) registers
RX_SADDR +0x00, RX_SIZE +0x04, RX_CFG +0x08, CA_SETUP +0x18, EXT_ADDR +0x1C; channel 1
(writes) at +0x80 with TX_SADDR +0x0C, TX_SIZE +0x10, TX_CFG +0x14; common registers at
+0x100: T_LATENCY +0x04, EN_LATENCY_ADD +0x08, MEM_SEL +0x20 (pulp/udma/archi/udma_hyper_v3.h).
"""
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MCHAN = 0x10204400
TYPE, INC, TWO_D, ELE = 1 << 17, 1 << 18, 1 << 19, 1 << 20
HYPER = 0x1A102280
CH0, CH1, COMMON = HYPER, HYPER + 0x80, HYPER + 0x100


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    if not shutil.which("gcc"):
        pytest.skip("no native gcc")
    out = str(tmp_path_factory.mktemp("sirmodel") / "model")
    inc = ["hal/include", "sdk/include", "hal/common", "hal/siracusa"]
    cmd = ["gcc", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined",
           "-DSIR_HOST_MODEL", "-DET_TARGET_SIRACUSA", "-DET_L3_BYTES=8388608u",
           *[f"-I{os.path.join(ROOT, i)}" for i in inc],
           os.path.join(ROOT, "hal/siracusa/dma.c"), os.path.join(ROOT, "hal/siracusa/hyper.c"),
           os.path.join(ROOT, "tests/hal/siracusa_model.c"), "-o", out]
    subprocess.run(cmd, check=True)
    return out


def run(model, scenario):
    p = subprocess.run([model, scenario], capture_output=True, text=True, timeout=30)
    writes = [tuple(int(x, 16) for x in ln.split()[1:]) for ln in p.stdout.splitlines()
              if ln.startswith("W ")]
    return p.returncode, writes, p.stdout


def mchan(writes):
    return [v for a, v in writes if a == MCHAN]


def hyper(writes):
    return [(a - HYPER, v) for a, v in writes if HYPER <= a < HYPER + 0x180]


def test_l2_to_l1_command(model):
    rc, w, _ = run(model, "l2_to_l1")
    assert rc == 0 and mchan(w) == [64 | TYPE | INC | ELE, 0x10000100, 0x1C020000]


def test_l1_to_l2_has_no_type_bit(model):
    _, w, _ = run(model, "l1_to_l2")
    assert mchan(w) == [64 | INC | ELE, 0x10000100, 0x1C020000]


def test_long_copy_is_split_into_17_bit_commands(model):
    _, w, _ = run(model, "long")
    m = mchan(w)
    assert m[0] == 0x1FFF8 | TYPE | INC | ELE and m[3] == (200000 - 0x1FFF8) | TYPE | INC | ELE
    assert m[4] == 0x10000000 + 0x1FFF8 and m[5] == 0x1C020000 + 0x1FFF8 and len(m) == 6


def test_2d_strides_the_l2_side(model):
    _, w, _ = run(model, "2d")
    assert mchan(w) == [128 | TYPE | INC | TWO_D | ELE, 0x10000000, 0x1C020000, 32, 128]


def test_l3_to_l2_queues_hyperram_reads_on_channel_0(model):
    rc, w, out = run(model, "l3_to_l2")
    h = hyper(w)
    assert rc == 0
    assert (0x100 + 0x20, 0) in h and (0x100 + 0x04, 6) in h and (0x100 + 0x08, 1) in h
    per = [(a, v) for a, v in h if a < 0x80]
    # 100000 bytes: 0x8000 + 0x8000 + 0x8000 + rest, each CA=read, address, L2, size, go
    assert per[:5] == [(0x18, 5), (0x1C, 0x1000), (0x00, 0x1C030000), (0x04, 0x8000), (0x08, 0x10)]
    assert [v for a, v in per if a == 0x04] == [0x8000, 0x8000, 0x8000, 100000 - 3 * 0x8000]
    assert [v for a, v in per if a == 0x1C] == [0x1000 + k * 0x8000 for k in range(4)]
    assert "ID 80000004" in out      # L3 id: bit 31, channel 0, sequence 4


def test_l2_to_l3_queues_hyperram_writes_on_channel_1(model):
    _, w, out = run(model, "l2_to_l3")
    per = [(a - 0x80, v) for a, v in hyper(w) if 0x80 <= a < 0x100]
    assert per == [(0x18, 1), (0x1C, 0x2000), (0x0C, 0x1C030000), (0x10, 256), (0x14, 0x10)]
    assert "ID 90000001" in out      # channel 1


@pytest.mark.parametrize("scenario,why", [
    ("l3_to_l1", "L3-L1-not-supported-stage-through-L2"),
    ("l2_to_l2", "no-engine-for-this-level-pair"),
    ("null", "invalid-arguments"),
])
def test_copies_no_engine_can_make_are_faults(model, scenario, why):
    rc, w, out = run(model, scenario)
    assert rc == 3 and f"FAULT {why} 64" in out and not mchan(w) and not hyper(w)
