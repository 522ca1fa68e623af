"""Where a network's bytes go besides its weights: the peak RAM of TFLite Micro's arena, the
exported C's state struct, and the exported C's code (fitted per cell type and dtype, plus
the gate-sum assembly each layer instantiates). Pure numpy over :class:`ArchBatch` rows."""

from __future__ import annotations

import numpy as np

from dse.architecture import DTYPES
from dse.cost.arrays import ArchBatch, padded
from dse.cost.tables import DSE_C_BLOCK


def per_network(table: dict[str, int] | None, is_lstm: np.ndarray,
                 dtype_index: np.ndarray) -> np.ndarray:
    """A fitted figure of the exported C by cell type and dtype, for every row (0 if none)."""
    keys = [f"{'lstm' if lstm else 'gru'}_{DTYPES[d]}" for lstm, d in zip(is_lstm, dtype_index)]
    return np.array([(table or {}).get(k, 0) for k in keys])


def peak_ram(batch: ArchBatch, count: dict, nbytes: dict, ram_mode: str) -> np.ndarray:
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


def kernel_code(block_bytes: dict[str, int] | None, is_lstm: np.ndarray,
                 dtype_index: np.ndarray, I: np.ndarray, C: np.ndarray) -> np.ndarray:  # noqa: E741
    """The gate-sum assembly each layer's step instantiates (each layer is compiled with its
    own block counts): per call over B blocks of 4 columns, a 4-block loop if B >= 4, a 2-block
    and a 1-block pass where B's bits ask for them. An int8 LSTM sums [x | h] in one call, the
    other integer steps x and h in two."""
    per_block = per_network(block_bytes, is_lstm, dtype_index)[:, None]  # (N, 1)

    def blocks(B: np.ndarray) -> np.ndarray:  # the blocks of assembly a call over B has
        return 4 * (B >= 4) + 2 * ((B & 2) > 0) + (B & 1)

    x, h = (padded(n, np.array(DSE_C_BLOCK)) // DSE_C_BLOCK for n in (I, C))
    one_call = (is_lstm & (dtype_index == DTYPES.index("int8")))[:, None]
    units = np.where(one_call, blocks(x + h), blocks(x) + blocks(h)) * (C > 0)
    return (units * per_block).sum(axis=1)


def dse_c_ram(batch: ArchBatch, I: np.ndarray, count: dict,  # noqa: E741
               nbytes: dict) -> np.ndarray:
    """The exported C's state struct, without the runtime reserve (its stack): a step
    counter, and per layer its [x | h] vector for this step and the next (int16 for the
    integer dtypes, in whole blocks; float for float32) and an LSTM's cell state. The C
    runs step by step, so this holds in either RAM mode; the window the caller passes to
    predict is the caller's."""
    C = batch.cells  # (N, L)
    quantized = (nbytes["quant_meta"] > 0)[:, None]
    block, element = np.where(quantized, DSE_C_BLOCK, 1), np.where(quantized, 2, 4)
    vectors = 2 * (padded(I, block) + padded(C, block)) * element * (C > 0)
    cells = (count["state_vectors"][:, None] - 1) * C * nbytes["cell_state"][:, None]
    return padded(4 + (vectors + cells).sum(axis=1), np.array(4))
