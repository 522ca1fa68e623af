"""A data file for ``dse run`` built from a CSV or ``.ts`` file: sequences of one length,
labels 0..K-1 with the names kept, a test split in which no recording is also in training."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dse.data.csvfile import read_rows, windows
from dse.data.sequences import class_index, group_split
from dse.data.tsfile import Cases, padded, read_ts
from dse.errors import DseError
from dse.userdata import MIN_PER_CLASS, TEST_FRACTION

FORMATS = {".csv": "csv", ".ts": "ts"}


@dataclass(frozen=True)
class Built:
    """The arrays of the ``.npz`` to write, and how they were made (``notes``, for the user)."""

    X_train: np.ndarray  # (N, T, F) float32
    y_train: np.ndarray  # (N,) int64 in 0..K-1
    X_test: np.ndarray  # (M, T, F) float32
    y_test: np.ndarray  # (M,) int64
    classes: tuple[str, ...]  # K names, as the source wrote them
    notes: dict = field(default_factory=dict)


def build(source: str | Path, *, test: str | Path | None = None, label: str | None = None,
          recording: str | None = None, features: list[str] | None = None,
          window: int | None = None, stride: int | None = None, length: int | None = None,
          test_fraction: float = TEST_FRACTION, seed: int = 0) -> Built:
    """The arrays of a data file made from ``source`` (``.csv`` or ``.ts``), with its test
    split from ``test`` or, by recording, from ``source`` itself."""
    kind = _format(source)
    if test is not None and _format(test) != kind:
        raise DseError(f"The test file {test} must be a .{kind} file, as {source} is.")
    if not 0 < test_fraction <= 0.5:
        raise DseError(f"The test fraction must be in (0, 0.5]; got {test_fraction}.")
    options = dict(label=label, recording=recording, features=features, window=window,
                   stride=stride)
    if kind == "ts":
        if given := [name for name, value in options.items() if value is not None]:
            raise DseError(f"--{given[0]} applies to CSV files; a .ts file holds whole cases "
                           f"(give --length to pad or cut them to one length).")
        return _from_ts(Path(source), test, length, test_fraction, seed)
    if length is not None:
        raise DseError("--length applies to .ts files; CSV rows are cut into --window rows.")
    if window is None:
        raise DseError(f"Give --window, the timesteps T of each window cut from {source}'s rows.")
    return _from_csv(Path(source), test, options, test_fraction, seed)


def _format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        hint = " It is a data file already: 'dse data describe' it." if suffix == ".npz" else ""
        raise DseError(f"Cannot tell the format of {path}: give a .csv file (one row per time "
                       f"step) or a .ts file (UCR/UEA, sktime).{hint}")
    return FORMATS[suffix]


def _from_csv(source: Path, test: str | Path | None, options: dict, fraction: float,
              seed: int) -> Built:
    columns = dict(label=options["label"] or "label", recording=options["recording"],
                   features=options["features"])
    window, stride = options["window"], options["stride"] or options["window"]
    rows = read_rows(source, **columns)
    cut = windows(rows, window, stride)
    classes, y = _classes(source, cut.labels, f"column {columns['label']!r}")
    notes = {"window": window, "stride": stride, "recording": columns["recording"],
             "feature_columns": list(rows.features), "dropped_rows": cut.dropped_rows,
             "filled": cut.filled}
    if test is not None:
        test_cut = windows(read_rows(test, **columns), window, stride)
        y_test = _indices(classes, test_cut.labels, f"The test file {test}")
        return _checked(source, Built(cut.X, y, test_cut.X, y_test, classes,
                                      dict(notes, split="file", test_file=str(test))), "windows")
    in_test = group_split(cut.groups, y, len(classes), fraction, seed)  # (W,)
    groups = "recordings" if columns["recording"] else "runs of one label"
    if not in_test.any():
        raise DseError(f"CSV file {source}: no {groups} could go to the test split without "
                       f"taking more than {fraction:g} of a class's windows; give more "
                       f"recordings (--recording), a larger --test-fraction, or a --test file.")
    notes.update(split=groups, train_groups=len(np.unique(cut.groups[~in_test])),
                 test_groups=len(np.unique(cut.groups[in_test])))
    return _checked(source, Built(cut.X[~in_test], y[~in_test], cut.X[in_test], y[in_test],
                                  classes, notes), "windows")


def _from_ts(source: Path, test: str | Path | None, length: int | None, fraction: float,
             seed: int) -> Built:
    cases = read_ts(source)
    length = length or cases.longest
    classes, y = _classes(source, cases.labels, "its class labels")
    X = padded(cases, length)
    if test is None:
        in_test = group_split(np.arange(len(y)), y, len(classes), fraction, seed)  # (N,)
        notes = dict(_fitted([cases], length), split="cases")
        return _checked(source, Built(X[~in_test], y[~in_test], X[in_test], y[in_test], classes,
                                      notes), "cases")
    test_cases = read_ts(test)
    if test_cases.dimensions != cases.dimensions:
        raise DseError(f"The test file {test} has {test_cases.dimensions} dimensions per case, "
                       f"{source} {cases.dimensions}.")
    y_test = _indices(classes, test_cases.labels, f"The test file {test}", test_cases.lines)
    notes = dict(_fitted([cases, test_cases], length), split="file", test_file=str(test))
    return _checked(source, Built(X, y, padded(test_cases, length), y_test, classes, notes),
                    "cases")


def _fitted(files: list[Cases], length: int) -> dict:
    """The length; how many series (one per case and dimension) were padded at the start or
    cut to their last steps; how many missing values were dropped or filled."""
    series = [values for cases in files for case in cases.series for values in case]
    return {"length": length, "padded": sum(len(v) < length for v in series),
            "truncated": sum(len(v) > length for v in series),
            "filled": sum(cases.missing for cases in files)}


def _indices(classes: tuple[str, ...], labels: np.ndarray, what: str,
             lines: tuple[int, ...] | None = None) -> np.ndarray:
    """Test labels as indices into the training classes, or an error naming one not there."""
    index = {name: k for k, name in enumerate(classes)}
    unknown = [k for k, label in enumerate(labels) if label not in index]
    if unknown:
        where = f" (line {lines[unknown[0]]})" if lines else ""
        raise DseError(f"{what} has label {str(labels[unknown[0]])!r}{where}, not one "
                       f"of the training classes ({', '.join(classes)}); a network cannot "
                       f"learn a class it never sees.")
    return np.array([index[label] for label in labels], np.int64)


def _classes(source: Path, labels: np.ndarray, where: str) -> tuple[tuple[str, ...], np.ndarray]:
    """The class names and labels 0..K-1 (``class_index``), two classes or more."""
    classes, y = class_index(labels)
    if len(classes) < 2:
        raise DseError(f"{source} holds a single class ({classes[0]!r}) in {where}; a "
                       f"classifier needs at least 2. Add sequences of the other classes.")
    return classes, y


def _checked(source: Path, built: Built, unit: str) -> Built:
    """``built`` if a search can train on it: enough training samples of every class."""
    counts = np.bincount(built.y_train, minlength=len(built.classes))
    if counts.min() < MIN_PER_CLASS:
        k = int(np.argmin(counts))
        remedy = "use a smaller --stride or more recordings" if unit == "windows" else \
            "add cases"
        raise DseError(f"{source}: class {built.classes[k]!r} has {counts[k]} training {unit}; "
                       f"each class needs at least {MIN_PER_CLASS}: {remedy}.")
    return built


def save(built: Built, out: str | Path) -> Path:
    """Write ``built`` as an ``.npz`` (written to a temporary file, then renamed, so a failed
    write leaves no half file)."""
    from dse.paths import writable_file

    out = Path(out)
    if out.suffix.lower() != ".npz":
        raise DseError(f"The output {out} must be an .npz file (e.g. {out.with_suffix('.npz')}).")
    writable_file(out, "data file")
    partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
    try:
        with partial.open("wb") as handle:
            np.savez(handle, X_train=built.X_train, y_train=built.y_train, X_test=built.X_test,
                     y_test=built.y_test, classes=np.array(built.classes))
        os.replace(partial, out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise DseError(f"Cannot write the data file {out}: {exc.strerror}.") from None
    return out


def summary(built: Built, out: Path | None = None) -> dict:
    """What was built, as JSON data: sizes, shape, classes and how the split was made."""
    N, T, F = built.X_train.shape
    return {"out": None if out is None else str(out), "train": N, "test": len(built.y_test),
            "timesteps": T, "features": F, "classes": list(built.classes),
            "train_counts": np.bincount(built.y_train, minlength=len(built.classes)).tolist(),
            "test_counts": np.bincount(built.y_test, minlength=len(built.classes)).tolist(),
            **built.notes}


def summary_text(info: dict) -> str:
    """The summary as a few lines for the terminal."""
    unit = "windows" if "window" in info else "cases"
    lines = [f"wrote {info['out']}: {info['train']:,} training and {info['test']:,} test {unit} "
             f"of T={info['timesteps']} steps x F={info['features']} features; "
             f"K={len(info['classes'])} classes: {', '.join(info['classes'])}"]
    if unit == "windows":
        lines.append(f"windows of {info['window']} rows every {info['stride']} rows, within "
                     f"one recording and one label; {info['dropped_rows']:,} rows in runs "
                     f"shorter than a window left out")
    else:
        lines.append(f"series padded at the start with their first value: {info['padded']:,}; "
                     f"cut to their last {info['length']} steps: {info['truncated']:,}")
    if info["split"] == "file":
        lines.append(f"test split: the test file {info['test_file']}")
    elif info["split"] == "cases":
        lines.append("test split: a stratified share of each class's cases")
    else:
        lines.append(f"test split by {info['split']}: {info['train_groups']:,} in training, "
                     f"{info['test_groups']:,} in test, none in both")
    lines += [f"missing values filled: {info['filled']:,}",
              f"next: dse data describe {info['out']}, then dse run --profile P --data "
              f"{info['out']}"]
    return "\n".join(lines)
