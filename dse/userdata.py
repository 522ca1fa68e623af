"""The user's own data: the one place that reads a data file, for its checksum and arrays.

An ``.npz`` holds ``X_train`` [N, T, F] and ``y_train`` [N] (labels 0..K-1), optionally
``X_test``/``y_test`` (otherwise a seeded stratified split).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np

from dse.errors import DseError
from dse.tasks import Dataset, standardized

MIN_PER_CLASS = 5


def file_sha256(path: str | Path) -> str:
    """Checksum of a data file, so a rerun can tell that the data changed."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as exc:
        raise DseError(f"Cannot read data file {path}: {exc.strerror}.") from None



def load_npz(path: str | Path, seed: int = 0, test_fraction: float = 0.25) -> Dataset:
    """The user's ``.npz``: ``X_train`` [N, T, F], ``y_train`` [N] in 0..K-1, optionally
    ``X_test``/``y_test`` (otherwise a seeded stratified split)."""
    path = Path(path)
    if not path.is_file():
        raise DseError(f"Data file {path} does not exist.")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DseError(f"Data file {path} is not a readable .npz archive: {exc}.") from None
    with archive:
        keys = set(archive.files)
        for key in ("X_train", "y_train"):
            if key not in keys:
                raise DseError(f"Data file {path} has no array {key!r} (it has: "
                               f"{', '.join(sorted(keys)) or 'none'}). Save it with "
                               f"np.savez(path, X_train=X, y_train=y).")
        if ("X_test" in keys) != ("y_test" in keys):
            raise DseError(f"Data file {path} must have both 'X_test' and 'y_test', or neither.")
        arrays = {key: archive[key] for key in ("X_train", "y_train", "X_test", "y_test")
                  if key in keys}
    X, y = _checked(path, "X_train", arrays["X_train"], "y_train", arrays["y_train"])
    classes = int(y.max()) + 1
    if "X_test" in arrays:
        X_test, y_test = _checked(path, "X_test", arrays["X_test"], "y_test", arrays["y_test"])
        if X_test.shape[1:] != X.shape[1:]:
            raise DseError(f"Data file {path}: 'X_test' has shape {X_test.shape}, but its "
                           f"timesteps and features must match 'X_train' {X.shape[1:]}.")
        if y_test.max() >= classes:
            raise DseError(f"Data file {path}: 'y_test' has label {int(y_test.max())}, not seen "
                           f"in 'y_train' (labels 0..{classes - 1}).")
    else:
        train, test = _stratified_split(y, test_fraction, seed)
        X, y, X_test, y_test = X[train], y[train], X[test], y[test]
    counts = np.bincount(y, minlength=classes)
    if counts.min() < MIN_PER_CLASS:
        label = int(np.argmin(counts))
        raise DseError(f"Data file {path}: class {label} has {counts.min()} training samples; "
                       f"each class needs at least {MIN_PER_CLASS}.")
    return standardized(path.stem, X, y, X_test, y_test, classes)


def _checked(path: Path, x_key: str, X: np.ndarray, y_key: str, y: np.ndarray):
    if X.ndim != 3:
        raise DseError(f"Data file {path}: {x_key!r} must have 3 dimensions [N, T, F]; "
                       f"got shape {X.shape}. Add a feature axis with X[..., None] if F = 1.")
    if not np.issubdtype(X.dtype, np.number) or not np.all(np.isfinite(X)):
        raise DseError(f"Data file {path}: {x_key!r} must be finite numbers (found NaN, inf "
                       f"or non-numbers); clean or impute them first.")
    if y.ndim != 1 or len(y) != len(X):
        raise DseError(f"Data file {path}: {y_key!r} must be a vector of {len(X)} labels, one "
                       f"per sample of {x_key!r}; got shape {y.shape}.")
    if not np.issubdtype(y.dtype, np.integer) and not (
        np.issubdtype(y.dtype, np.floating) and np.all(np.isfinite(y)) and np.all(y == np.round(y))
    ):
        raise DseError(f"Data file {path}: {y_key!r} must hold integer class labels; got "
                       f"{y.dtype}.")
    y = y.astype(np.int64)
    if y.min() < 0:
        raise DseError(f"Data file {path}: {y_key!r} has label {int(y.min())}; labels must be "
                       f"0..K-1.")
    return X.astype(np.float32), y


def _stratified_split(y: np.ndarray, fraction: float, seed: int):
    rng = np.random.default_rng([seed, 7])
    train, test = [], []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        cut = int(math.floor(len(members) * fraction))
        test += list(members[:cut])
        train += list(members[cut:])
    return np.sort(np.array(train, int)), np.sort(np.array(test, int))
