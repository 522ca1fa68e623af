"""The measured code in a second emulator, QEMU (``qemu-system-arm``), independent of
unicorn's counting: it must run to its semihosting exit and print the logits unicorn
computed. A board whose memory holds the generic map (the MPS2 boards of the Cortex-M3, M4
and M7) runs the measuring image itself; a smaller one (the microbit's nRF51822, a Cortex-M0,
for the M0+) runs the same objects linked for its memory, if the image fits it."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dse.errors import DseError
from dse.measure.build import link
from dse.measure.cores import GENERIC_MEMORY, RAM_ORIGIN, Core, QemuBoard
from dse.measure.elf import Elf, read_elf

TIMEOUT_S = 120
STACK_ALIGN = 8  # the AAPCS stack alignment


@dataclass(frozen=True)
class QemuRun:
    exit_code: int | None  # None: no exit within the timeout
    output: str  # what the image wrote over semihosting

    def logits(self, windows: int, classes: int) -> np.ndarray | None:
        """The logits the harness printed (their bits in hex, then each window's class), or
        None if it printed fewer."""
        words = [int(word, 16) for word in self.output.split()
                 if len(word) == 8 and all(c in "0123456789abcdef" for c in word)]
        if len(words) < windows * (classes + 1):
            return None
        table = np.array(words[: windows * (classes + 1)], np.uint32).reshape(windows, classes + 1)
        return table[:, :classes].copy().view(np.float32)


def qemu_binary() -> str:
    found = shutil.which("qemu-system-arm")
    if found is None:
        raise DseError("The QEMU cross-check needs qemu-system-arm: apt-get install "
                       "qemu-system-arm (Debian/Ubuntu).")
    return found


def require_qemu(core: Core) -> None:
    """QEMU, checked before measuring, for a core that has a board to run on."""
    if core.qemu_board is not None:
        qemu_binary()


def run_qemu(elf: Path, machine: str, *, timeout_s: float = TIMEOUT_S) -> QemuRun:
    """Boot the image on ``machine`` with semihosting; wait for its exit."""
    command = [qemu_binary(), "-M", machine, "-nographic", "-monitor", "none",
               "-serial", "none", "-semihosting-config", "enable=on,target=native",
               "-kernel", str(elf)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return QemuRun(None, "")
    return QemuRun(done.returncode, done.stdout + done.stderr)


def cross_check(elf: Path, core: Core, logits: np.ndarray, *, stack_bytes: int) -> dict[str, Any]:
    """``elf`` (the measured image) in QEMU: whether it ran, where, and whether it printed
    ``logits`` (windows, K) bit for bit; ``stack_bytes`` is the stack it used in unicorn
    from reset to exit. Says why instead when no QEMU board can run it."""
    board = core.qemu_board
    if board is None:
        return _not_run(None, f"QEMU has no {core.name} board that boots an image at 0x0 with "
                              f"SRAM at {RAM_ORIGIN:#x}")
    stack = -(-stack_bytes // STACK_ALIGN) * STACK_ALIGN
    misfit = _misfit(read_elf(elf), stack, board)
    if misfit:
        return _not_run(board.machine, misfit)
    if not board.memory.holds(GENERIC_MEMORY):
        elf = link(elf.parent, core, board.memory, stack_bytes=stack,
                   name=f"image-{board.machine}")
    run = run_qemu(elf, board.machine)
    printed = run.logits(*logits.shape) if run.exit_code == 0 else None
    return {"ran": True, "machine": board.machine, "elf": str(elf), "exit_code": run.exit_code,
            "equal_emulated": printed is not None and bool(np.array_equal(
                printed.view(np.uint32), logits.view(np.uint32))),
            "reason": None if run.exit_code is not None else f"no exit within {TIMEOUT_S} s"}


def _misfit(image: Elf, stack_bytes: int, board: QemuBoard) -> str | None:
    """What of the image does not fit the board's memory, in one line, or None."""
    flash = image.address("__flash_end__")
    static = image.address("__bss_end__") - RAM_ORIGIN  # the state, the logits, the harness's
    memory, short = board.memory, []
    if flash > memory.flash_bytes:
        short.append(f"{flash:,} B of flash (it has {memory.flash_bytes:,} B)")
    if static + stack_bytes > memory.ram_bytes:
        short.append(f"{static + stack_bytes:,} B of SRAM, {static:,} B static and "
                     f"{stack_bytes:,} B of stack (it has {memory.ram_bytes:,} B)")
    return f"the image does not fit QEMU's {board.machine}: it needs {' and '.join(short)}" \
        if short else None


def _not_run(machine: str | None, reason: str) -> dict[str, Any]:
    return {"ran": False, "machine": machine, "elf": None, "exit_code": None,
            "equal_emulated": None, "reason": reason}
