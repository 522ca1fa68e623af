"""A UCR/UEA ``.ts`` file (the text format of sktime and aeon), read without them.

The format: optional ``#`` comment lines; a header of ``@tag value`` lines (``@problemName``,
``@timeStamps``, ``@missing``, ``@univariate``, ``@dimensions``, ``@equalLength``,
``@seriesLength``, ``@classLabel true LABEL...``), then ``@data`` and one case per line: the
values of each dimension separated by ``,``, the dimensions by ``:``, the class label last;
``?`` (or ``NaN``) is a missing value. Tags are case-insensitive. Files with time stamps or
without class labels (regression, clustering) are refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dse.data.sequences import pad_start, trimmed
from dse.errors import DseError
from dse.userdata import MAX_ARRAY_BYTES, MAX_TEXT_BYTES, regular_file

BOOLEAN_TAGS = ("timestamps", "missing", "univariate", "equallength", "classlabel", "targetlabel")
COUNT_TAGS = ("dimension", "dimensions", "serieslength")
TAGS = ("problemname", *BOOLEAN_TAGS, *COUNT_TAGS, "data")


@dataclass(frozen=True)
class Cases:
    """The cases of a ``.ts`` file: each a series per dimension, missing values handled."""

    path: Path
    series: tuple[tuple[np.ndarray, ...], ...]  # per case, per dimension: (T_i,) float32
    labels: np.ndarray  # (N,) str
    lines: tuple[int, ...]  # the line of each case
    missing: int  # missing values: at the ends dropped, inside filled from the previous one

    @property
    def dimensions(self) -> int:
        return len(self.series[0])

    @property
    def longest(self) -> int:
        return max(len(values) for case in self.series for values in case)


def read_ts(path: str | Path) -> Cases:
    """The cases and labels of a ``.ts`` file, checked line by line."""
    path = Path(path)
    regular_file(path, MAX_TEXT_BYTES)
    with path.open("rb") as handle:
        lines = _lines(path, handle)
        header = _header(path, lines)
        return _cases(path, header, lines)


def _lines(path: Path, handle) -> Iterator[tuple[int, str]]:
    """(number, text) of each line that is neither blank nor a ``#`` comment."""
    for number, raw in enumerate(handle, 1):
        try:
            line = raw.decode("utf-8").strip().lstrip("\ufeff")
        except UnicodeDecodeError as exc:
            raise DseError(f".ts file {path} is not UTF-8 text (line {number}, byte "
                           f"{exc.start + 1}); save it as UTF-8.") from None
        if line and not line.startswith("#"):
            yield number, line


def _header(path: Path, lines: Iterator[tuple[int, str]]) -> dict:
    """The header's tags up to ``@data`` (booleans and counts as such, ``classlabel`` as the
    declared labels)."""
    header: dict = {}
    for number, line in lines:
        where = f".ts file {path} line {number}"
        if not line.startswith("@"):
            raise DseError(f"{where}: a case before the @data line; the header's last line is "
                           f"'@data', then one case per line.")
        tag, *values = line.split()
        if tag[1:].lower() not in TAGS:
            raise DseError(f"{where}: unknown header tag {tag[:40]!r} (tags: {', '.join(TAGS)}).")
        tag = tag[1:].lower()
        if tag == "data":
            if "classlabel" not in header:
                raise DseError(f".ts file {path} has no @classLabel line in its header; dse "
                               f"needs labelled cases ('@classLabel true LABEL...').")
            return header
        if tag in BOOLEAN_TAGS:
            header[tag] = _boolean(where, tag, values)
        elif tag in COUNT_TAGS:
            header[tag] = _count(where, tag, values)
        if tag == "timestamps" and header[tag]:
            raise DseError(f"{where}: @timeStamps true; dse reads .ts files without time stamps "
                           f"(values only).")
        if tag == "targetlabel" and header[tag]:
            raise DseError(f"{where}: @targetLabel true is a regression problem; dse needs class "
                           f"labels ('@classLabel true LABEL...').")
        if tag == "classlabel":
            if not header[tag] or len(values) < 2:
                raise DseError(f"{where}: dse needs class labels: '@classLabel true' followed by "
                               f"the labels (at least one).")
            header[tag] = values[1:]
    raise DseError(f".ts file {path} has no @data line; the cases follow a line '@data'.")


