"""``dse measure``: an export built for a profile's core, run in the emulator, and held
against the cost model. One function, :func:`measure`, returns the plain data that
``dse measure --json`` prints; everything it measures is labelled an emulation."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import capstone
import numpy as np

from dse.architecture import parse_arch
from dse.cost import estimate
from dse.errors import DseError
from dse.export import verify
from dse.hardware import HardwareProfile
from dse.measure.build import build_image
from dse.measure.cores import Core, core_of
from dse.measure.elf import Elf, read_elf
from dse.measure.emulator import Execution, emulate, require_unicorn
from dse.measure.qemu import cross_check, require_qemu
from dse.measure.timing import TimingTable, block_cycles, count_cycles, decode_block, edge_cycles, load_table

EMULATION_NOTE = ("emulated: executed instructions counted in unicorn and converted to cycles "
                  "with a per-core timing table (docs/measure.md); an instruction-accurate "
                  "estimate with no wait states or caches, not a board measurement")
MEASURE_WINDOWS = 4  # golden windows run in the image; the first one is timed
STACK_PAINT = 0xDEADC0DE


@dataclass(frozen=True)
class Export:
    """What ``dse measure`` needs of an export folder."""

    folder: Path
    report: dict[str, Any]
    windows: np.ndarray  # golden input windows, raw features
    logits: np.ndarray  # what the exported network must give on them

    @property
    def prefix(self) -> str:
        return self.report["prefix"]


def read_export(folder: Path) -> Export:
    """An export folder written by ``dse export``, or one line saying what is missing."""
    for name in ("export.json", "model.c", "model.h", "golden.npz"):
        if not (folder / name).is_file():
            raise DseError(f"{folder} is not a dse export with C: it has no {name} (write one "
                           f"with 'dse export ... --out {folder}').")
    report = json.loads((folder / "export.json").read_text())
    with np.load(folder / "golden.npz") as golden:
        return Export(folder, report, golden["windows"], golden["logits"])


@dataclass(frozen=True)
class Measurement:
    """What one emulated build of an export gave."""

    elf: Path
    core: str
    cycles: float  # one inference
    instructions: int  # one inference
    instructions_total: int  # from reset to the exit call
    mix: dict[str, int]  # one inference's executed instructions per name
    unclassified: dict[str, int]
    flash_bytes: int  # the model's part of the image
    static_ram_bytes: int  # the model's static data and the caller's state struct
    stack_bytes: int  # below the point the inference began
    stack_peak_bytes: int  # from the stack's top: its high-water mark from reset to exit
    harness_flash_bytes: int
    sections: dict[str, dict[str, int]]
    logits: np.ndarray  # (windows, K) as the emulated image computed them
    inner_loop: dict[str, Any] | None
    layer_array_bytes: tuple[int, ...]  # each layer's weight and bias arrays in the image


def run_image(folder: Path, core: Core, *, prefix: str, windows: np.ndarray,
              classes: int, work: Path | None = None) -> Measurement:
    """Build ``folder``'s model.c for ``core`` with the harness, run it, count it."""
    require_unicorn()
    work = work or folder / f"measure-{core.name}"
    work.mkdir(exist_ok=True)
    image = build_image(folder, core, work, prefix=prefix, windows=windows)
    run = emulate(image.elf, core)
    elf, table = read_elf(image.elf), load_table(core.name)
    decoded = _decoded(run, table)
    count = count_cycles(run.blocks["inference"], run.edges["inference"], decoded, table)
    total = count_cycles(run.all_blocks(), run.all_edges(), decoded, table)
    raw = run.read(elf.address("dse_measure_logits"), 4 * len(windows) * classes)
    layers = sum(1 for name in elf.symbols if name.startswith("L") and name.endswith("_W"))
    lowest = _stack_lowest(run, elf)
    inference_sp = struct.unpack("<I", run.read(elf.address("dse_measure_stack_pointer"), 4))[0]
    return Measurement(
        elf=image.elf, core=core.name, cycles=count.cycles, instructions=count.instructions,
        instructions_total=total.instructions,
        mix=dict(sorted(count.mix.items(), key=lambda item: -item[1])),
        unclassified=count.unclassified, flash_bytes=image.flash_bytes("model"),
        static_ram_bytes=image.static_ram_bytes("model") + elf.symbols["dse_measure_state"][1],
        stack_bytes=max(0, inference_sp - lowest),
        stack_peak_bytes=elf.address("__stack_top__") - lowest,
        harness_flash_bytes=image.flash_bytes("harness"), sections=image.bytes_by_part,
        logits=np.frombuffer(raw, "<f4").reshape(len(windows), classes).copy(),
        inner_loop=_inner_loop(run, decoded, table),
        layer_array_bytes=tuple(_layer_array_bytes(elf, k) for k in range(layers)))


