"""The qemu board runner: exit codes, timeout and interruption leave no QEMU process behind."""
import os
import signal
import subprocess
import sys
import time

import pytest

from et_testutil import ROOT, TOOLS
from et.qemu import EXIT_TIMEOUT, QemuBoard

pytestmark = pytest.mark.qemu


def _elf(tmp_path, body: str) -> str:
    """Assemble a minimal bare-metal ELF at the qemu RAM base."""
    src = tmp_path / "t.S"
    src.write_text(".section .text\n.global _start\n_start:\n" + body + "\n")
    elf = tmp_path / "t.elf"
    subprocess.run(["riscv64-unknown-elf-gcc", "-march=rv32imac", "-mabi=ilp32", "-nostdlib",
                    "-Wl,-Ttext=0x80000000", "-o", str(elf), str(src)], check=True)
    return str(elf)


def _qemu_alive(port: int) -> bool:
    out = subprocess.run(["pgrep", "-f", f"tcp:127.0.0.1:{port},"], capture_output=True, text=True)
    return bool(out.stdout.strip())


def test_exit_code_is_the_apps(tmp_path):
    # write 0x3333 | 7 << 16 to the virt test finisher
    elf = _elf(tmp_path, "li t0, 0x100000\nli t1, 0x73333\nsw t1, 0(t0)\n1: j 1b")
    res = QemuBoard(timeout=20, echo=False).run_elf(elf)
    assert res.exit_code == 7 and not res.timed_out


def test_timeout_kills_qemu(tmp_path):
    elf = _elf(tmp_path, "1: j 1b")
    board = QemuBoard(timeout=1.5, echo=False)
    t0 = time.monotonic()
    session = board.start(elf)
    port = session.port
    session.close()  # start/close alone must not leave it behind
    assert not _qemu_alive(port)
    res = board.run_elf(elf)
    assert res.timed_out and res.exit_code == EXIT_TIMEOUT
    assert time.monotonic() - t0 < 15
    assert subprocess.run(["pgrep", "-f", elf], capture_output=True).stdout == b""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_runner_interrupted_or_killed_leaves_no_qemu(tmp_path, sig):
    elf = _elf(tmp_path, "1: j 1b")
    proc = subprocess.Popen([sys.executable, os.path.join(TOOLS, "run_qemu.py"), elf,
                             "--timeout", "60", "--quiet"], cwd=ROOT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if subprocess.run(["pgrep", "-f", elf], capture_output=True).stdout.strip().count(b"\n") >= 1:
            break
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(sig)
    proc.wait(timeout=20)
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-f", f"qemu-system-riscv32.*{elf}"], capture_output=True, text=True)
    assert left.stdout.strip() == "", f"qemu left behind: {left.stdout}"
    if sig == signal.SIGINT:
        assert proc.returncode == 130


def test_missing_elf_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match="no such ELF"):
        QemuBoard(echo=False).start("/nonexistent.elf")
