"""The analytic cost model: parameters, MACC, flash, peak RAM, latency and energy.

Pure numpy, no optuna: the constraint layer of the search. Every formula is written once,
over numpy arrays of architectures (:func:`estimate_batch`, a whole search space at
once); :func:`estimate` is the same computation on a batch of one, plus the per-layer
table. Notation: F input features, C cells of a layer, I its input width (F for the first
layer, the previous layer's C after), T timesteps, K classes.

Conventions (docs/cost-model.md gives every formula with its source):

* ``macc`` is the seed article's headline number ("Insights into LSTM architecture"),
  which STM32Cube.AI reports too: the bias rides along as one more input column and the
  point-wise update counts C per step::

      LSTM layer:  ((I + C + 1) * 4C + C) * T
      GRU layer:   ((I + C + 2) * 3C + C) * T     (reset_after: two bias columns)
      Dense head:  (C_L + 1) * K

* The operation breakdown (:class:`Ops`) is the honest count the latency model uses.
* Flash and RAM follow the runtime's layout. ``tflm`` (TFLite Micro with CMSIS-NN kernels):
  int8 = int8 weights, int32 biases; int16 = 16x8 (int8 weights, int16 activations, int64
  biases); float32 = 4 bytes everywhere; a scale and zero point per quantized tensor; the
  arena's feature maps and scratch. ``dse-c`` (the exported C): the weights as const arrays
  (the integer kernels' rows zero-padded to whole blocks of 4 columns, and those padded
  columns are multiplied too), int32 biases, a small descriptor per layer, the sigmoid/tanh
  tables, the input's statistics; in RAM only the caller's state struct (it always runs step
  by step).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Literal

import numpy as np

from dse.architecture import DTYPES, Architecture, check_choice
from dse.hardware import Budgets, HardwareProfile

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
    kernel_sum_vectors: int  # TFLM's fused int LSTM precomputes 8C kernel sums (docs/cost-model.md)
    tensors: int  # quantized tensors, each with a scale and zero point (LSTM 8 W + 4 b)


CELL_COUNTS = {
    "lstm": CellCounts(4, 4, 8, 3, 1, 3, 2, 2, 8, 12),
    "gru": CellCounts(3, 6, 6, 3, 2, 2, 1, 1, 0, 4),
}


# The exported C (docs/export.md): per layer 4 bias vectors of C (LSTM 4 gates; GRU 3 + b_hn),
# int32 or float, 4 bytes each; the integer kernels read the columns of the input and of the
# hidden state in zero-padded blocks of DSE_C_BLOCK; a struct layer descriptor per layer
# (integer: 52 + 16 bytes per gate; float: 28); two 256-entry int32 tables (sigmoid, tanh).
DSE_C_BIASES = 4
DSE_C_BIAS_BYTES = 4
DSE_C_BLOCK = 4
DSE_C_TABLE_BYTES = 2 * 256 * 4


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
    """A per-dtype number for every row, from a runtime table or a DtypeBytes field."""
    table = values if values is not None else {d: getattr(DTYPE_BYTES[d], name) for d in DTYPES}
    return np.array([table[d] for d in DTYPES], dtype=np.float64)[dtype_index]


@dataclass(frozen=True)
class PartCost:
    """The cost of one part of every architecture: its layers, arrays of shape (N, L) with 0
    where a row has fewer layers, or its dense head, arrays of shape (N,)."""

    params: np.ndarray
    macc: np.ndarray
    flash_bytes: np.ndarray
    latency_cycles: np.ndarray
    latency_ms: np.ndarray
    ops: dict[str, np.ndarray]  # Ops field -> array


@dataclass(frozen=True)
class BatchCost:
    """The cost of every architecture of a batch: (N,) arrays, plus the parts they sum."""

    params: np.ndarray
    macc: np.ndarray
    flash_bytes: np.ndarray  # model + the runtime's reserve
    model_flash_bytes: np.ndarray
    ram_bytes: np.ndarray  # peak + the runtime's reserve
    latency_cycles: np.ndarray
    latency_ms: np.ndarray
    energy_uj: np.ndarray
    ops: dict[str, np.ndarray]  # Ops field -> (N,)
    layers: PartCost
    head: PartCost
    layer_output_bytes: np.ndarray  # (N, L) the feature map each layer writes
    constraints: dict[str, np.ndarray]  # budget -> value minus limit: > 0 violates

    @property
    def fits(self) -> np.ndarray:
        """(N,) True where no budget is exceeded."""
        return np.all([c <= 0 for c in self.constraints.values()], axis=0)


def estimate_batch(
    batch: ArchBatch,
    profile: HardwareProfile,
    *,
    runtime: str | None = None,
    convention: Convention = "keras",
    ram_mode: RamMode = "window",
    budgets: Budgets | None = None,
) -> BatchCost:
    """Cost of every architecture in ``batch`` on ``profile`` with one of its runtimes
    (its default when None). ``budgets`` default to the profile's own."""
    check_choice("convention", convention, CONVENTIONS)
    check_choice("RAM mode", ram_mode, RAM_MODES)
    rt = profile.runtime_named(runtime)
    n_rows, n_layers = batch.cells.shape
    T, K = batch.timesteps, batch.classes
    is_lstm, dti = batch.is_lstm, batch.dtype_index
    count = {f.name: _per_cell(is_lstm, f.name) for f in fields(CellCounts)}
    nbytes = {f.name: _per_dtype(dti, name=f.name) for f in fields(DtypeBytes)}
    quantized = (nbytes["quant_meta"] > 0)[:, None]  # (N, 1) the integer dtypes
    macs_per_cycle = _per_dtype(dti, rt.macs_per_cycle)
    cycles_per_elementwise = _per_dtype(dti, rt.cycles_per_elementwise)
    cycles_per_activation = _per_dtype(dti, rt.cycles_per_activation)
    per_step = _per_dtype(dti, rt.per_step_overhead_cycles)
    per_op = _per_dtype(dti, rt.per_op_overhead_cycles)
    gru_step = (rt.gru_ops_per_step * per_op if rt.gru_ops_per_step
                else per_step)  # no fused GRU kernel: one op per piece
    step_overhead = np.where(is_lstm, per_step, gru_step)
    biases = count["pytorch_biases" if convention == "pytorch" else "keras_biases"]

    C = batch.cells  # (N, L)
    present = C > 0
    I = np.concatenate([np.full((n_rows, 1), batch.features), C[:, :-1]], axis=1)  # noqa: E741
    last_cells = C[np.arange(n_rows), present.sum(axis=1) - 1]  # (N,) C_L
    col = lambda name: count[name][:, None]  # noqa: E731  (N, 1) for broadcasting over layers

    weights = col("gates") * C * (I + C)  # (N, L)
    # the weights a step reads: the exported C's integer kernels pad each part to whole blocks
    block = np.where(quantized, DSE_C_BLOCK, 1) if rt.layout == "dse-c" else np.ones_like(C)
    read = col("gates") * C * (_padded(I, block) + _padded(C, block)) * present  # (N, L)
    per_step = {
        "gate_macs": weights,
        "bias_adds": col("keras_biases") * C,
        "pointwise_mults": col("pointwise_mults") * C,
        "pointwise_adds": col("pointwise_adds") * C,
        "sigmoid": col("sigmoids") * C,
        "tanh": col("tanhs") * C,
    }
    layer_ops = {name: value * T for name, value in per_step.items()}  # (N, L)
    layer_ops["input_scaling"] = np.zeros_like(C)
    layer_cycles = (
        read * T / macs_per_cycle[:, None]
        + (layer_ops["bias_adds"] + layer_ops["pointwise_mults"] + layer_ops["pointwise_adds"])
        * cycles_per_elementwise[:, None]
        + (layer_ops["sigmoid"] + layer_ops["tanh"]) * cycles_per_activation[:, None]
        + present * T * step_overhead[:, None]
    )
    if rt.layout == "dse-c":  # const arrays and a descriptor (int: 2 requant pairs per gate)
        layer_flash = (read * nbytes["weight"][:, None] + DSE_C_BIASES * C * DSE_C_BIAS_BYTES
                       + present * np.where(quantized, 52 + 16 * col("gates"), 28))
    else:
        layer_flash = (weights * nbytes["weight"][:, None]
                       + biases[:, None] * C * nbytes["bias"][:, None]
                       + present * col("tensors") * nbytes["quant_meta"][:, None])
    layers = PartCost(
        params=weights + biases[:, None] * C,
        macc=(weights + col("keras_biases") * C + C) * T,
        flash_bytes=layer_flash,
        latency_cycles=layer_cycles,
        latency_ms=layer_cycles / profile.clock_hz * 1e3,
        ops=layer_ops,
    )
    inputs = T * batch.features
    head_cycles = (K * last_cells / macs_per_cycle + K * cycles_per_elementwise
                   + per_op + inputs * _per_dtype(dti, rt.cycles_per_input))
    zeros = np.zeros(n_rows, dtype=np.int64)
    head_weights = K * last_cells * nbytes["weight"] + K * nbytes["bias"]
    if rt.layout == "dse-c":  # + the output scale, the input's mean and multiplier, tables
        head_flash = (head_weights + 4 * quantized[:, 0] + 8 * batch.features
                      + DSE_C_TABLE_BYTES * quantized[:, 0])
    else:
        head_flash = head_weights + 2 * nbytes["quant_meta"]
    head = PartCost(  # dense head on the last step: K x C_L weights, K biases, one op
        params=K * (last_cells + 1),
        macc=(last_cells + 1) * K,
        flash_bytes=head_flash,
        latency_cycles=head_cycles,
        latency_ms=head_cycles / profile.clock_hz * 1e3,
        ops={"gate_macs": K * last_cells, "bias_adds": zeros + K, "pointwise_mults": zeros,
             "pointwise_adds": zeros, "sigmoid": zeros, "tanh": zeros,
             "input_scaling": zeros + inputs},
    )
    model_flash = layers.flash_bytes.sum(axis=1) + head.flash_bytes
    layer_count = present.sum(axis=1)
    if rt.layout == "dse-c":  # the exported C's own code, by cell type and dtype
        model_flash = (model_flash + _per_network(rt.code_flash_bytes, is_lstm, dti)
                       + _per_network(rt.layer_code_flash_bytes, is_lstm, dti) * (layer_count - 1)
                       + _kernel_code(rt.block_code_bytes, is_lstm, dti, I, C))
    latency_cycles = layers.latency_cycles.sum(axis=1) + head.latency_cycles
    latency_ms = latency_cycles / profile.clock_hz * 1e3
    totals = {
        "flash_bytes": model_flash + rt.reserve_flash_bytes,
        "ram_bytes": (_dse_c_ram(batch, I, count, nbytes)
                      + _per_network(rt.stack_bytes, is_lstm, dti)
                      + _per_network(rt.stacked_stack_bytes, is_lstm, dti) * (layer_count > 1)
                      if rt.layout == "dse-c" else
                      _peak_ram(batch, count, nbytes, ram_mode)) + rt.reserve_ram_bytes,
        "latency_ms": latency_ms,
        "energy_uj": latency_ms * profile.active_power_mw,  # ms x mW = uJ
    }
    return BatchCost(
        params=layers.params.sum(axis=1) + head.params,
        macc=layers.macc.sum(axis=1) + head.macc,
        model_flash_bytes=model_flash,
        latency_cycles=latency_cycles,
        ops={name: layer_ops[name].sum(axis=1) + head.ops[name] for name in layer_ops},
        layers=layers,
        head=head,
        layer_output_bytes=T * C * nbytes["activation"][:, None],
        constraints=_constraints(totals, profile, (budgets or Budgets()).over(profile.budgets)),
        **totals,
    )


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


