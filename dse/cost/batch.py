"""The cost of many architectures at once (:func:`estimate_batch`): every formula of the cost
model written once, over numpy arrays of shape (N,) or (N, L)."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from dse.architecture import check_choice
from dse.cost.arrays import ArchBatch, padded, per_cell, per_dtype
from dse.cost.memory import dse_c_ram, kernel_code, peak_ram, per_network
from dse.cost.tables import (
    CONVENTIONS,
    DSE_C_BIAS_BYTES,
    DSE_C_BIASES,
    DSE_C_BLOCK,
    DSE_C_TABLE_BYTES,
    RAM_MODES,
    CellCounts,
    Convention,
    DtypeBytes,
    RamMode,
)
from dse.hardware import Budgets, HardwareProfile


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
    count = {f.name: per_cell(is_lstm, f.name) for f in fields(CellCounts)}
    nbytes = {f.name: per_dtype(dti, name=f.name) for f in fields(DtypeBytes)}
    quantized = (nbytes["quant_meta"] > 0)[:, None]  # (N, 1) the integer dtypes
    macs_per_cycle = per_dtype(dti, rt.macs_per_cycle)
    cycles_per_elementwise = per_dtype(dti, rt.cycles_per_elementwise)
    cycles_per_activation = per_dtype(dti, rt.cycles_per_activation)
    per_step = per_dtype(dti, rt.per_step_overhead_cycles)
    per_op = per_dtype(dti, rt.per_op_overhead_cycles)
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
    read = col("gates") * C * (padded(I, block) + padded(C, block)) * present  # (N, L)
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
                   + per_op + inputs * per_dtype(dti, rt.cycles_per_input))
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
        model_flash = (model_flash + per_network(rt.code_flash_bytes, is_lstm, dti)
                       + per_network(rt.layer_code_flash_bytes, is_lstm, dti) * (layer_count - 1)
                       + kernel_code(rt.block_code_bytes, is_lstm, dti, I, C))
    latency_cycles = layers.latency_cycles.sum(axis=1) + head.latency_cycles
    latency_ms = latency_cycles / profile.clock_hz * 1e3
    totals = {
        "flash_bytes": model_flash + rt.reserve_flash_bytes,
        "ram_bytes": (dse_c_ram(batch, I, count, nbytes)
                      + per_network(rt.stack_bytes, is_lstm, dti)
                      + per_network(rt.stacked_stack_bytes, is_lstm, dti) * (layer_count > 1)
                      if rt.layout == "dse-c" else
                      peak_ram(batch, count, nbytes, ram_mode)) + rt.reserve_ram_bytes,
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


def _constraints(totals: dict[str, np.ndarray], profile: HardwareProfile,
                 budgets: Budgets) -> dict[str, np.ndarray]:
    """Signed budgets: value minus limit, so > 0 is infeasible (optuna's convention)."""
    return {name: totals[name] - limit for name, limit in budgets.limits(profile).items()
            if limit is not None}
