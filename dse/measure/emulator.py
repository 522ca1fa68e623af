"""Run a measuring image in the ``unicorn`` emulator (the matching Cortex-M CPU model) and
count what executes: blocks and the edges between them, split into phases by the harness's
markers (setup, one inference, the rest), until the Arm semihosting exit call."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from dse.errors import DseError
from dse.measure.cores import GENERIC_MEMORY, RAM_ORIGIN, Core
from dse.measure.elf import read_elf

FLASH = (0x00000000, GENERIC_MEMORY.flash_bytes)
RAM = (RAM_ORIGIN, GENERIC_MEMORY.ram_bytes)
SYSTEM_CONTROL = (0xE000E000, 0x1000)  # CPACR lives here: the startup enables the FPU
BKPT_INTERRUPT = 7  # how unicorn reports BKPT (semihosting's BKPT 0xAB)
MAX_INSTRUCTIONS = 20_000_000_000
PHASES = ("setup", "inference", "after")


def require_unicorn():
    """The emulator packages, or one line saying how to get them."""
    try:
        import capstone  # noqa: F401
        import unicorn
    except ImportError:
        raise DseError('Measuring needs the emulator: pip install "dse[measure]" (unicorn and '
                       'capstone).') from None
    return unicorn


@dataclass
class Execution:
    """What ran: block and edge counts per phase, the exit code, semihosting output, RAM."""

    exit_code: int
    output: str
    blocks: dict[str, Counter] = field(default_factory=dict)  # phase -> (addr, size) -> n
    edges: dict[str, Counter] = field(default_factory=dict)  # phase -> (prev, block) -> n
    ram: bytes = b""
    code: dict[tuple[int, int], bytes] = field(default_factory=dict)  # block -> its bytes

    def read(self, address: int, size: int) -> bytes:
        offset = address - RAM[0]
        return self.ram[offset: offset + size]

    def all_blocks(self) -> Counter:
        return sum(self.blocks.values(), Counter())

    def all_edges(self) -> Counter:
        return sum(self.edges.values(), Counter())


def emulate(elf_path: Path, core: Core, *, timeout_s: float = 3600) -> Execution:
    """Run the image from reset to its semihosting exit, counting blocks and edges."""
    unicorn = require_unicorn()
    from unicorn import arm_const

    elf = read_elf(elf_path)
    uc = unicorn.Uc(unicorn.UC_ARCH_ARM, unicorn.UC_MODE_THUMB)
    # UC_MODE_MCLASS would build a Cortex-M33 whatever the model: set the model instead
    uc.ctl_set_cpu_model(getattr(arm_const, f"UC_CPU_ARM_{core.unicorn_model}"))
    for base, size in (FLASH, RAM, SYSTEM_CONTROL):
        uc.mem_map(base, size)
    for segment in elf.segments:
        if segment.data:
            uc.mem_write(segment.address, segment.data)
    vectors = bytes(uc.mem_read(0, 8))
    uc.reg_write(arm_const.UC_ARM_REG_SP, int.from_bytes(vectors[:4], "little"))
    start = int.from_bytes(vectors[4:], "little")

    run = Execution(exit_code=-1, output="",
                    blocks={p: Counter() for p in PHASES}, edges={p: Counter() for p in PHASES})
    phase = {"name": "setup"}
    previous: list[tuple[int, int] | None] = [None]
    output: list[str] = []
    fault: list[str] = []

    def to_phase(name: str):
        def switch(uc, address, size, data):  # noqa: ANN001, ARG001 - unicorn's signature
            phase["name"] = name
        return switch

    for name, symbol in (("inference", "dse_measure_begin"), ("after", "dse_measure_end")):
        address = elf.address(symbol)
        uc.hook_add(unicorn.UC_HOOK_BLOCK, to_phase(name), begin=address, end=address)

    def on_block(uc, address, size, data):  # noqa: ANN001, ARG001
        key = (address, size)
        name = phase["name"]
        run.blocks[name][key] += 1
        run.edges[name][(previous[0], key)] += 1
        previous[0] = key

    uc.hook_add(unicorn.UC_HOOK_BLOCK, on_block)

    def on_interrupt(uc, number, data):  # noqa: ANN001, ARG001
        pc = uc.reg_read(arm_const.UC_ARM_REG_PC)
        if number != BKPT_INTERRUPT or bytes(uc.mem_read(pc, 2)) != b"\xab\xbe":
            fault.append(f"CPU exception {number} at {pc:#x}")
            uc.emu_stop()
            return
        operation = uc.reg_read(arm_const.UC_ARM_REG_R0)
        argument = uc.reg_read(arm_const.UC_ARM_REG_R1)
        if operation == 0x04:  # SYS_WRITE0
            output.append(_string(uc, argument))
        elif operation == 0x20:  # SYS_EXIT_EXTENDED: {reason, code}
            reason, code = (int.from_bytes(bytes(uc.mem_read(argument + 4 * k, 4)), "little")
                            for k in range(2))
            run.exit_code = code if reason == 0x20026 else 128
            uc.emu_stop()
            return
        elif operation == 0x18:  # SYS_EXIT: reason in r1
            run.exit_code = 0 if argument == 0x20026 else 1
            uc.emu_stop()
            return
        uc.reg_write(arm_const.UC_ARM_REG_PC, (pc + 2) | 1)  # past the BKPT, Thumb state

    uc.hook_add(unicorn.UC_HOOK_INTR, on_interrupt)

    def on_unmapped(uc, access, address, size, value, data):  # noqa: ANN001, ARG001
        fault.append(f"access to unmapped address {address:#x}")
        return False

    uc.hook_add(unicorn.UC_HOOK_MEM_UNMAPPED, on_unmapped)
    try:
        uc.emu_start(start | 1, 0xFFFFFFFF, timeout=int(timeout_s * 1e6), count=MAX_INSTRUCTIONS)
    except unicorn.UcError as exc:
        fault.append(str(exc))
    if fault or run.exit_code < 0:
        raise DseError(f"The image did not run to its exit in the emulator: "
                       f"{fault[0] if fault else 'no exit call (timeout?)'}.")
    run.output = "".join(output)
    run.ram = bytes(uc.mem_read(*RAM))
    run.code = {key: bytes(uc.mem_read(*key)) for key in run.all_blocks()}
    return run


def _string(uc, address: int) -> str:  # noqa: ANN001
    """A NUL-terminated string, read in pieces that stay inside one 64-byte line."""
    data = bytearray()
    while True:
        piece = bytes(uc.mem_read(address, 64 - address % 64))
        end = piece.find(b"\0")
        data += piece if end < 0 else piece[:end]
        if end >= 0:
            return data.decode("ascii", "replace")
        address += len(piece)
