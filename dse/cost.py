"""The analytic cost model: parameters, MACC, flash, peak RAM, latency and energy.

Pure numpy, no optuna: the constraint layer of the search. Every formula is written once,
over numpy arrays of architectures (:func:`estimate_batch`, a whole search space at
once); :func:`estimate` is the same computation on a batch of one, plus the per-layer
table. Notation: F input features, C cells of a layer, I its input width (F for the first
layer, the previous layer's C after), T timesteps, K classes.

Conventions (see DESIGN.md section 3):

* ``macc`` is the seed article's headline number ("Insights into LSTM architecture"),
  which STM32Cube.AI reports too: the bias rides along as one more input column and the
  point-wise update counts C per step::

      LSTM layer:  ((I + C + 1) * 4C + C) * T
      GRU layer:   ((I + C + 2) * 3C + C) * T     (reset_after: two bias columns)
      Dense head:  (C_L + 1) * K

* The operation breakdown (:class:`Ops`) is the honest count the latency model uses.
* Flash and RAM follow TFLite Micro with CMSIS-NN kernels (FACTS.md): int8 = int8
  weights, int32 biases; int16 = 16x8 (int8 weights, int16 activations, int64 biases);
  float32 = 4 bytes everywhere.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Literal

import numpy as np

from dse.architecture import DTYPES, Architecture, check_choice
from dse.hardware import HardwareProfile

Convention = Literal["keras", "pytorch"]
RamMode = Literal["window", "streaming"]
CONVENTIONS: tuple[str, ...] = ("keras", "pytorch")
RAM_MODES: tuple[str, ...] = ("window", "streaming")
OBJECTIVE_COLUMNS = ("params", "macc", "flash_bytes", "ram_bytes", "latency_ms", "energy_uj")


@dataclass(frozen=True)
class CellCounts:
    """Per-cell-type constants; every count is per cell (C) unless it says otherwise."""

    gates: int  # weight matrices of shape (I + C) x C: LSTM i,f,g,o; GRU r,z,n
    keras_biases: int  # bias vectors, Keras: LSTM 4; GRU reset_after 6 (input + recurrent)
    pytorch_biases: int  # bias vectors, PyTorch: LSTM 8 (b_ih + b_hh); GRU 6
    pointwise_mults: int  # LSTM f*c, i*g, o*tanh(c); GRU r*(Uh+b), z*h, (1-z)*n
    pointwise_adds: int  # LSTM c = f*c + i*g; GRU 1 - z and the final sum
    sigmoids: int  # LSTM i, f, o; GRU r, z
    tanhs: int  # LSTM g and tanh(c); GRU n
    state_vectors: int  # LSTM h and c; GRU h
    kernel_sum_vectors: int  # TFLM's fused int LSTM precomputes 8C kernel sums (FACTS.md)
    tensors: int  # quantized tensors, each with a scale and zero point (LSTM 8 W + 4 b)


CELL_COUNTS = {
    "lstm": CellCounts(4, 4, 8, 3, 1, 3, 2, 2, 8, 12),
    "gru": CellCounts(3, 6, 6, 3, 2, 2, 1, 1, 0, 4),
}


@dataclass(frozen=True)
class DtypeBytes:
    """Bytes per element of each tensor kind when deployed in this dtype."""

    weight: int
    bias: int
    activation: int  # layer inputs and outputs (feature maps) and the hidden state h
    cell_state: int  # LSTM c (int16 in CMSIS-NN's int8 and 16x8 kernels)
    gate: int  # gate scratch (int16 gate outputs in CMSIS-NN)
    quant_meta: int  # per quantized tensor: float32 scale + int32 zero point


DTYPE_BYTES = {
    "int8": DtypeBytes(weight=1, bias=4, activation=1, cell_state=2, gate=2, quant_meta=8),
    "int16": DtypeBytes(weight=1, bias=8, activation=2, cell_state=2, gate=2, quant_meta=8),
    "float32": DtypeBytes(weight=4, bias=4, activation=4, cell_state=4, gate=4, quant_meta=0),
}


@dataclass(frozen=True)
class Ops:
    """Operations of one inference (all timesteps)."""

    gate_macs: int
    bias_adds: int
    pointwise_mults: int
    pointwise_adds: int
    sigmoid: int
    tanh: int

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
    convention: str
    ram_mode: str
    params: int
    macc: int
    flash_bytes: int  # model + the profile's runtime reserve
    model_flash_bytes: int
    ram_bytes: int  # peak, + the profile's runtime reserve
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


@dataclass(frozen=True)
class ArchBatch:
    """Architectures as arrays: N rows, layers padded with 0 cells up to the widest."""

    is_lstm: np.ndarray  # (N,) bool
    cells: np.ndarray  # (N, L) int64, 0 where a row has fewer layers
    dtype_index: np.ndarray  # (N,) int, index into DTYPES
    features: int
    timesteps: int
    classes: int

    @classmethod
    def from_architectures(cls, archs: list[Architecture]) -> ArchBatch:
        """Stack architectures that share one task shape (F, T, K)."""
        first = archs[0]
        shapes = {(a.features, a.timesteps, a.classes) for a in archs}
        if len(shapes) != 1:
            raise ValueError(f"A batch needs one task shape (F, T, K); got {sorted(shapes)}.")
        cells = np.zeros((len(archs), max(a.layers for a in archs)), dtype=np.int64)
        for row, arch in enumerate(archs):
            cells[row, : arch.layers] = arch.cells
        return cls(
            is_lstm=np.array([a.cell == "lstm" for a in archs]),
            cells=cells,
            dtype_index=np.array([DTYPES.index(a.dtype) for a in archs]),
            features=first.features,
            timesteps=first.timesteps,
            classes=first.classes,
        )


def _per_cell(is_lstm: np.ndarray, name: str) -> np.ndarray:
    """One CellCounts field for every row: the LSTM value where is_lstm, else the GRU one."""
    return np.where(is_lstm, getattr(CELL_COUNTS["lstm"], name), getattr(CELL_COUNTS["gru"], name))


def _per_dtype(dtype_index: np.ndarray, values: dict[str, float] | None = None, name: str = ""):
    """A per-dtype number for every row, from a profile table or a DtypeBytes field."""
    table = values if values is not None else {d: getattr(DTYPE_BYTES[d], name) for d in DTYPES}
    return np.array([table[d] for d in DTYPES], dtype=np.float64)[dtype_index]


def estimate_batch(
    batch: ArchBatch,
    profile: HardwareProfile,
    *,
    convention: Convention = "keras",
    ram_mode: RamMode = "window",
    max_latency_ms: float | None = None,
    max_energy_uj: float | None = None,
) -> dict[str, np.ndarray]:
    """Cost of every architecture in ``batch``: a dict of (N,) arrays, plus (N, L) per layer.

    Keys: params, macc, flash_bytes, model_flash_bytes, ram_bytes, latency_cycles,
    latency_ms, energy_uj, the Ops fields, ``layer_*`` (N, L) arrays and ``constraint_*``
    (> 0 violates). Budgets default to the profile's own.
    """
    check_choice("convention", convention, CONVENTIONS)
    check_choice("RAM mode", ram_mode, RAM_MODES)
    n_rows, n_layers = batch.cells.shape
    T, K = batch.timesteps, batch.classes
    is_lstm, dti = batch.is_lstm, batch.dtype_index
    count = {f.name: _per_cell(is_lstm, f.name) for f in fields(CellCounts)}
    nbytes = {f.name: _per_dtype(dti, name=f.name) for f in fields(DtypeBytes)}
    macs_per_cycle = _per_dtype(dti, profile.macs_per_cycle)
    cycles_per_elementwise = _per_dtype(dti, profile.cycles_per_elementwise)
    cycles_per_activation = _per_dtype(dti, profile.cycles_per_activation)
    step_overhead = np.where(
        is_lstm,
        profile.per_step_overhead_cycles,
        profile.gru_ops_per_step * profile.per_op_overhead_cycles,
    )
    biases = count["pytorch_biases" if convention == "pytorch" else "keras_biases"]

    C = batch.cells  # (N, L)
    present = C > 0
    I = np.concatenate([np.full((n_rows, 1), batch.features), C[:, :-1]], axis=1)  # noqa: E741
    last_cells = C[np.arange(n_rows), present.sum(axis=1) - 1]  # (N,) C_L
    col = lambda name: count[name][:, None]  # noqa: E731  (N, 1) for broadcasting over layers

    weights = col("gates") * C * (I + C)  # (N, L)
    per_step = {
        "gate_macs": weights,
        "bias_adds": col("keras_biases") * C,
        "pointwise_mults": col("pointwise_mults") * C,
        "pointwise_adds": col("pointwise_adds") * C,
        "sigmoid": col("sigmoids") * C,
        "tanh": col("tanhs") * C,
    }
    layer_ops = {name: value * T for name, value in per_step.items()}  # (N, L)
    layer = {
        "params": weights + biases[:, None] * C,
        "macc": (weights + col("keras_biases") * C + C) * T,
        "flash_bytes": weights * nbytes["weight"][:, None]
        + biases[:, None] * C * nbytes["bias"][:, None]
        + present * col("tensors") * nbytes["quant_meta"][:, None],
        "latency_cycles": layer_ops["gate_macs"] / macs_per_cycle[:, None]
        + (layer_ops["bias_adds"] + layer_ops["pointwise_mults"] + layer_ops["pointwise_adds"])
        * cycles_per_elementwise[:, None]
        + (layer_ops["sigmoid"] + layer_ops["tanh"]) * cycles_per_activation[:, None]
        + present * T * step_overhead[:, None],
    }
    head = {  # dense head on the last step: K x C_L weights, K biases, one op
        "params": K * (last_cells + 1),
        "macc": (last_cells + 1) * K,
        "flash_bytes": K * last_cells * nbytes["weight"] + K * nbytes["bias"]
        + 2 * nbytes["quant_meta"],
        "latency_cycles": K * last_cells / macs_per_cycle
        + K * cycles_per_elementwise
        + profile.per_op_overhead_cycles,
    }
    out: dict[str, np.ndarray] = {
        name: layer[name].sum(axis=1) + head[name] for name in layer
    }
    for name in layer_ops:
        out[name] = layer_ops[name].sum(axis=1)
    out["gate_macs"] = out["gate_macs"] + K * last_cells
    out["bias_adds"] = out["bias_adds"] + K

    out["model_flash_bytes"] = out.pop("flash_bytes")
    out["flash_bytes"] = out["model_flash_bytes"] + profile.reserve_flash_bytes
    out["ram_bytes"] = _peak_ram(batch, count, nbytes, ram_mode) + profile.reserve_ram_bytes
    out["latency_ms"] = out["latency_cycles"] / profile.clock_hz * 1e3
    out["energy_uj"] = out["latency_ms"] * profile.active_power_mw  # ms x mW = uJ
    for name, value in {**layer, **layer_ops}.items():
        out[f"layer_{name}"] = value
    for name, value in head.items():
        out[f"head_{name}"] = value
    out["layer_latency_ms"] = layer["latency_cycles"] / profile.clock_hz * 1e3
    out["head_latency_ms"] = head["latency_cycles"] / profile.clock_hz * 1e3
    out["layer_output_bytes"] = T * C * nbytes["activation"][:, None]
    out.update(
        _constraints(out, profile, max_latency_ms=max_latency_ms, max_energy_uj=max_energy_uj)
    )
    return out


def _peak_ram(batch: ArchBatch, count: dict, nbytes: dict, ram_mode: str) -> np.ndarray:
    """Peak RAM in bytes, without the runtime reserve.

    Persistent in TFLM's arena for every layer: the recurrent state (h in activation
    bytes, LSTM c in cell-state bytes) and, for the fused int LSTM, 8C kernel sums of
    bias width. Reused between layers: the gate scratch (gates x C x gate bytes), so only
    the largest counts. Feature maps: in ``window`` mode the seed's rule, the largest sum
    of two consecutive maps (input T*F, each layer's output T*C, the head's K); in
    ``streaming`` mode one timestep of each instead.
    """
    C = batch.cells  # (N, L)
    act = nbytes["activation"][:, None]
    h_and_c = C * (act + (count["state_vectors"][:, None] - 1) * nbytes["cell_state"][:, None])
    quantized = (nbytes["quant_meta"] > 0)[:, None]
    kernel_sums = quantized * count["kernel_sum_vectors"][:, None] * C * nbytes["bias"][:, None]
    persistent = (h_and_c + kernel_sums).sum(axis=1)
    scratch = (count["gates"][:, None] * C * nbytes["gate"][:, None]).max(axis=1)

    steps = batch.timesteps if ram_mode == "window" else 1
    n_rows = C.shape[0]
    maps = np.concatenate(  # (N, L + 2): input, each layer's output, the head's logits
        [np.full((n_rows, 1), steps * batch.features), steps * C, np.zeros((n_rows, 1))], axis=1
    )
    last = (C > 0).sum(axis=1)  # the head's map sits right after the last present layer
    maps[np.arange(n_rows), last + 1] = batch.classes
    pairs = (maps[:, :-1] + maps[:, 1:]) * nbytes["activation"][:, None]
    return pairs.max(axis=1) + persistent + scratch


def _constraints(
    out: dict[str, np.ndarray],
    profile: HardwareProfile,
    *,
    max_latency_ms: float | None,
    max_energy_uj: float | None,
) -> dict[str, np.ndarray]:
    """Signed budgets: value minus limit, so > 0 is infeasible (optuna's convention)."""
    constraints = {
        "constraint_flash_bytes": out["flash_bytes"] - profile.flash_bytes,
        "constraint_ram_bytes": out["ram_bytes"] - profile.ram_bytes,
    }
    max_latency_ms = max_latency_ms if max_latency_ms is not None else profile.max_latency_ms
    max_energy_uj = max_energy_uj if max_energy_uj is not None else profile.max_energy_uj
    if max_latency_ms is not None:
        constraints["constraint_latency_ms"] = out["latency_ms"] - max_latency_ms
    if max_energy_uj is not None:
        constraints["constraint_energy_uj"] = out["energy_uj"] - max_energy_uj
    return constraints


def estimate(
    arch: Architecture,
    profile: HardwareProfile,
    *,
    convention: Convention = "keras",
    ram_mode: RamMode = "window",
    max_latency_ms: float | None = None,
    max_energy_uj: float | None = None,
) -> CostReport:
    """Cost of one architecture on one profile, with the per-layer breakdown."""
    batch = ArchBatch.from_architectures([arch])
    out = {
        key: value[0]
        for key, value in estimate_batch(
            batch,
            profile,
            convention=convention,
            ram_mode=ram_mode,
            max_latency_ms=max_latency_ms,
            max_energy_uj=max_energy_uj,
        ).items()
    }
    ops_names = [f.name for f in fields(Ops)]
    layers = [
        LayerCost(
            name=f"{arch.cell}_{index + 1}",
            inputs=inputs,
            cells=cells,
            params=int(out["layer_params"][index]),
            macc=int(out["layer_macc"][index]),
            flash_bytes=int(out["layer_flash_bytes"][index]),
            output_bytes=int(out["layer_output_bytes"][index]),
            latency_ms=float(out["layer_latency_ms"][index]),
            ops=Ops(**{name: int(out[f"layer_{name}"][index]) for name in ops_names}),
        )
        for index, (inputs, cells) in enumerate(zip(arch.layer_inputs(), arch.cells))
    ]
    layers.append(
        LayerCost(
            name="dense",
            inputs=arch.cells[-1],
            cells=arch.classes,
            params=int(out["head_params"]),
            macc=int(out["head_macc"]),
            flash_bytes=int(out["head_flash_bytes"]),
            output_bytes=arch.classes * DTYPE_BYTES[arch.dtype].activation,
            latency_ms=float(out["head_latency_ms"]),
            ops=Ops(
                gate_macs=arch.classes * arch.cells[-1],
                bias_adds=arch.classes,
                pointwise_mults=0,
                pointwise_adds=0,
                sigmoid=0,
                tanh=0,
            ),
        )
    )
    return CostReport(
        arch=arch.text,
        dtype=arch.dtype,
        profile=profile.name,
        convention=convention,
        ram_mode=ram_mode,
        params=int(out["params"]),
        macc=int(out["macc"]),
        flash_bytes=int(out["flash_bytes"]),
        model_flash_bytes=int(out["model_flash_bytes"]),
        ram_bytes=int(out["ram_bytes"]),
        latency_cycles=float(out["latency_cycles"]),
        latency_ms=float(out["latency_ms"]),
        energy_uj=float(out["energy_uj"]),
        ops=Ops(**{name: int(out[name]) for name in ops_names}),
        layers=tuple(layers),
        constraints={
            key.removeprefix("constraint_"): float(value)
            for key, value in out.items()
            if key.startswith("constraint_")
        },
    )
