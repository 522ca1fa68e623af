"""Architectures as numpy arrays (:class:`ArchBatch`), and the per-row lookups every formula
of the cost model uses: a constant by cell type, a number by dtype, a size in whole blocks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dse.architecture import DTYPES, Architecture
from dse.cost.tables import CELL_COUNTS, DTYPE_BYTES


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


def per_cell(is_lstm: np.ndarray, name: str) -> np.ndarray:
    """One CellCounts field for every row: the LSTM value where is_lstm, else the GRU one."""
    return np.where(is_lstm, getattr(CELL_COUNTS["lstm"], name), getattr(CELL_COUNTS["gru"], name))


def per_dtype(dtype_index: np.ndarray, values: dict[str, float] | None = None, name: str = ""):
    """A per-dtype number for every row, from a runtime table or a DtypeBytes field."""
    table = values if values is not None else {d: getattr(DTYPE_BYTES[d], name) for d in DTYPES}
    return np.array([table[d] for d in DTYPES], dtype=np.float64)[dtype_index]


def padded(n: np.ndarray, block: np.ndarray) -> np.ndarray:
    """``n`` rounded up to whole blocks."""
    return -(-n // block) * block
