"""The cost model's constants: per-cell-type counts, bytes per dtype, the exported C's fixed
sizes, and the names of the model's options. Data only; the formulas live in
:mod:`dse.cost.batch` and :mod:`dse.cost.memory`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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
