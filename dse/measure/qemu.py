"""The same image in QEMU (``qemu-system-arm``, an MPS2 board with code at 0x0 and SRAM at
0x20000000): a second emulator, independent of unicorn's counting, that must run the image
to its semihosting exit and print the same logits."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dse.errors import DseError
from dse.measure.cores import Core


@dataclass(frozen=True)
class QemuRun:
    exit_code: int
    output: str  # what the image wrote over semihosting

    def logits(self, windows: int, classes: int) -> np.ndarray:
        """The logits the harness printed (their bits in hex, then each window's class)."""
        words = [int(word, 16) for word in self.output.split()
                 if len(word) == 8 and all(c in "0123456789abcdef" for c in word)]
        table = np.array(words[: windows * (classes + 1)], np.uint32).reshape(windows, classes + 1)
        return table[:, :classes].copy().view(np.float32)


def qemu_binary() -> str:
    found = shutil.which("qemu-system-arm")
    if found is None:
        raise DseError("The QEMU cross-check needs qemu-system-arm: apt-get install "
                       "qemu-system-arm (Debian/Ubuntu).")
    return found


def run_qemu(elf: Path, core: Core, *, timeout_s: float = 120) -> QemuRun:
    """Boot the image on the core's MPS2 board with semihosting; wait for its exit."""
    if core.qemu_machine is None:
        raise DseError(f"QEMU has no board with dse's memory map for {core.name}.")
    command = [qemu_binary(), "-M", core.qemu_machine, "-nographic", "-monitor", "none",
               "-serial", "none", "-semihosting-config", "enable=on,target=native",
               "-kernel", str(elf)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise DseError(f"QEMU did not reach the image's exit within {timeout_s:g} s.") from None
    return QemuRun(done.returncode, done.stdout + done.stderr)
