"""Search spaces: which architectures a search may propose, loaded from TOML.

The sampler sees a fixed-length encoding: ``cell_type``, ``dtype``, ``layers`` and one
``cells_<k>`` choice for every possible layer, whether or not the architecture uses it.
Conditional parameters (layer 3's cells exist only with 3 layers) hurt multivariate TPE
and GP samplers; with a fixed length every trial has the same parameters, and the unused
choices are ignored when the architecture is built (duplicates are then not retrained).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from dse import checks
from dse.architecture import CELL_TYPES, DTYPES, MAX_CELLS, MAX_LAYERS
from dse.cost import RAM_MODES
from dse.errors import DseError
from dse.resources import available, find_toml, read_toml

_KNOWN_KEYS = ("name", "description", "layers", "cells", "shared_cells", "cell_types", "dtypes",
               "ram_mode", "encoding")
ENCODINGS = ("fixed", "conditional")
MAX_CELL_CHOICES = 256


class Suggester(Protocol):
    """What :meth:`SearchSpace.suggest` needs of an optuna trial."""

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...


@dataclass(frozen=True)
class SearchSpace:
    """Layer counts, cells per layer, cell types and dtypes a search may combine."""

    name: str
    min_layers: int
    max_layers: int
    cells: tuple[int, ...]
    cell_types: tuple[str, ...] = CELL_TYPES
    dtypes: tuple[str, ...] = DTYPES
    shared_cells: bool = False
    ram_mode: str = "window"
    encoding: str = "fixed"
    description: str = ""

    def __post_init__(self) -> None:
        where = f"search space '{self.name}'"
        if not 1 <= self.min_layers <= self.max_layers <= MAX_LAYERS:
            raise DseError(
                f"The 'layers' field of {where} must be [min, max] with 1 <= min <= max <= "
                f"{MAX_LAYERS}. Got [{self.min_layers}, {self.max_layers}] instead."
            )
        if not self.cells or any(
            isinstance(c, bool) or not isinstance(c, int) or not 1 <= c <= MAX_CELLS
            for c in self.cells
        ):
            raise DseError(
                f"The 'cells' field of {where} must be a non-empty list of ints in the range "
                f"[1, {MAX_CELLS}]. Got {list(self.cells)!r} instead."
            )
        for key, values, known in (("cell_types", self.cell_types, CELL_TYPES),
                                   ("dtypes", self.dtypes, DTYPES),
                                   ("ram_mode", (self.ram_mode,), RAM_MODES),
                                   ("encoding", (self.encoding,), ENCODINGS)):
            bad = [v for v in values if v not in known] or ([] if values else ["(empty)"])
            if bad:
                raise DseError(
                    f"The '{key}' field of {where} has {bad[0]!r}. Choose from: {', '.join(known)}."
                )
            if len(set(values)) != len(values):
                raise DseError(f"The '{key}' field of {where} lists a value twice: {list(values)}.")

    def suggest(self, trial: Suggester) -> tuple[str, tuple[int, ...], str]:
        """Ask the trial for one candidate: (cell type, cells per layer, dtype).

        The ``conditional`` encoding asks only for the layers in use (kept to measure it
        against ``fixed``; see experiments/bench/samplers.py).
        """
        cell = trial.suggest_categorical("cell_type", list(self.cell_types))
        dtype = trial.suggest_categorical("dtype", list(self.dtypes))
        layers = trial.suggest_categorical("layers", list(range(self.min_layers,
                                                                self.max_layers + 1)))
        used = layers if self.encoding == "conditional" else self.max_layers
        names = ["cells"] if self.shared_cells else [f"cells_{k + 1}" for k in range(used)]
        chosen = [trial.suggest_categorical(name, list(self.cells)) for name in names]
        cells = chosen * layers if self.shared_cells else chosen[:layers]
        return cell, tuple(cells[:layers]), dtype

    def choices(self) -> dict[str, list[Any]]:
        """Each parameter :meth:`suggest` asks for (fixed encoding) and its choices."""
        names = ["cells"] if self.shared_cells else [f"cells_{k + 1}"
                                                     for k in range(self.max_layers)]
        return {"cell_type": list(self.cell_types), "dtype": list(self.dtypes),
                "layers": list(range(self.min_layers, self.max_layers + 1)),
                **{name: list(self.cells) for name in names}}

    def params_of(self, cell: str, cells: tuple[int, ...], dtype: str) -> dict[str, Any]:
        """The fixed-length parameters that :meth:`suggest` maps to this candidate."""
        params: dict[str, Any] = {"cell_type": cell, "dtype": dtype, "layers": len(cells)}
        if self.shared_cells:
            params["cells"] = cells[0]
        else:
            padded = list(cells) + [self.cells[0]] * (self.max_layers - len(cells))
            params.update({f"cells_{k + 1}": c for k, c in enumerate(padded)})
        return params

    @property
    def network_count(self) -> int:
        """Distinct networks (cell type and cells per layer), counted without listing them."""
        per_type = sum(self._per_depth(depth) for depth in self._depths)
        return len(self.cell_types) * per_type

    @property
    def candidate_count(self) -> int:
        """Distinct candidates: every network in every dtype."""
        return self.network_count * len(self.dtypes)

    @property
    def _depths(self) -> range:
        return range(self.min_layers, self.max_layers + 1)

    def _per_depth(self, depth: int) -> int:
        return len(self.cells) if self.shared_cells else len(self.cells) ** depth

    def network_at(self, index: int) -> tuple[str, tuple[int, ...]]:
        """The ``index``-th network in :meth:`networks` order, found without listing them:
        cell types outermost, then depth, then cells per layer (first layer most significant)."""
        if not 0 <= index < self.network_count:
            raise IndexError(index)
        per_type = self.network_count // len(self.cell_types)
        cell, index = self.cell_types[index // per_type], index % per_type
        for depth in self._depths:
            if index < self._per_depth(depth):
                break
            index -= self._per_depth(depth)
        if self.shared_cells:
            return cell, (self.cells[index],) * depth
        digits = []
        for _ in range(depth):
            index, digit = divmod(index, len(self.cells))
            digits.append(self.cells[digit])
        return cell, tuple(reversed(digits))

    def networks(self) -> Iterator[tuple[str, tuple[int, ...]]]:
        """Every distinct network, lazily, in a fixed order."""
        for cell in self.cell_types:
            for depth in self._depths:
                if self.shared_cells:
                    yield from ((cell, (c,) * depth) for c in self.cells)
                else:
                    yield from ((cell, cells) for cells in itertools.product(self.cells, repeat=depth))

    def candidates(self) -> Iterator[tuple[str, tuple[int, ...], str]]:
        """Every distinct candidate (network and dtype), lazily, in a fixed order."""
        for cell, cells in self.networks():
            for dtype in self.dtypes:
                yield cell, cells, dtype


def available_spaces() -> list[str]:
    """Names of the built-in search spaces, sorted."""
    return available("search_spaces")


def load_space(name_or_path: str | Path) -> SearchSpace:
    """Load a built-in space by name, or the user's own TOML file by path."""
    path = find_toml(str(name_or_path), "search_spaces", "search space")
    data, _ = read_toml(path, "search space file")
    where = f"search space file {path}"
    unknown = sorted(set(data) - set(_KNOWN_KEYS))
    if unknown:
        raise DseError(f"Unknown field {unknown[0]!r} in {where}. "
                       f"Known fields: {', '.join(_KNOWN_KEYS)}.")
    for key in ("layers", "cells"):
        if key not in data:
            raise DseError(f"The {where} is missing the field {key!r}.")
    layers = data["layers"]
    if not (isinstance(layers, list) and len(layers) == 2 and
            all(isinstance(v, int) and not isinstance(v, bool) for v in layers)):
        raise DseError(f"The 'layers' field of {where} must be [min, max], for example [1, 3]. "
                       f"Got {layers!r} instead.")
    cells = data["cells"]
    if not isinstance(cells, list) or len(cells) > MAX_CELL_CHOICES:
        raise DseError(f"The 'cells' field of {where} must be a list of at most "
                       f"{MAX_CELL_CHOICES} cell counts. Got {cells!r:.80} instead.")
    if len(set(map(repr, cells))) != len(cells):
        raise DseError(f"The 'cells' field of {where} lists a cell count twice: {cells!r:.80}.")
    optional = {
        "name": lambda v: checks.text("name", v, where, max_length=100),
        "description": lambda v: checks.text("description", v, where),
        "cell_types": lambda v: checks.strings("cell_types", v, where),
        "dtypes": lambda v: checks.strings("dtypes", v, where),
        "shared_cells": lambda v: checks.flag("shared_cells", v, where),
        "ram_mode": lambda v: checks.text("ram_mode", v, where),
        "encoding": lambda v: checks.text("encoding", v, where),
    }
    values: dict[str, Any] = {key: check(data[key]) for key, check in optional.items()
                              if key in data}
    return SearchSpace(**{"name": path.stem, **values}, min_layers=layers[0],
                       max_layers=layers[1], cells=tuple(cells))
