"""A CSV file of time steps: a header row naming the columns, then one row per time step with
feature columns, a label column and optionally a recording column; cut into windows that
never cross a recording or a change of label."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dse.data.sequences import filled, runs, window_starts
from dse.errors import DseError
from dse.userdata import MAX_ARRAY_BYTES, MAX_TEXT_BYTES, regular_file

MISSING = ["", "?", "nan", "NaN", "NA", "N/A", "null"]  # a feature cell that holds no value
FLOAT32_MAX = float(np.finfo(np.float32).max)  # the features are stored as float32


@dataclass(frozen=True)
class Rows:
    """The columns of a CSV file that matter, one entry per data row, in file order."""

    path: Path
    values: np.ndarray  # (R, F) float64, NaN where a value is missing
    labels: np.ndarray  # (R,) int: the index of each row's label in label_names
    label_names: np.ndarray  # (U,) str, in order of first appearance
    recordings: np.ndarray | None  # (R,) int, as labels; None without a recording column
    recording_names: np.ndarray | None  # (G,) str
    features: tuple[str, ...]
    recording: str | None  # the recording column's name

    def recording_at(self, row: int) -> str:
        """The recording id of data row ``row`` ('' without a recording column)."""
        if self.recordings is None or self.recording_names is None:
            return ""
        return str(self.recording_names[self.recordings[row]])


@dataclass(frozen=True)
class Windows:
    """Windows cut from the rows: each within one recording and one label."""

    X: np.ndarray  # (W, L, F) float32
    labels: np.ndarray  # (W,) str
    groups: np.ndarray  # (W,) int: the recording of each window (its run, without recordings)
    dropped_rows: int  # rows in runs of one label shorter than the window
    filled: int  # missing values, each replaced by its column's previous value


def read_rows(path: str | Path, *, label: str = "label", recording: str | None = None,
              features: list[str] | None = None) -> Rows:
    """The feature, label and recording columns of a CSV file, checked: numbers in the
    feature columns (missing cells allowed), a label and a recording id on every row."""
    path = Path(path)
    regular_file(path, MAX_TEXT_BYTES)
    raw = {str(name).strip(): name for name in _read(path, nrows=0).columns}

    def column(name: str, role: str) -> str:
        if name not in raw:
            raise DseError(f"CSV file {path} has no {role} column {name!r} (its first row names "
                           f"the columns: {', '.join(raw)}); name one with --{role}.")
        return name

    column(label, "label")
    if recording is not None:
        column(recording, "recording")
    keys = [name for name in (label, recording) if name is not None]
    names = [column(name, "features") for name in features] if features else \
        [name for name in raw if name not in keys]
    if overlap := [name for name in names if name in keys]:
        raise DseError(f"CSV file {path}: column {overlap[0]!r} cannot be both a feature and "
                       f"the label or recording column.")
    if not names:
        raise DseError(f"CSV file {path} has no feature columns besides {', '.join(keys)}.")
    frame = _read(path, keep_default_na=False, dtype={raw[name]: str for name in keys},
                  na_values={raw[name]: MISSING for name in names})  # all columns: rows checked
    if len(frame) == 0:
        raise DseError(f"CSV file {path} has a header but no data rows.")
    values = np.column_stack([_numbers(path, frame[raw[name]], name) for name in names])
    labels, label_names = _ids(path, frame[raw[label]], label,
                               "every row needs a label; drop unlabeled rows")
    recordings, recording_names = (None, None) if recording is None else _ids(
        path, frame[raw[recording]], recording, "every row needs its recording's id")
    return Rows(path, values, labels, label_names, recordings, recording_names, tuple(names),
                recording)


def _read(path: Path, **options):
    """pandas' reader, its errors (and its warning about rows longer than the header) turned
    into one line naming the file."""
    import warnings

    import pandas as pd

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(path, encoding="utf-8-sig", skipinitialspace=True,
                               index_col=False, **options)
    except UnicodeDecodeError:
        raise DseError(f"CSV file {path} is not UTF-8 text (line {_undecodable_line(path)}); "
                       f"save it as UTF-8.") from None
    except pd.errors.EmptyDataError:
        raise DseError(f"CSV file {path} is empty; it needs a header row naming the columns, "
                       f"then one row per time step.") from None
    except pd.errors.ParserWarning:
        raise DseError(f"CSV file {path} is not a readable CSV table: a row has more fields "
                       f"than the header row names columns.") from None
    except (pd.errors.ParserError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[-1]
        raise DseError(f"CSV file {path} is not a readable CSV table: {reason}.") from None


def _undecodable_line(path: Path) -> int:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 1


def _numbers(path: Path, cells, name: str) -> np.ndarray:
    """A feature column as float64 (NaN where missing), or an error naming the first cell
    that is not a number or not a finite float32."""
    import pandas as pd

    values = pd.to_numeric(cells, errors="coerce").to_numpy(np.float64)  # (R,)
    wrong = np.isnan(values) & cells.notna().to_numpy()
    if wrong.any():
        row = int(np.argmax(wrong))
        raise DseError(f"CSV file {path}: column {name!r} line {_line_of(path, row)} holds "
                       f"{str(cells.iloc[row])[:40]!r}, not a number; features must be numbers (choose the "
                       f"feature columns with --features a,b,c).")
    huge = np.abs(values) > FLOAT32_MAX  # NaN compares False: missing cells are filled later
    if huge.any():
        row = int(np.argmax(huge))
        raise DseError(f"CSV file {path}: column {name!r} line {_line_of(path, row)} holds "
                       f"{values[row]:g}, not a finite float32 number; rescale or remove it.")
    return values


def _ids(path: Path, cells, name: str, remedy: str) -> tuple[np.ndarray, np.ndarray]:
    """A label or recording column, every cell filled, as codes (R,) into its distinct
    values (U,) in order of first appearance (codes: text of every row would take GiBs)."""
    import pandas as pd

    text = cells.fillna("").str.strip()  # a row that ends early has no cell here
    empty = (text == "").to_numpy()
    if empty.any():
        raise DseError(f"CSV file {path}: column {name!r} line "
                       f"{_line_of(path, int(np.argmax(empty)))} is empty; {remedy}.")
    codes, names = pd.factorize(text)
    return codes.astype(np.int64), np.asarray(names, dtype=str)


def _line_of(path: Path, row: int) -> int:
    """The line of the file that holds data row ``row``: the header is the first line that is
    not blank, and blank lines are skipped, as the reader skips them."""
    with path.open(encoding="utf-8-sig", errors="replace") as handle:
        nonblank = 0
        for number, text in enumerate(handle, 1):
            nonblank += bool(text.strip())
            if nonblank == row + 2:
                return number
    return row + 2


def windows(rows: Rows, window: int, stride: int) -> Windows:
    """Windows of ``window`` rows, ``stride`` apart, within each run of rows that share a
    recording and a label; missing values take their column's previous value in the
    recording (the next one at its start)."""
    if rows.recordings is None:
        recordings = [np.arange(len(rows.labels))]
    else:
        order = np.argsort(rows.recordings, kind="stable")  # grouped by recording, in file order
        bounds = np.concatenate([[0], np.cumsum(np.bincount(rows.recordings))])
        recordings = [order[begin:end] for begin, end in zip(bounds[:-1], bounds[1:])]
    pieces: list[tuple[np.ndarray, np.ndarray, int, int]] = []  # values, starts, label, group
    dropped = 0  # rows in runs shorter than a window
    for number, rows_of in enumerate(recordings):
        _check_length(rows, rows_of, window)
        values = _filled(rows, rows_of).astype(np.float32)  # (n, F)
        bounds = runs(rows.labels[rows_of])
        for begin, end in zip(bounds[:-1], bounds[1:]):
            starts = begin + window_starts(end - begin, window, stride)
            if len(starts) == 0:
                dropped += end - begin
            group = number if rows.recordings is not None else len(pieces)  # a run its own
            pieces.append((values, starts, int(rows.labels[rows_of[begin]]), group))
    count = sum(len(starts) for _, starts, _, _ in pieces)
    F = rows.values.shape[1]
    if count == 0:
        longest = max(int(np.diff(runs(rows.labels[r])).max()) for r in recordings)
        raise DseError(f"CSV file {rows.path}: no run of rows with one label is as long as the "
                       f"--window of {window} rows (the longest has {longest}); use a shorter "
                       f"--window.")
    if count * window * F * 4 > MAX_ARRAY_BYTES:
        raise DseError(f"CSV file {rows.path} would make {count:,} windows of {window} x {F} "
                       f"values, more than the {MAX_ARRAY_BYTES >> 30} GiB a data file may hold; "
                       f"use a larger --stride.")
    X = np.empty((count, window, F), np.float32)  # (W, L, F)
    at = 0
    for values, starts, _, _ in pieces:
        X[at:at + len(starts)] = values[starts[:, None] + np.arange(window)]  # (w, L, F)
        at += len(starts)
    labels = np.concatenate([np.full(len(starts), label) for _, starts, label, _ in pieces])
    groups = np.concatenate([np.full(len(starts), group) for _, starts, _, group in pieces])
    return Windows(X, rows.label_names[labels], groups, dropped,
                   int(np.isnan(rows.values).sum()))


def _check_length(rows: Rows, rows_of: np.ndarray, window: int) -> None:
    if len(rows_of) >= window:
        return
    if rows.recordings is None:
        raise DseError(f"CSV file {rows.path} has {len(rows_of)} rows, fewer than the --window "
                       f"of {window}; use a shorter --window.")
    raise DseError(f"CSV file {rows.path}: recording {rows.recording_at(rows_of[0])!r} (column "
                   f"{rows.recording!r}, from line {_line_of(rows.path, int(rows_of[0]))}) has "
                   f"{len(rows_of)} rows, fewer than the --window of {window}; use a shorter "
                   f"--window or leave the recording out.")


def _filled(rows: Rows, rows_of: np.ndarray) -> np.ndarray:
    values = filled(rows.values[rows_of])  # (n, F)
    if np.isnan(values[0]).any():
        name = rows.features[int(np.argmax(np.isnan(values[0])))]
        where = "the file" if rows.recordings is None else \
            f"recording {rows.recording_at(rows_of[0])!r}"
        raise DseError(f"CSV file {rows.path}: column {name!r} has no value in {where}; fill "
                       f"it, or leave the column out with --features.")
    return values

