"""The Cortex-M cores dse can build for and emulate: compiler flags, the emulator's CPU
model, the QEMU board that runs the same code, and the timing table's file."""

from __future__ import annotations

from dataclasses import dataclass

from dse.errors import DseError
from dse.hardware import HardwareProfile

RAM_ORIGIN = 0x20000000  # every image: code and constants at 0x0, SRAM here


@dataclass(frozen=True)
class Memory:
    """How much flash (at 0x0) and SRAM (at ``RAM_ORIGIN``) a machine has."""

    flash_bytes: int
    ram_bytes: int

    def holds(self, other: Memory) -> bool:
        return self.flash_bytes >= other.flash_bytes and self.ram_bytes >= other.ram_bytes


GENERIC_MEMORY = Memory(4 << 20, 1 << 20)  # the measuring image's map; unicorn maps this
MPS2_MEMORY = Memory(4 << 20, 4 << 20)  # QEMU's mps2-an385/an386/an500: ZBT SSRAM1, SSRAM2&3
NRF51822_MEMORY = Memory(256 << 10, 16 << 10)  # QEMU's microbit


@dataclass(frozen=True)
class QemuBoard:
    """A QEMU machine with code at 0x0 and SRAM at ``RAM_ORIGIN``."""

    machine: str
    memory: Memory


@dataclass(frozen=True)
class Core:
    """One core as the toolchain and the emulators see it."""

    name: str  # timing table: dse/measure/timing/<name>.toml
    gcc_flags: tuple[str, ...]
    unicorn_model: str  # arm_const.UC_CPU_ARM_<this>
    qemu_board: QemuBoard | None
    dsp: bool  # the DSP extension (SMLAD): the exported int kernels use it
    fpu: bool


CORES = {
    "cortex-m0plus": Core("cortex-m0plus", ("-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft"),
                          "CORTEX_M0", QemuBoard("microbit", NRF51822_MEMORY), dsp=False,
                          fpu=False),  # unicorn and QEMU have the M0: the same ISA (ARMv6-M)
    "cortex-m3": Core("cortex-m3", ("-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft"),
                      "CORTEX_M3", QemuBoard("mps2-an385", MPS2_MEMORY), dsp=False, fpu=False),
    "cortex-m4": Core("cortex-m4", ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard",
                                    "-mfpu=fpv4-sp-d16"), "CORTEX_M4",
                      QemuBoard("mps2-an386", MPS2_MEMORY), dsp=True, fpu=True),
    "cortex-m7": Core("cortex-m7", ("-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard",
                                    "-mfpu=fpv5-sp-d16"), "CORTEX_M7",
                      QemuBoard("mps2-an500", MPS2_MEMORY), dsp=True, fpu=True),
    "cortex-m33": Core("cortex-m33", ("-mcpu=cortex-m33", "-mthumb", "-mfloat-abi=hard",
                                      "-mfpu=fpv5-sp-d16"), "CORTEX_M33", None,
                       dsp=True, fpu=True),  # QEMU's M33 boards boot secure at 0x10000000
}
# The profile's core text (its first word) -> our core.
_BY_PROFILE = {"cortex-m0+": "cortex-m0plus", "cortex-m3": "cortex-m3", "cortex-m4f": "cortex-m4",
               "cortex-m4": "cortex-m4", "cortex-m7": "cortex-m7", "cortex-m33": "cortex-m33"}


def core_of(profile: HardwareProfile) -> Core:
    """The core of a profile, or one line saying it cannot be built for here."""
    key = profile.core.split(" (")[0].strip().lower()
    if key not in _BY_PROFILE:
        raise DseError(f"Profile '{profile.name}' has a {profile.core} core; dse can build and "
                       f"emulate only Arm Cortex-M cores ({', '.join(CORES)}).")
    return CORES[_BY_PROFILE[key]]
