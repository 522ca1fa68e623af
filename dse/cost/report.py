"""The cost of one architecture (:func:`estimate`): the batch computation on a batch of one,
as a :class:`CostReport` with its operation breakdown (:class:`Ops`) and per-layer table."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from dse.architecture import Architecture
from dse.cost.arrays import ArchBatch
from dse.cost.batch import estimate_batch
from dse.cost.tables import DTYPE_BYTES, Convention, RamMode
from dse.hardware import Budgets, HardwareProfile


@dataclass(frozen=True)
class Ops:
    """Operations of one inference (all timesteps)."""

    gate_macs: int
    bias_adds: int
    pointwise_mults: int
    pointwise_adds: int
    sigmoid: int
    tanh: int
    input_scaling: int = 0  # input values standardized and quantized (T x F)

    @property
    def elementwise(self) -> int:
        return self.bias_adds + self.pointwise_mults + self.pointwise_adds

    @property
    def activations(self) -> int:
        return self.sigmoid + self.tanh


@dataclass(frozen=True)
class LayerCost:
    """One row of the per-layer table (``dse cost``)."""

    name: str
    inputs: int
    cells: int
    params: int
    macc: int
    flash_bytes: int  # weights, biases and quantization metadata of this layer
    output_bytes: int  # the feature map this layer writes
    latency_ms: float
    ops: Ops


@dataclass(frozen=True)
class CostReport:
    """The cost of one architecture on one profile. ``constraints``: > 0 violates."""

    arch: str
    dtype: str
    profile: str
    runtime: str
    basis: str  # "fitted to emulation" (the runtime's constants) or "estimate"
    convention: str
    ram_mode: str
    params: int
    macc: int
    flash_bytes: int  # model + the runtime's reserve
    model_flash_bytes: int
    ram_bytes: int  # peak + the runtime's reserve
    latency_cycles: float
    latency_ms: float
    energy_uj: float
    ops: Ops
    layers: tuple[LayerCost, ...]
    constraints: dict[str, float]

    @property
    def violations(self) -> dict[str, float]:
        """The budgets this architecture exceeds, and by how much (in their units)."""
        return {name: amount for name, amount in self.constraints.items() if amount > 0}

    @property
    def fits(self) -> bool:
        return not self.violations

    def to_dict(self) -> dict:
        """Plain JSON-ready data (the ``dse cost --json`` object)."""
        data = asdict(self)
        data["ops"] = _ops_dict(self.ops)
        data["layers"] = [dict(asdict(layer), ops=_ops_dict(layer.ops)) for layer in self.layers]
        data["violations"] = self.violations
        data["fits"] = self.fits
        return data


def _ops_dict(ops: Ops) -> dict[str, int]:
    return {f.name: getattr(ops, f.name) for f in fields(ops)}


def estimate(
    arch: Architecture,
    profile: HardwareProfile,
    *,
    runtime: str | None = None,
    convention: Convention = "keras",
    ram_mode: RamMode = "window",
    budgets: Budgets | None = None,
) -> CostReport:
    """Cost of one architecture on one profile, with the per-layer breakdown."""
    cost = estimate_batch(ArchBatch.from_architectures([arch]), profile, runtime=runtime,
                          convention=convention, ram_mode=ram_mode, budgets=budgets)
    layers = [
        LayerCost(
            name=f"{arch.cell}_{index + 1}",
            inputs=inputs,
            cells=cells,
            params=int(cost.layers.params[0, index]),
            macc=int(cost.layers.macc[0, index]),
            flash_bytes=int(cost.layers.flash_bytes[0, index]),
            output_bytes=int(cost.layer_output_bytes[0, index]),
            latency_ms=float(cost.layers.latency_ms[0, index]),
            ops=Ops(**{name: int(value[0, index]) for name, value in cost.layers.ops.items()}),
        )
        for index, (inputs, cells) in enumerate(zip(arch.layer_inputs(), arch.cells))
    ]
    layers.append(LayerCost(
        name="dense",
        inputs=arch.cells[-1],
        cells=arch.classes,
        params=int(cost.head.params[0]),
        macc=int(cost.head.macc[0]),
        flash_bytes=int(cost.head.flash_bytes[0]),
        output_bytes=arch.classes * DTYPE_BYTES[arch.dtype].activation,
        latency_ms=float(cost.head.latency_ms[0]),
        ops=Ops(**{name: int(value[0]) for name, value in cost.head.ops.items()}),
    ))
    return CostReport(
        arch=arch.text,
        dtype=arch.dtype,
        profile=profile.name,
        runtime=profile.runtime_named(runtime).name,
        basis=profile.runtime_named(runtime).basis,
        convention=convention,
        ram_mode=ram_mode,
        params=int(cost.params[0]),
        macc=int(cost.macc[0]),
        flash_bytes=int(cost.flash_bytes[0]),
        model_flash_bytes=int(cost.model_flash_bytes[0]),
        ram_bytes=int(cost.ram_bytes[0]),
        latency_cycles=float(cost.latency_cycles[0]),
        latency_ms=float(cost.latency_ms[0]),
        energy_uj=float(cost.energy_uj[0]),
        ops=Ops(**{name: int(value[0]) for name, value in cost.ops.items()}),
        layers=tuple(layers),
        constraints={name: float(value[0]) for name, value in cost.constraints.items()},
    )
