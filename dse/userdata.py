"""The user's own data: the one place that reads a data file, for its checksum and arrays.

An ``.npz`` holds ``X_train`` [N, T, F] and ``y_train`` [N] (labels 0..K-1), optionally
``X_test``/``y_test`` (otherwise a seeded stratified split). The file is read in a bounded
way: its size, each array's shape and dtype and every label are checked before anything
large is allocated, pickled or object arrays are refused (never unpickled), and a damaged
archive is one line naming the file.
"""

from __future__ import annotations

import hashlib
import math
import stat
import zipfile
from pathlib import Path

import numpy as np

from dse.errors import DseError
from dse.tasks import Dataset, standardized

MIN_PER_CLASS = 5
MAX_FILE_BYTES = 4 << 30  # a data file larger than this is refused before it is read
MAX_ARRAY_BYTES = 2 << 30  # the arrays once loaded (float32 features)
MAX_CLASSES = 65_536
MAX_MAGNITUDE = 1e150  # beyond this, squares overflow float64 and standardization breaks
ARRAYS = ("X_train", "y_train", "X_test", "y_test")
_CHUNK = 1 << 20


def _regular_file(path: Path) -> int:
    """The size of ``path``, which must be a regular file no larger than the limit."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise DseError(f"Data file {path} does not exist.") from None
    except OSError as exc:
        raise DseError(f"Cannot read data file {path}: {exc.strerror}.") from None
    if not stat.S_ISREG(info.st_mode):
        raise DseError(f"Data file {path} is not a regular file (a device, pipe or folder); "
                       f"give the path of an .npz file.")
    if info.st_size > MAX_FILE_BYTES:
        raise DseError(f"Data file {path} is {info.st_size / 2**30:.1f} GiB; the limit is "
                       f"{MAX_FILE_BYTES >> 30} GiB. Subsample or shorten the windows.")
    return info.st_size


def file_sha256(path: str | Path) -> str:
    """Checksum of a data file, read in chunks, so a rerun can tell that the data changed."""
    path = Path(path)
    _regular_file(path)
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        raise DseError(f"Cannot read data file {path}: {exc.strerror}.") from None
    return digest.hexdigest()


def load_npz(path: str | Path, seed: int = 0, test_fraction: float = 0.25) -> Dataset:
    """The user's ``.npz``, checked and standardized with the training statistics."""
    path = Path(path)
    _regular_file(path)
    arrays = _read_arrays(path)
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


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """The four arrays of the archive, each checked by its header before it is read."""
    with path.open("rb") as handle:
        if handle.read(6) == b"\x93NUMPY":
            raise DseError(f"Data file {path} is a single .npy array; save features and labels "
                           f"together with np.savez(path, X_train=X, y_train=y).")
    try:
        with zipfile.ZipFile(path) as archive:
            members = {name.removesuffix(".npy"): name for name in archive.namelist()}
            for key in ("X_train", "y_train"):
                if key not in members:
                    raise DseError(f"Data file {path} has no array {key!r} (it has: "
                                   f"{', '.join(sorted(members)) or 'none'}). Save it with "
                                   f"np.savez(path, X_train=X, y_train=y).")
            if ("X_test" in members) != ("y_test" in members):
                raise DseError(f"Data file {path} must have both 'X_test' and 'y_test', or "
                               f"neither.")
            wanted = [key for key in ARRAYS if key in members]
            headers = {key: _header(path, archive, members[key], key) for key in wanted}
            loaded = sum(4 * math.prod(shape) for shape, _ in headers.values())
            if loaded > MAX_ARRAY_BYTES:
                raise DseError(f"Data file {path} holds {loaded / 2**30:.1f} GiB of arrays; the "
                               f"limit is {MAX_ARRAY_BYTES >> 30} GiB. Subsample it.")
            return {key: _array(path, archive, members[key]) for key in wanted}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
        raise DseError(f"Data file {path} is not a readable .npz archive (a zip of .npy arrays, "
                       f"as np.savez writes): {exc}.") from None


def _header(path: Path, archive: zipfile.ZipFile, member: str, key: str):
    """(shape, dtype) from an array's .npy header, read without its data."""
    try:
        with archive.open(member) as handle:
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}.get(
                np.lib.format.read_magic(handle))
            if read_header is None:
                raise ValueError("unknown .npy format version")
            shape, _, dtype = read_header(handle)
    except ValueError as exc:
        raise DseError(f"Data file {path}: array {key!r} is not a valid .npy array: {exc}.") from None
    if dtype.hasobject or dtype.kind not in "biuf":
        kind = "complex" if dtype.kind == "c" else "object/pickled" if dtype.hasobject else \
            str(dtype)
        raise DseError(f"Data file {path}: array {key!r} holds {kind} values; features and "
                       f"labels must be real numbers (int or float arrays).")
    return shape, dtype


def _array(path: Path, archive: zipfile.ZipFile, member: str) -> np.ndarray:
    with archive.open(member) as handle:
        return np.lib.format.read_array(handle, allow_pickle=False)


def _checked(path: Path, x_key: str, X: np.ndarray, y_key: str, y: np.ndarray):
    where = f"Data file {path}:"
    if X.ndim != 3:
        raise DseError(f"{where} {x_key!r} must have 3 dimensions [N, T, F]; got shape "
                       f"{X.shape}. Add a feature axis with X[..., None] if F = 1.")
    if min(X.shape) == 0:
        raise DseError(f"{where} {x_key!r} has shape {X.shape}; it needs at least one sample, "
                       f"one timestep and one feature.")
    if not np.all(np.isfinite(X)):
        raise DseError(f"{where} {x_key!r} must be finite numbers (found NaN or inf); clean or "
                       f"impute them first.")
    largest = float(np.abs(X).max())  # a Python float: no cast of the bound to float16/32
    if largest > MAX_MAGNITUDE:
        raise DseError(f"{where} {x_key!r} has values up to {largest:.3g}; rescale "
                       f"features to within +-{MAX_MAGNITUDE:g} (their scale does not matter, "
                       f"they are standardized).")
    if y.ndim != 1 or len(y) != len(X):
        raise DseError(f"{where} {y_key!r} must be a vector of {len(X)} labels, one per sample "
                       f"of {x_key!r}; got shape {y.shape}.")
    if y.dtype.kind == "f" and not (np.all(np.isfinite(y)) and np.all(y == np.round(y))):
        raise DseError(f"{where} {y_key!r} must hold integer class labels; got {y.dtype} "
                       f"values that are not whole numbers.")
    low, high = y.min(), y.max()  # compared before any cast, so 1e40 stays 1e40
    if low < 0:
        raise DseError(f"{where} {y_key!r} has label {low:.6g}; labels must be 0..K-1.")
    if high >= MAX_CLASSES:
        raise DseError(f"{where} {y_key!r} has label {high:.6g}; labels must be 0..K-1 with at "
                       f"most {MAX_CLASSES:,} classes.")
    return X, y.astype(np.int64)


def _stratified_split(y: np.ndarray, fraction: float, seed: int):
    rng = np.random.default_rng([seed, 7])
    train, test = [], []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        cut = int(math.floor(len(members) * fraction))
        test += list(members[:cut])
        train += list(members[cut:])
    return np.sort(np.array(train, int)), np.sort(np.array(test, int))
