"""The candidate network: cell type, cells per stacked layer, dtype, and the task's shape.

Text form used everywhere (CLI, CSV, dashboards): ``lstm:64,32`` -- the cell type, then
the cells of each stacked layer, first layer first. The dtype is shown separately.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from dse.errors import DseError

CellType = Literal["lstm", "gru"]
Dtype = Literal["int8", "int16", "float32"]
CELL_TYPES: tuple[str, ...] = get_args(CellType)
DTYPES: tuple[str, ...] = get_args(Dtype)
MAX_CELLS = 4096
MAX_LAYERS = 16


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise DseError(
            f"The '{name}' of an architecture must be an int in the range [{low}, {high}]. "
            f"Got {value!r} instead."
        )


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    """Raise a DseError unless ``value`` is one of ``choices``, listing them."""
    if value not in choices:
        raise DseError(f"Unknown {name} {value!r}. Available: {', '.join(choices)}.")


@dataclass(frozen=True)
class Architecture:
    """One stacked LSTM/GRU network with a dense head on the last timestep.

    ``features`` (F), ``timesteps`` (T) and ``classes`` (K) are the task's shape; they
    are part of the architecture because every cost depends on them.
    """

    cell: CellType
    cells: tuple[int, ...]
    dtype: Dtype = "int8"
    features: int = 1
    timesteps: int = 1
    classes: int = 2

    def __post_init__(self) -> None:
        check_choice("cell type", self.cell, CELL_TYPES)
        check_choice("dtype", self.dtype, DTYPES)
        if not isinstance(self.cells, tuple) or not 1 <= len(self.cells) <= MAX_LAYERS:
            raise DseError(
                f"An architecture needs between 1 and {MAX_LAYERS} layers as a tuple of ints. "
                f"Got {self.cells!r} instead."
            )
        for cells in self.cells:
            _check_int("cells", cells, 1, MAX_CELLS)
        _check_int("features", self.features, 1, 1_000_000)
        _check_int("timesteps", self.timesteps, 1, 1_000_000)
        _check_int("classes", self.classes, 2, 1_000_000)

    @property
    def layers(self) -> int:
        return len(self.cells)

    @property
    def text(self) -> str:
        """The text form, ``lstm:64,32``."""
        return f"{self.cell}:{','.join(map(str, self.cells))}"

    def layer_inputs(self) -> tuple[int, ...]:
        """Input width of each layer: F for the first, the previous layer's cells after."""
        return (self.features, *self.cells[:-1])

    def __str__(self) -> str:
        return f"{self.text} ({self.dtype})"


def parse_arch(
    text: str,
    *,
    dtype: str = "int8",
    features: int = 1,
    timesteps: int = 1,
    classes: int = 2,
) -> Architecture:
    """Parse ``lstm:64,32`` into an Architecture with the given dtype and task shape."""
    cell, sep, rest = str(text).strip().partition(":")
    if not sep or not rest:
        raise DseError(
            f"Architecture {text!r} is not of the form CELL:N[,N...], for example 'lstm:64,32'."
        )
    try:
        cells = tuple(int(part) for part in rest.split(","))
    except ValueError:
        raise DseError(
            f"Architecture {text!r}: the cells per layer must be whole numbers separated by "
            f"commas, for example 'gru:32,16'."
        ) from None
    return Architecture(
        cell=cell.lower(),  # type: ignore[arg-type]
        cells=cells,
        dtype=dtype,  # type: ignore[arg-type]
        features=features,
        timesteps=timesteps,
        classes=classes,
    )