def measure(folder: Path, profile: HardwareProfile, *, runtime: str | None = None,
            windows: int = MEASURE_WINDOWS, qemu: bool = False) -> dict[str, Any]:
    """Build, run and count one export on ``profile``'s core; predicted against measured.
    With ``qemu``, the same code also runs in QEMU, whose logits must be the same bits."""
    export = read_export(folder)
    core = core_of(profile)
    if qemu:
        require_qemu(core)
    chosen = export.windows[:windows]
    m = run_image(folder, core, prefix=export.prefix, windows=chosen,
                  classes=export.logits.shape[1])
    exact = export.report["dtype"] != "float32"
    host = _host_logits(export, len(chosen))
    latency_ms = m.cycles / profile.clock_hz * 1e3
    measured = {
        "flash_bytes": m.flash_bytes, "static_ram_bytes": m.static_ram_bytes,
        "stack_bytes": m.stack_bytes, "ram_bytes": m.static_ram_bytes + m.stack_bytes,
        "cycles": round(m.cycles), "latency_ms": latency_ms,
        "energy_uj": latency_ms * profile.active_power_mw, "instructions": m.instructions,
        "instructions_total": m.instructions_total,
        "harness_flash_bytes": m.harness_flash_bytes, "sections": m.sections,
    }
    arch = parse_arch(export.report["arch"], dtype=export.report["dtype"],
                      **export.report["shape"])
    runtime_name = runtime or ("dse-c" if "dse-c" in profile.runtimes else None)
    report = estimate(arch, profile, runtime=runtime_name)
    predicted: dict[str, Any] = {"flash_bytes": report.flash_bytes, "ram_bytes": report.ram_bytes,
                 "cycles": round(report.latency_cycles), "latency_ms": report.latency_ms,
                 "energy_uj": report.energy_uj, "estimate": True}
    return {
        "export": str(folder),
        "elf": str(m.elf),
        "core": core.name,
        "profile": profile.name,
        "runtime": report.runtime,
        "cost_basis": report.basis,
        "arch": arch.text,
        "dtype": arch.dtype,
        "measured": measured,
        "predicted": predicted,
        "ratios": {key: (predicted[key] / measured[key] if measured[key] else None)
                   for key in ("flash_bytes", "ram_bytes", "cycles", "latency_ms", "energy_uj")},
        "layers": [{"layer": layer.name, "measured_array_bytes": size,
                    "predicted_flash_bytes": layer.flash_bytes}
                   for layer, size in zip(report.layers, m.layer_array_bytes)],
        "instruction_mix": m.mix,
        "unclassified_instructions": m.unclassified,
        "inner_loop": m.inner_loop,
        "logits": {"windows": len(chosen),
                   "equal_golden": _equal(m.logits, export.logits[:len(chosen)], exact=exact),
                   "equal_host_build": None if host is None else bool(np.array_equal(
                       m.logits.view(np.uint32), host.view(np.uint32)))},
        "qemu": (cross_check(m.elf, core, m.logits, stack_bytes=m.stack_peak_bytes)
                 if qemu else None),
        "timing_table": load_table(core.name).summary,
        "note": EMULATION_NOTE,
    }


def _decoded(run: Execution, table: TimingTable) -> dict:
    """Every executed block, decoded once."""
    engine = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_THUMB | capstone.CS_MODE_MCLASS)
    engine.detail = True
    return {key: decode_block(engine, code, key[0], table) for key, code in run.code.items()}


def _equal(a: np.ndarray, b: np.ndarray, *, exact: bool) -> bool:
    if exact:
        return bool(np.array_equal(a.view(np.uint32), b.astype(np.float32).view(np.uint32)))
    scale = np.maximum(np.abs(b).max(axis=1, keepdims=True), 1.0)
    return bool(np.all(np.abs(a - b) <= verify.FLOAT_TOLERANCE * scale))


def _host_logits(export: Export, windows: int) -> np.ndarray | None:
    """The same C built for this machine, on the same windows (None without a compiler)."""
    compiler = verify.host_compiler()
    if compiler is None:
        return None
    run = verify.run_on_host(export.folder, export.prefix, export.windows[:windows],
                             compiler=compiler)
    return run.logits


def _stack_lowest(run: Execution, elf: Elf) -> int:
    """The lowest stack address written: the first painted word overwritten."""
    bottom, top = elf.address("__stack_bottom__"), elf.address("__stack_top__")
    words = np.frombuffer(run.read(bottom, top - bottom), "<u4")
    written = np.flatnonzero(words != STACK_PAINT)
    return bottom + 4 * int(written[0]) if len(written) else top


def _layer_array_bytes(elf: Elf, index: int) -> int:
    """The bytes of layer ``index``'s weight and bias arrays (L1_W, L1_BIAS, L1_BIAS_HN)."""
    return sum(elf.symbols.get(f"L{index + 1}_{part}", (0, 0))[1]
               for part in ("W", "BIAS", "BIAS_HN"))


def _inner_loop(run: Execution, decoded: dict, table: TimingTable) -> dict[str, Any] | None:
    """The hottest block with multiply-accumulates: MACs per cycle of the inner loop."""
    # a float product: VMLA/VFMA, or VMUL (its VADD follows) in the exported kernels
    macs_per_instruction = {"smlad": 2, "smlald": 2, "smlabb": 1, "mla": 1, "mul": 1,
                            "vmla": 1, "vfma": 1, "vmul": 1}
    best = None
    for key, executions in run.blocks["inference"].items():
        block = decoded[key]
        macs = sum(macs_per_instruction.get(i.name, 0) for i in block)
        if macs and (best is None or executions * macs > best[0]):
            best = (executions * macs, key, macs)
    if best is None:
        return None
    _, key, macs = best
    loop_edge = sum(count for (before, after), count in run.edges["inference"].items()
                    if before == key and after == key)
    block = decoded[key]
    cycles = block_cycles(block, table) + (edge_cycles(block, block, table) if loop_edge else 0)
    return {"address": key[0], "instructions": len(block), "macs": macs,
            "cycles": cycles, "macs_per_cycle": macs / cycles, "loops": bool(loop_edge)}
