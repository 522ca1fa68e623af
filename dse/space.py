"""Search spaces: which architectures a search may propose, loaded from TOML.

The sampler sees a fixed-length encoding: ``cell_type``, ``dtype``, ``layers`` and one
``cells_<k>`` choice for every possible layer, whether or not the architecture uses it.
Conditional parameters (layer 3's cells exist only with 3 layers) hurt multivariate TPE
and GP samplers; with a fixed length every trial has the same parameters, and the unused
choices are ignored when the architecture is built (duplicates are then not retrained).
"""

from __future__ import annotations

import itertools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from dse.architecture import CELL_TYPES, DTYPES, MAX_CELLS, MAX_LAYERS, Architecture
from dse.cost import RAM_MODES
from dse.errors import DseError
from dse.resources import available, find_toml

_KNOWN_KEYS = ("name", "description", "layers", "cells", "shared_cells", "cell_types", "dtypes",
               "ram_mode", "encoding")
ENCODINGS = ("fixed", "conditional")


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

    def suggest(self, trial: Suggester) -> tuple[str, tuple[int, ...], str]:
        """Ask the trial for one candidate: (cell type, cells per layer, dtype).

        The ``conditional`` encoding asks only for the layers in use (kept to measure it
        against ``fixed``; see experiments/bench_samplers.py).
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

    def params_of(self, cell: str, cells: tuple[int, ...], dtype: str) -> dict[str, Any]:
        """The fixed-length parameters that :meth:`suggest` maps to this candidate."""
        params: dict[str, Any] = {"cell_type": cell, "dtype": dtype, "layers": len(cells)}
        if self.shared_cells:
            params["cells"] = cells[0]
        else:
            padded = list(cells) + [self.cells[0]] * (self.max_layers - len(cells))
            params.update({f"cells_{k + 1}": c for k, c in enumerate(padded)})
        return params

    def candidates(self) -> list[tuple[str, tuple[int, ...], str]]:
        """Every distinct candidate, in a fixed order: the exhaustive grid."""
        found = []
        for layers in range(self.min_layers, self.max_layers + 1):
            per_layer = ([(c,) * layers for c in self.cells] if self.shared_cells
                         else list(itertools.product(self.cells, repeat=layers)))
            for cell, cells, dtype in itertools.product(self.cell_types, per_layer, self.dtypes):
                found.append((cell, tuple(cells), dtype))
        return found

    def architectures(self, features: int, timesteps: int, classes: int) -> list[Architecture]:
        """Every distinct candidate as an Architecture of the given task shape."""
        return [Architecture(cell, cells, dtype, features, timesteps, classes)  # type: ignore[arg-type]
                for cell, cells, dtype in self.candidates()]


def available_spaces() -> list[str]:
    """Names of the built-in search spaces, sorted."""
    return available("search_spaces")


def load_space(name_or_path: str | Path) -> SearchSpace:
    """Load a built-in space by name, or the user's own TOML file by path."""
    path = find_toml(str(name_or_path), "search_spaces", "search space")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise DseError(f"Search space file {path} is not valid TOML: {exc}.") from None
    unknown = sorted(set(data) - set(_KNOWN_KEYS))
    if unknown:
        raise DseError(f"Unknown field {unknown[0]!r} in search space file {path}. "
                       f"Known fields: {', '.join(_KNOWN_KEYS)}.")
    for key in ("layers", "cells"):
        if key not in data:
            raise DseError(f"The search space file {path} is missing the field {key!r}.")
    layers = data["layers"]
    if not (isinstance(layers, list) and len(layers) == 2 and all(isinstance(v, int) for v in layers)):
        raise DseError(f"The 'layers' field of search space file {path} must be [min, max], "
                       f"for example [1, 3]. Got {layers!r} instead.")
    return SearchSpace(
        name=data.get("name", path.stem),
        min_layers=layers[0],
        max_layers=layers[1],
        cells=tuple(data["cells"]) if isinstance(data["cells"], list) else (),
        cell_types=tuple(data.get("cell_types", CELL_TYPES)),
        dtypes=tuple(data.get("dtypes", DTYPES)),
        shared_cells=bool(data.get("shared_cells", False)),
        ram_mode=data.get("ram_mode", "window"),
        encoding=data.get("encoding", "fixed"),
        description=data.get("description", ""),
    )
