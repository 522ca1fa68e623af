"""``dse calibrate``: the ``dse-c`` runtime's constants fitted to emulated runs of the exported
C on a profile's core, written into the profile with their provenance.

Over a grid of architectures (1-3 layers, 8-128 cells, LSTM and GRU, the three dtypes) the
C of an untrained network of each (timing does not depend on the weights' values, only on
their shape) is built and emulated (``dse.measure``). The cost model's latency is linear in
its constants, so they come from a least-squares fit of the measured cycles, each sample
weighted by 1 / its cycles (the error that matters is relative); flash and RAM reserves are
the largest code and stack the grid needed beyond the cost model's exact data bytes.
"""

from __future__ import annotations

import itertools
import os
import re
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from dse import quantize
from dse.architecture import DTYPES, Architecture
from dse.cells import init_network
from dse.cost import ArchBatch, estimate_batch
from dse.export.c import ModelInfo, float_c, integer_c, kernel_block_bytes
from dse.hardware import CODE_KEYS, FITTED, HardwareProfile, Runtime
from dse.measure.cores import CORES, Core, core_of
from dse.measure.session import run_image
from dse.training import derived_seed

# Task shapes the grid cycles through, so that per-step, per-input and per-inference costs
# can be told apart; timing is linear in T, so short windows suffice.
SHAPES = ({"features": 6, "timesteps": 16, "classes": 6}, {"features": 2, "timesteps": 8, "classes": 3},
          {"features": 12, "timesteps": 24, "classes": 10})
NETWORKS = (  # (cell, cells): 1-3 layers, 8-128 cells
    ("lstm", (8,)), ("lstm", (24,)), ("lstm", (64,)), ("lstm", (128,)), ("lstm", (16, 48)),
    ("lstm", (96, 32)), ("lstm", (8, 8, 8)), ("lstm", (32, 24, 16)),
    ("gru", (8,)), ("gru", (32,)), ("gru", (96,)), ("gru", (128,)), ("gru", (48, 16)),
    ("gru", (24, 64)), ("gru", (16, 16, 16)), ("gru", (40, 8, 24)),
)
PREFIX = "dse_"


@dataclass(frozen=True)
class Sample:
    """One emulated architecture: the measured costs."""

    arch: Architecture
    cycles: float
    flash_bytes: int
    static_ram_bytes: int
    stack_bytes: int


def grid(networks: tuple = NETWORKS) -> list[Architecture]:
    """Every network in every dtype, the networks taking the shapes in turn."""
    return [Architecture(cell, cells, dtype, **SHAPES[index % len(SHAPES)])  # type: ignore[arg-type]
            for index, (cell, cells) in enumerate(networks) for dtype in DTYPES]


def write_untrained_export(arch: Architecture, folder: Path) -> np.ndarray:
    """model.c/model.h of an untrained network of ``arch``; returns its input windows."""
    rng = np.random.default_rng(derived_seed(arch.text, arch.dtype, "calibrate"))
    net = init_network(arch.cell, arch.features, arch.cells, arch.classes, rng)
    windows = rng.normal(size=(2, arch.timesteps, arch.features)).astype(np.float32)
    info = ModelInfo("calibration", "calibrate", arch.text, arch.dtype, "synthetic",
                     arch.timesteps, arch.features, arch.classes)
    if arch.dtype == "float32":
        source = float_c(net, np.zeros(arch.features), np.ones(arch.features), info, PREFIX)
    else:
        source = integer_c(quantize.quantize_network(net, arch.dtype, windows), info, PREFIX)
    (folder / "model.h").write_text(source.header)
    (folder / "model.c").write_text(source.source)
    return windows


def sample(arch: Architecture, core_name: str) -> Sample:
    """Build and emulate ``arch``'s untrained C on a core."""
    with tempfile.TemporaryDirectory(prefix="dse-calibrate-") as work:
        folder = Path(work)
        windows = write_untrained_export(arch, folder)
        m = run_image(folder, CORES[core_name], prefix=PREFIX, windows=windows[:1],
                      classes=arch.classes, work=folder / "build")
    return Sample(arch, m.cycles, m.flash_bytes, m.static_ram_bytes, m.stack_bytes)


def collect(core: Core, archs: list[Architecture], *, workers: int | None = None,
            on_sample=None) -> list[Sample]:  # noqa: ANN001 - a progress callback
    """Emulate every architecture, in parallel processes (each run is single-threaded)."""
    workers = workers or os.cpu_count() or 1
    samples = []
    with ProcessPoolExecutor(workers) as pool:
        for result in pool.map(sample, archs, [core.name] * len(archs)):
            samples.append(result)
            if on_sample:
                on_sample(result)
    return samples


# --- the fit -----------------------------------------------------------------------------

TERMS = ("gate_macs", "elementwise", "activations", "steps", "inference", "inputs")


@dataclass(frozen=True)
class Fit:
    """The dse-c runtime fitted on one core, and how well it reproduces the samples."""

    core: str
    samples: int
    runtime: Runtime
    cycle_errors: dict[str, float]  # "max" and "median" relative error over the samples
    flash_errors: dict[str, float]
    ram_errors: dict[str, float]  # the state struct and the stack