def _per_network(table: dict[str, int] | None, is_lstm: np.ndarray,
                 dtype_index: np.ndarray) -> np.ndarray:
    """A fitted figure of the exported C by cell type and dtype, for every row (0 if none)."""
    keys = [f"{'lstm' if lstm else 'gru'}_{DTYPES[d]}" for lstm, d in zip(is_lstm, dtype_index)]
    return np.array([(table or {}).get(k, 0) for k in keys])


def _kernel_code(block_bytes: dict[str, int] | None, is_lstm: np.ndarray,
                 dtype_index: np.ndarray, I: np.ndarray, C: np.ndarray) -> np.ndarray:  # noqa: E741
    """The gate-sum assembly each layer's step instantiates (each layer is compiled with its
    own block counts): per call over B blocks of 4 columns, a 4-block loop if B >= 4, a 2-block
    and a 1-block pass where B's bits ask for them. An int8 LSTM sums [x | h] in one call, the
    other integer steps x and h in two."""
    per_block = _per_network(block_bytes, is_lstm, dtype_index)[:, None]  # (N, 1)

    def blocks(B: np.ndarray) -> np.ndarray:  # the blocks of assembly a call over B has
        return 4 * (B >= 4) + 2 * ((B & 2) > 0) + (B & 1)

    x, h = (_padded(n, np.array(DSE_C_BLOCK)) // DSE_C_BLOCK for n in (I, C))
    one_call = (is_lstm & (dtype_index == DTYPES.index("int8")))[:, None]
    units = np.where(one_call, blocks(x + h), blocks(x) + blocks(h)) * (C > 0)
    return (units * per_block).sum(axis=1)


def _padded(n: np.ndarray, block: np.ndarray) -> np.ndarray:
    """``n`` rounded up to whole blocks."""
    return -(-n // block) * block


def _dse_c_ram(batch: ArchBatch, I: np.ndarray, count: dict,  # noqa: E741
               nbytes: dict) -> np.ndarray:
    """The exported C's state struct, without the runtime reserve (its stack): a step
    counter, and per layer its [x | h] vector for this step and the next (int16 for the
    integer dtypes, in whole blocks; float for float32) and an LSTM's cell state. The C
    runs step by step, so this holds in either RAM mode; the window the caller passes to
    predict is the caller's."""
    C = batch.cells  # (N, L)
    quantized = (nbytes["quant_meta"] > 0)[:, None]
    block, element = np.where(quantized, DSE_C_BLOCK, 1), np.where(quantized, 2, 4)
    vectors = 2 * (_padded(I, block) + _padded(C, block)) * element * (C > 0)
    cells = (count["state_vectors"][:, None] - 1) * C * nbytes["cell_state"][:, None]
    return _padded(4 + (vectors + cells).sum(axis=1), np.array(4))


def _constraints(totals: dict[str, np.ndarray], profile: HardwareProfile,
                 budgets: Budgets) -> dict[str, np.ndarray]:
    """Signed budgets: value minus limit, so > 0 is infeasible (optuna's convention)."""
    return {name: totals[name] - limit for name, limit in budgets.limits(profile).items()
            if limit is not None}


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
