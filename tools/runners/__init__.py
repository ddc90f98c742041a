"""Flashing runners (one class per method, like Zephyr's west runners): ``serial`` loads through
the EdgeTune serial bootloader (sdk/boot), ``openocd`` through JTAG with openocd + gdb."""
from .base import Caps, FlashError, Runner, get_runner, runner_names

__all__ = ["Caps", "FlashError", "Runner", "get_runner", "runner_names"]
