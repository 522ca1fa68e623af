"""The user's own data: the one place that reads an ``.npz`` data file, for its checksum and
arrays (``dse.data`` turns CSV and ``.ts`` files into one).

An ``.npz`` holds ``X_train`` [N, T, F] and ``y_train`` [N] (labels 0..K-1), optionally
``X_test``/``y_test`` (otherwise a seeded stratified split) and ``classes`` (the K class
names). The file is read in a bounded way: its size, each array's shape and dtype and every
label are checked before anything large is allocated, pickled or object arrays are refused
(never unpickled), and a damaged archive is one line naming the file.
"""

from __future__ import annotations

import hashlib
import math
import stat
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dse.errors import DseError, DseWarning
from dse.tasks import Dataset, standardized

MIN_PER_CLASS = 5
TEST_FRACTION = 0.25  # held out of a file without its own test split, stratified by class
MAX_FILE_BYTES = 4 << 30  # a data file larger than this is refused before it is read
MAX_TEXT_BYTES = 1 << 30  # a CSV or .ts file, likewise (dse.data builds an .npz from it)
MAX_ARRAY_BYTES = 2 << 30  # the arrays once loaded (float32 features)
MAX_CLASSES = 65_536
MAX_MAGNITUDE = 1e150  # beyond this, squares overflow float64 and standardization breaks
ARRAYS = ("X_train", "y_train", "X_test", "y_test", "classes")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class UserData:
    """A data file's arrays, checked, in their own units (not yet standardized): the split
    the proxy trains and tests on, and the names of the classes."""

    X_train: np.ndarray  # (N, T, F) as stored
    y_train: np.ndarray  # (N,) int64 in 0..K-1
    X_test: np.ndarray  # (M, T, F)
    y_test: np.ndarray  # (M,) int64 in 0..K-1
    classes: tuple[str, ...]  # K names: the file's 'classes' array, else "0".."K-1"
    test_from_file: bool  # the file's own test split, not the seeded one


def regular_file(path: Path, max_bytes: int = MAX_FILE_BYTES) -> int:
    """The size of ``path``, which must be a regular file of at most ``max_bytes``."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise DseError(f"Data file {path} does not exist.") from None
    except OSError as exc:
        raise DseError(f"Cannot read data file {path}: {exc.strerror}.") from None
    if not stat.S_ISREG(info.st_mode):
        raise DseError(f"Data file {path} is not a regular file (a device, pipe or folder); "
                       f"give the path of a data file.")
    if info.st_size > max_bytes:
        raise DseError(f"Data file {path} is {info.st_size / 2**30:.1f} GiB; the limit is "
                       f"{max_bytes / 2**30:g} GiB. Subsample or shorten the windows.")
    return info.st_size


def file_sha256(path: str | Path) -> str:
    """Checksum of a data file, read in chunks, so a rerun can tell that the data changed."""
    path = Path(path)
    regular_file(path)
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        raise DseError(f"Cannot read data file {path}: {exc.strerror}.") from None
    return digest.hexdigest()


def load_npz(path: str | Path, seed: int = 0, test_fraction: float = TEST_FRACTION) -> Dataset:
    """The user's ``.npz``, checked and standardized with the training statistics."""
    data = read_npz(path, seed, test_fraction)
    return standardized(Path(path).stem, data.X_train, data.y_train, data.X_test, data.y_test,
                        len(data.classes))


def read_npz(path: str | Path, seed: int = 0, test_fraction: float = TEST_FRACTION) -> UserData:
    """The user's ``.npz``, checked, split (the file's test split, else a seeded stratified
    one), in its own units. Warns (``DseWarning``) when the layout looks transposed."""
    path = Path(path)
    regular_file(path)
    arrays = _read_arrays(path)
    X, y = _checked(path, "X_train", arrays["X_train"], "y_train", arrays["y_train"])
    if (warning := transposed_layout(X.shape)) is not None:
        warnings.warn(f"Data file {path}: {warning}", DseWarning, stacklevel=2)
    classes = _class_names(path, arrays.get("classes"), y)
    if "X_test" in arrays:
        X_test, y_test = _checked(path, "X_test", arrays["X_test"], "y_test", arrays["y_test"])
        if X_test.shape[1:] != X.shape[1:]:
            raise DseError(f"Data file {path}: 'X_test' has shape {X_test.shape}, but its "
                           f"timesteps and features must match 'X_train' {X.shape[1:]}.")
        if y_test.max() >= len(classes):
            raise DseError(f"Data file {path}: 'y_test' has label {int(y_test.max())}, not one "
                           f"of the {len(classes)} classes of 'y_train' (labels 0.."
                           f"{len(classes) - 1}).")
    else:
        train, test = _stratified_split(y, test_fraction, seed)
        X, y, X_test, y_test = X[train], y[train], X[test], y[test]
    counts = np.bincount(y, minlength=len(classes))
    if counts.min() < MIN_PER_CLASS:
        label = int(np.argmin(counts))
        name = "" if classes[label] == str(label) else f" ({classes[label]!r})"
        raise DseError(f"Data file {path}: class {label}{name} has {counts.min()} training "
                       f"samples; each class needs at least {MIN_PER_CLASS}.")
    return UserData(X, y, X_test, y_test, classes, "X_test" in arrays)


