"""Pure functions that turn raw sequences into the proxy's windows: class labels to 0..K-1,
missing values filled, ragged series padded, recordings cut into windows and split by
recording. No file is read here."""

from __future__ import annotations

import numpy as np


def class_index(labels: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
    """The class names in order and each label's index (0..K-1). Names sort as numbers when
    every one is a number ("2" before "10"), else as text; they are kept as written."""
    names, index = np.unique(labels.astype(str), return_inverse=True)  # (K,), (N,)
    try:
        order = np.lexsort((names, names.astype(np.float64)))  # by number, then as written
    except ValueError:  # not all numbers: np.unique's text order
        order = np.arange(len(names))
    rank = np.empty(len(names), np.int64)
    rank[order] = np.arange(len(names))
    return tuple(str(names[k]) for k in order), rank[index]


def filled(values: np.ndarray) -> np.ndarray:
    """``values`` (T, F) with each NaN replaced by the last value before it in its column, or
    the first value after it where none comes before. A column with no value stays NaN."""
    T = len(values)
    seen = ~np.isnan(values)  # (T, F)
    last = np.where(seen, np.arange(T)[:, None], -1)  # (T, F)
    last = np.maximum.accumulate(last, axis=0)  # (T, F) index of the last value seen
    first = np.argmax(seen, axis=0)  # (F,) index of each column's first value
    source = np.where(last >= 0, last, first[None, :])  # (T, F)
    return np.take_along_axis(values, source, axis=0)


def trimmed(series: np.ndarray) -> np.ndarray:
    """A 1-D series without its leading and trailing NaNs (a ragged series stored padded with
    missing values), inner NaNs filled from the value before them. Empty if all are NaN."""
    seen = np.flatnonzero(~np.isnan(series))
    if len(seen) == 0:
        return series[:0]
    return filled(series[seen[0]:seen[-1] + 1, None])[:, 0]


def pad_start(series: np.ndarray, length: int) -> np.ndarray:
    """A 1-D series made ``length`` long: its last ``length`` values, or, if shorter, its
    first value repeated before it. The last step stays the series' own last value, the one
    a network that reads the last step answers from."""
    if len(series) >= length:
        return series[len(series) - length:]
    return np.concatenate([np.full(length - len(series), series[0]), series])


def window_starts(rows: int, window: int, stride: int) -> np.ndarray:
    """First rows of the windows of ``window`` rows, ``stride`` apart, that fit in ``rows``."""
    return np.arange(0, rows - window + 1, stride) if rows >= window else np.zeros(0, np.int64)


def runs(keys: np.ndarray) -> np.ndarray:
    """Start of every run of equal consecutive keys, and the end: (R + 1,) boundaries."""
    change = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    return np.concatenate([[0], change, [len(keys)]])


def group_split(groups: np.ndarray, y: np.ndarray, classes: int, fraction: float,
                seed: int) -> np.ndarray:
    """A test mask over windows that keeps every group's windows on one side and brings each
    class's test share near ``fraction``: groups in a seeded order join the test side while
    that moves the test counts of all classes closer to their targets."""
    ids, group_of = np.unique(groups, return_inverse=True)  # (G,), (W,)
    counts = np.zeros((len(ids), classes))  # (G, K) windows of each class in each group
    np.add.at(counts, (group_of, y), 1)
    target = fraction * counts.sum(axis=0)  # (K,)
    taken = np.zeros(classes)  # (K,)
    chosen = np.zeros(len(ids), bool)  # (G,)
    for group in np.random.default_rng([seed, 29]).permutation(len(ids)):
        after = taken + counts[group]
        if np.abs(after - target).sum() < np.abs(taken - target).sum():
            taken, chosen[group] = after, True
    return chosen[group_of]