def _cases(path: Path, header: dict, lines: Iterator[tuple[int, str]]) -> Cases:
    """The cases after ``@data``: each line's dimensions, checked, and its label."""
    declared = header["classlabel"]
    dimensions = header.get("dimensions") or header.get("dimension") or \
        (1 if header.get("univariate") else None)  # else: the first case's
    series, labels, numbers, missing = [], [], [], 0
    for number, line in lines:
        where = f".ts file {path} line {number}"
        if line.startswith("@"):
            raise DseError(f"{where}: a header line after @data; the header comes first.")
        *parts, label = line.split(":")
        label = label.strip()
        if label not in declared:
            raise DseError(f"{where}: class label {label[:40]!r} is not one of @classLabel's "
                           f"({' '.join(declared)}); every case ends with ':' and its label.")
        dimensions = dimensions or len(parts)
        if len(parts) != dimensions:
            raise DseError(f"{where} has {len(parts)} dimensions (separated by ':'), the file's "
                           f"cases {dimensions}.")
        case = [_values(where, d, part) for d, part in enumerate(parts)]
        missing += sum(int(np.isnan(values).sum()) for values in case)
        series.append(tuple(_kept(where, d, values) for d, values in enumerate(case)))
        labels.append(label)
        numbers.append(number)
    if not series:
        raise DseError(f".ts file {path} has no cases after @data.")
    return Cases(path, tuple(series), np.array(labels), tuple(numbers), missing)


def _boolean(where: str, tag: str, values: list[str]) -> bool:
    if not values or values[0].lower() not in ("true", "false"):
        raise DseError(f"{where}: @{tag} must be followed by true or false.")
    return values[0].lower() == "true"


def _count(where: str, tag: str, values: list[str]) -> int:
    if len(values) != 1 or not values[0].isdigit() or int(values[0]) < 1:
        raise DseError(f"{where}: @{tag} must be followed by a whole number >= 1.")
    return int(values[0])


def _values(where: str, dimension: int, text: str) -> np.ndarray:
    """One dimension's values, NaN where missing ('?'), or an error naming the bad one."""
    tokens = [token.strip() for token in text.split(",")]
    try:
        values = np.array([t if t != "?" else "nan" for t in tokens], dtype=np.float64)
    except ValueError:  # numpy's parser is stricter than Python's: ask each token
        values = np.array([_number(where, dimension, t) for t in tokens])
    if (np.abs(values) > np.finfo(np.float32).max).any():  # stored as float32
        raise DseError(f"{where}, dimension {dimension + 1}: a value beyond the float32 range "
                       f"(or infinite); rescale it.")
    return values.astype(np.float32)


def _number(where: str, dimension: int, token: str) -> float:
    try:
        return float("nan" if token == "?" else token)
    except ValueError:
        raise DseError(f"{where}, dimension {dimension + 1}: {token[:40]!r} is not a number (values "
                       f"are separated by ',', missing ones written '?').") from None


def _kept(where: str, dimension: int, values: np.ndarray) -> np.ndarray:
    kept = trimmed(values)
    if len(kept) == 0:
        raise DseError(f"{where}, dimension {dimension + 1} has no values, only missing ones.")
    return kept


def padded(cases: Cases, length: int) -> np.ndarray:
    """The cases as one (N, length, F) float32 array: each series' last ``length`` values, a
    shorter one with its first value repeated before it (``pad_start``)."""
    N, F = len(cases.series), cases.dimensions
    if N * length * F * 4 > MAX_ARRAY_BYTES:
        raise DseError(f".ts file {cases.path} would make {N:,} cases of {length} x {F} values, "
                       f"more than the {MAX_ARRAY_BYTES >> 30} GiB a data file may hold; give "
                       f"a smaller --length.")
    X = np.empty((N, length, F), np.float32)
    for n, case in enumerate(cases.series):
        for f, values in enumerate(case):
            X[n, :, f] = pad_start(values, length)
    return X