def _unit_runtime(term: str, block_code_bytes: dict[str, int]) -> Runtime:
    """A runtime that costs one cycle per unit of ``term`` and nothing else: the cost model
    then returns that term's count (the MACs the kernels execute, with their padding), and
    as flash the data and the gate-sum assembly, without the fitted code."""
    def rate(name: str) -> dict[str, float]:
        return dict.fromkeys(DTYPES, 1.0 if term == name else 0.0)

    code = dict.fromkeys(CODE_KEYS, 0)
    return Runtime(name="dse-c", reserve_flash_bytes=0, reserve_ram_bytes=0,
                   macs_per_cycle=dict.fromkeys(DTYPES, 1.0 if term == "gate_macs" else
                                                float("inf")),
                   cycles_per_elementwise=rate("elementwise"),
                   cycles_per_activation=rate("activations"),
                   per_step_overhead_cycles=rate("steps"), per_op_overhead_cycles=rate("inference"),
                   cycles_per_input=rate("inputs"), code_flash_bytes=code,
                   layer_code_flash_bytes=code, block_code_bytes=block_code_bytes,
                   layout="dse-c")


def block_code_bytes(core: Core) -> dict[str, int]:
    """The bytes of one block of the gate sums' assembly per cell type and dtype: the
    integer kernels on a DSP core; 0 where the portable loop runs."""
    gates = {"lstm": 4, "gru": 3}
    return {key: kernel_block_bytes(gates[key.split("_")[0]])
            if core.dsp and not key.endswith("float32") else 0 for key in CODE_KEYS}


def terms(arch: Architecture, profile: HardwareProfile,
          blocks: dict[str, int]) -> tuple[list[float], int]:
    """The counts each fitted constant multiplies (``TERMS``), and the flash the cost model
    knows exactly (data and the gate-sum assembly of ``blocks`` bytes per block)."""
    batch = ArchBatch.from_architectures([arch])
    counts, data = [], 0
    for term in TERMS:
        unit = replace(profile, runtimes={"dse-c": _unit_runtime(term, blocks)},
                       runtime="dse-c")
        cost = estimate_batch(batch, unit)
        counts.append(float(cost.latency_cycles[0]))
        data = int(cost.model_flash_bytes[0])
    return counts, data