def transposed_layout(shape: tuple[int, ...]) -> str | None:
    """Why an [N, T, F] array with fewer timesteps than features may be [N, channels, T]."""
    _, T, F = shape
    if T >= F:
        return None
    return (f"'X_train' has shape {shape}: T={T} timesteps of F={F} features each; dse reads "
            f"[N, T, F]. If it is [N, channels, T] (as sktime, aeon and PyTorch's Conv1d store "
            f"series), save X.transpose(0, 2, 1) instead.")


REMAP = ("Remap them: classes, y_train = np.unique(y_train, return_inverse=True) (and y_test = "
         "np.searchsorted(classes, y_test)), and save classes=classes to keep the names.")


def _class_names(path: Path, stored: np.ndarray | None, y: np.ndarray) -> tuple[str, ...]:
    """The K class names (the file's ``classes``, else the labels), once every one of the K
    classes is known to have training samples."""
    present = np.unique(y)
    if len(present) < 2:
        raise DseError(f"Data file {path}: 'y_train' holds a single class (label "
                       f"{int(present[0])}); a classifier needs at least 2. Add samples of the "
                       f"other classes.")
    if stored is None:
        names = tuple(str(label) for label in range(int(present[-1]) + 1))
    elif stored.ndim != 1 or not len(stored) > present[-1]:
        raise DseError(f"Data file {path}: 'classes' must be a vector of at least "
                       f"{int(present[-1]) + 1} names, one per label of 'y_train'; got shape "
                       f"{stored.shape}.")
    else:
        names = tuple(str(name) for name in stored)
    missing = sorted(set(range(len(names))) - set(present.tolist()))
    if missing and stored is None:
        raise DseError(f"Data file {path}: 'y_train' has labels {_listed(present.tolist())} but "
                       f"no {_listed(missing)}; labels must be 0..K-1, every class present. "
                       f"{REMAP}")
    if missing:
        raise DseError(f"Data file {path}: class {missing[0]} ({names[missing[0]]!r} in "
                       f"'classes') has no samples in 'y_train'; drop it from 'classes' and "
                       f"renumber the labels 0..K-1. {REMAP}")
    return names


def _listed(values: list[int]) -> str:
    """Labels as text: all of a few, else the range and the count."""
    if len(values) <= 6:
        return ", ".join(str(v) for v in values)
    return f"{values[0]}..{values[-1]} ({len(values)} values)"


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """The arrays of the archive, each checked by its header before it is read."""
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
            loaded = sum(max(4, dtype.itemsize) * math.prod(shape)
                         for shape, dtype in headers.values())
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
    if key == "classes" and dtype.kind in "Uiu":
        return shape, dtype
    if key.startswith("y_") and dtype.kind in "US":
        raise DseError(f"Data file {path}: {key!r} holds text labels ({dtype}); labels must be "
                       f"integers 0..K-1. {REMAP}")
    if dtype.hasobject or dtype.kind not in "biuf":
        kind = "complex" if dtype.kind == "c" else "object/pickled" if dtype.hasobject else \
            str(dtype)
        what = "class names must be text or integers" if key == "classes" else \
            "features and labels must be real numbers (int or float arrays)"
        raise DseError(f"Data file {path}: array {key!r} holds {kind} values; {what}.")
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
        raise DseError(f"{where} {y_key!r} has label {low:.6g}; labels must be 0..K-1. {REMAP}")
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
