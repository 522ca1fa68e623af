"""Search spaces: shipped files load, sizes are as documented, the encoding round-trips."""

from __future__ import annotations

import optuna
import pytest

from dse.errors import DseError
from dse.space import SearchSpace, available_spaces, load_space


def test_shipped_spaces_load_with_documented_sizes() -> None:
    assert {"default", "small", "wide"} <= set(available_spaces())
    assert load_space("default").candidate_count == 2 * (8 + 8**2 + 8**3) * 3
    assert load_space("small").candidate_count == 120 <= 200
    for name in available_spaces():
        space = load_space(name)
        candidates = list(space.candidates())
        assert len(candidates) == len(set(candidates)) == space.candidate_count
        networks = list(space.networks())
        assert networks == [space.network_at(i) for i in range(space.network_count)]


def test_suggest_reaches_every_candidate_through_params_of() -> None:
    space = load_space("small")
    for cell, cells, dtype in space.candidates():
        trial = optuna.trial.FixedTrial(space.params_of(cell, cells, dtype))
        assert space.suggest(trial) == (cell, cells, dtype)


def test_fixed_length_encoding_has_every_layer_param() -> None:
    space = load_space("default")
    trial = optuna.trial.FixedTrial(space.params_of("gru", (32,), "int8"))
    space.suggest(trial)
    assert set(trial.params) == {"cell_type", "dtype", "layers", "cells_1", "cells_2", "cells_3"}


def test_shared_cells_space() -> None:
    space = SearchSpace("shared", 1, 3, (16, 32), shared_cells=True)
    assert ("lstm", (32, 32, 32), "int8") in space.candidates()
    assert len(list(space.candidates())) == space.candidate_count == 3 * 2 * 2 * 3
    assert space.network_at(5) == ("lstm", (32, 32, 32))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("layers = [0, 2]\ncells = [8]", r"'layers' field of search space 'bad' must be \[min, max\]"),
        ("layers = [1, 2]\ncells = [0]", r"'cells' field of search space 'bad' must be a non-empty"),
        ("layers = [1, 2]\ncells = [8]\ndtypes = ['int4']", r"'dtypes' field .* 'int4'. Choose from"),
        ("layers = [1, 2]\ncells = [8]\nwidth = 3", r"Unknown field 'width' .* Known fields: name"),
        ("layers = [1, 2]", r"missing the field 'cells'"),
        ("layers = [1, 2\ncells = [8]", r"bad.toml is not valid TOML: .*line"),
        ("layers = 2\ncells = [8]", r"must be \[min, max\], for example \[1, 3\]"),
        ("layers = [1, 2]\ncells = [8]\nshared_cells = 'no'", r"'shared_cells' value .* must be "
         r"true or false. Got 'no' instead"),
        ("layers = [1, 2]\ncells = [8, 8]", "lists a cell count twice"),
        ("layers = [1, 2]\ncells = [8]\ncell_types = ['gru', 'gru']", "lists a value twice"),
        ("layers = [1, 2]\ncells = [8]\ndtypes = 'int8'", r"'dtypes' value .* non-empty list"),
    ],
)
def test_bad_space_files(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(DseError, match=message):
        load_space(path)


def test_unknown_space_lists_available() -> None:
    with pytest.raises(DseError, match="Unknown search space 'huge'. Available: default, int8, small, wide"):
        load_space("huge")
