"""The analytic cost model: parameters, MACC, flash, peak RAM, latency and energy.

Pure numpy, no optuna: the constraint layer of the search. Every formula is written once,
over numpy arrays of architectures (:func:`estimate_batch`, a whole search space at
once); :func:`estimate` is the same computation on a batch of one, plus the per-layer
table. The modules, each importing only those before it: ``tables`` (constants),
``arrays`` (architectures as arrays), ``memory`` (RAM layouts and the exported C's code),
``batch`` (:func:`estimate_batch`), ``report`` (:func:`estimate` and :class:`CostReport`).

Notation: F input features, C cells of a layer, I its input width (F for the first layer,
the previous layer's C after), T timesteps, K classes.

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

from dse.cost.arrays import ArchBatch
from dse.cost.batch import BatchCost, PartCost, estimate_batch
from dse.cost.report import CostReport, LayerCost, Ops, estimate
from dse.cost.tables import (
    CELL_COUNTS,
    CONVENTIONS,
    DTYPE_BYTES,
    OBJECTIVE_COLUMNS,
    RAM_MODES,
    CellCounts,
    Convention,
    DtypeBytes,
    RamMode,
)

__all__ = [
    "CELL_COUNTS",
    "CONVENTIONS",
    "DTYPE_BYTES",
    "OBJECTIVE_COLUMNS",
    "RAM_MODES",
    "ArchBatch",
    "BatchCost",
    "CellCounts",
    "Convention",
    "CostReport",
    "DtypeBytes",
    "LayerCost",
    "Ops",
    "PartCost",
    "RamMode",
    "estimate",
    "estimate_batch",
]