def nonnegative_least_squares(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """argmin |X c - y| over c >= 0, exactly, by trying every subset of the columns (there
    are six): the fitted constants are cycles, never negative."""
    best, columns = (np.inf, np.zeros(X.shape[1])), range(X.shape[1])
    for size in range(1, X.shape[1] + 1):
        for chosen in itertools.combinations(columns, size):
            coefficients, *_ = np.linalg.lstsq(X[:, chosen], y, rcond=None)
            if np.all(coefficients >= 0):
                residual = float(np.sum((X[:, chosen] @ coefficients - y) ** 2))
                if residual < best[0]:
                    full = np.zeros(X.shape[1])
                    full[list(chosen)] = coefficients
                    best = (residual, full)
    return best[1]


def fit(core: str, samples: list[Sample], profile: HardwareProfile) -> Fit:
    """Fit the dse-c constants of ``core`` to its samples: per dtype the cycle constants
    (relative to each sample's cycles); per cell type and dtype the code of one layer and of
    each further one, and the stack of one layer and of two or more (the largest seen)."""
    rates: dict[str, dict[str, float]] = {name: {} for name in TERMS}
    errors: list[float] = []
    blocks = block_code_bytes(CORES[core])
    counted = [(s, *terms(s.arch, profile, blocks)) for s in samples]
    for dtype in DTYPES:
        mine = [(s, counts) for s, counts, _ in counted if s.arch.dtype == dtype]
        X = np.array([counts for _, counts in mine])
        y = np.array([s.cycles for s, _ in mine])
        coefficients = nonnegative_least_squares(X / y[:, None], np.ones(len(y)))
        errors += list(X @ coefficients / y - 1)
        for name, value in zip(TERMS, coefficients):
            rates[name][dtype] = float(value)
    tables: dict[str, dict[str, int]] = {name: {} for name in (
        "code_flash_bytes", "layer_code_flash_bytes", "stack_bytes", "stacked_stack_bytes")}
    for key in CODE_KEYS:
        own = [(s, data) for s, _, data in counted if f"{s.arch.cell}_{s.arch.dtype}" == key]
        single = [s.flash_bytes - data for s, data in own if s.arch.layers == 1]
        code = _words(np.median(single))
        more = [(s.flash_bytes - data - code) / (s.arch.layers - 1) for s, data in own
                if s.arch.layers > 1]
        tables["code_flash_bytes"][key] = code
        tables["layer_code_flash_bytes"][key] = _words(max(0.0, np.median(more))) if more else 0
        stack = _words(max(s.stack_bytes for s, _ in own if s.arch.layers == 1))
        deeper = [s.stack_bytes - stack for s, _ in own if s.arch.layers > 1]
        tables["stack_bytes"][key] = stack  # the largest seen: never under the measurement
        tables["stacked_stack_bytes"][key] = _words(max(0, *deeper)) if deeper else 0
    runtime = Runtime(
        name="dse-c", reserve_flash_bytes=0, reserve_ram_bytes=0,
        macs_per_cycle={d: 1.0 / max(r, 1e-3) for d, r in rates["gate_macs"].items()},
        cycles_per_elementwise={d: max(r, 1e-3) for d, r in rates["elementwise"].items()},
        cycles_per_activation={d: max(r, 1e-3) for d, r in rates["activations"].items()},
        per_step_overhead_cycles=rates["steps"], per_op_overhead_cycles=rates["inference"],
        cycles_per_input=rates["inputs"], block_code_bytes=blocks, layout="dse-c",
        code_flash_bytes=tables["code_flash_bytes"],
        layer_code_flash_bytes=tables["layer_code_flash_bytes"],
        stack_bytes=tables["stack_bytes"], stacked_stack_bytes=tables["stacked_stack_bytes"])
    fitted = replace(profile, runtimes={"dse-c": runtime}, runtime="dse-c")
    reports = [estimate_batch(ArchBatch.from_architectures([s.arch]), fitted) for s in samples]
    return Fit(core=core, samples=len(samples), runtime=runtime, cycle_errors=_summary(errors),
               flash_errors=_summary([float(r.flash_bytes[0]) / s.flash_bytes - 1
                                      for r, s in zip(reports, samples)]),
               ram_errors=_summary([float(r.ram_bytes[0]) / (s.static_ram_bytes + s.stack_bytes)
                                    - 1 for r, s in zip(reports, samples)]))


def _words(size: float) -> int:
    """``size`` bytes rounded up to whole 4-byte words."""
    return int(4 * np.ceil(size / 4))


def _summary(errors: list[float]) -> dict[str, float]:
    magnitudes = np.abs(errors)
    return {"max": float(magnitudes.max()), "median": float(np.median(magnitudes))}


# --- the profile's [runtimes.dse-c] -------------------------------------------------------

def runtime_section(result: Fit, *, date: str) -> str:
    """The ``[runtimes.dse-c]`` tables of a profile file, each number with its provenance."""
    source = f"{FITTED} (dse calibrate, {result.core}, {result.samples} architectures, {date})"
    residuals = (f"cycle residual max {100 * result.cycle_errors['max']:.1f} %, median "
                 f"{100 * result.cycle_errors['median']:.1f} %; flash residual max "
                 f"{100 * result.flash_errors['max']:.1f} %; RAM residual max "
                 f"{100 * result.ram_errors['max']:.1f} %")
    lines = [
        "[runtimes.dse-c]",
        'description = "dse\'s exported C (dse export): no interpreter, state in a struct the '
        'caller owns"',
        'layout = "dse-c"',
        f'provenance = "{source}; {residuals}"',
        f"reserve_flash_bytes = 0   # {source}: the code is in code_flash_bytes",
        f"reserve_ram_bytes = 0   # {source}: the stack is in stack_bytes",
    ]
    for name, values in _tables(result.runtime):
        # rates to 4 significant digits; byte counts (whole numbers) as they are
        spec = "d" if all(isinstance(value, int) for value in values.values()) else ".4g"
        lines += ["", f"[runtimes.dse-c.{name}]"]
        lines += [f"{key} = {format(value, spec)}   # {source}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def _tables(runtime: Runtime) -> list[tuple[str, dict[str, Any]]]:
    """The runtime's tables (its per-dtype and per-network fields that are set), in the order
    :class:`Runtime` declares them."""
    return [(f.name, getattr(runtime, f.name)) for f in fields(Runtime)
            if isinstance(getattr(runtime, f.name), dict)]


_DSE_C = re.compile(r"^\[runtimes\.dse-c[.\]]")
_TABLE = re.compile(r"^\[")


def with_runtime_section(text: str, section: str) -> str:
    """A profile's text with its dse-c tables replaced by ``section`` (or added at the end)."""
    kept, inside = [], False
    for line in text.splitlines():
        if _TABLE.match(line):
            inside = bool(_DSE_C.match(line))
        if not inside:
            kept.append(line)
    return "\n".join(kept).rstrip() + "\n\n" + section


def calibrate(profiles: list[HardwareProfile], *, write: bool = False, workers: int | None = None,
              on_sample=None) -> list[tuple[HardwareProfile, Fit]]:  # noqa: ANN001
    """Fit each profile's core once (profiles on the same core share it); with ``write``,
    put the fitted ``[runtimes.dse-c]`` into each profile's file."""
    fits: dict[str, Fit] = {}
    results = []
    date = datetime.now(UTC).date().isoformat()
    for profile in profiles:
        core = core_of(profile)
        if core.name not in fits:
            samples = collect(core, grid(), workers=workers, on_sample=on_sample)
            fits[core.name] = fit(core.name, samples, profile)
        if write:
            path = Path(profile.path)
            path.write_text(with_runtime_section(path.read_text(), runtime_section(
                fits[core.name], date=date)))
        results.append((profile, fits[core.name]))
    return results
