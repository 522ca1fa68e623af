"""Built-in tasks are deterministic per seed; user .npz files are checked with clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from dse.errors import DseError
from dse.tasks import available_tasks, load_task
from dse.userdata import load_npz


@pytest.mark.parametrize("name", ["motion", "temporal_order", "anomaly"])
def test_tasks_are_deterministic_per_seed(name: str) -> None:
    a, b, c = load_task(name, seed=0), load_task(name, seed=0), load_task(name, seed=1)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.X_train, c.X_train)
    assert a.X_train.dtype == np.float32 and a.y_train.dtype == np.int64
    assert set(np.unique(a.y_train)) == set(range(a.classes))
    # standardized with training statistics
    np.testing.assert_allclose(a.X_train.mean(axis=(0, 1)), 0, atol=1e-4)
    np.testing.assert_allclose(a.X_train.std(axis=(0, 1)), 1, atol=1e-3)


def test_available_tasks() -> None:
    assert available_tasks() == ["motion", "temporal_order", "anomaly"]
    with pytest.raises(DseError, match="Unknown task 'kws'. Available: motion, temporal_order"):
        load_task("kws")


def save(path, **arrays) -> str:
    np.savez(path, **arrays)
    return str(path)


def test_user_data_stratified_split_and_standardization(tmp_path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(5, 3, size=(80, 10, 2))
    y = np.repeat([0, 1, 2, 3], 20)
    data = load_npz(save(tmp_path / "d.npz", X_train=X, y_train=y), seed=0)
    assert len(data.y_test) == 20 and np.bincount(data.y_test).tolist() == [5, 5, 5, 5]
    assert (data.timesteps, data.features, data.classes) == (10, 2, 4)
    np.testing.assert_allclose(data.X_train.mean(axis=(0, 1)), 0, atol=1e-5)
    again = load_npz(tmp_path / "d.npz", seed=0)
    np.testing.assert_array_equal(data.X_test, again.X_test)


def test_user_data_with_its_own_test_split(tmp_path) -> None:
    X, y = np.zeros((20, 4, 1)) + np.arange(20)[:, None, None], np.arange(20) % 2
    data = load_npz(save(tmp_path / "d.npz", X_train=X, y_train=y, X_test=X[:6], y_test=y[:6]))
    assert len(data.y_train) == 20 and len(data.y_test) == 6


GOOD_X, GOOD_Y = np.zeros((20, 5, 2)), np.arange(20) % 2


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"X_train": GOOD_X}, r"has no array 'y_train' \(it has: X_train\)"),
        ({"X_train": GOOD_X[:, :, 0], "y_train": GOOD_Y}, r"'X_train' must have 3 dimensions"),
        ({"X_train": np.full((20, 5, 2), np.nan), "y_train": GOOD_Y}, "must be finite numbers"),
        ({"X_train": GOOD_X, "y_train": GOOD_Y[:15]}, "must be a vector of 20 labels"),
        ({"X_train": GOOD_X, "y_train": GOOD_Y - 1}, "has label -1; labels must be 0..K-1"),
        ({"X_train": GOOD_X, "y_train": GOOD_Y + 0.5}, "must hold integer class labels"),
        ({"X_train": GOOD_X[:8], "y_train": GOOD_Y[:8]}, "each class needs at least 5"),
        ({"X_train": GOOD_X, "y_train": GOOD_Y, "X_test": GOOD_X}, "both 'X_test' and 'y_test'"),
        ({"X_train": GOOD_X, "y_train": GOOD_Y, "X_test": GOOD_X[:, :3], "y_test": GOOD_Y},
         "timesteps and features must match"),
    ],
)
def test_bad_user_data(tmp_path, arrays: dict, message: str) -> None:
    path = save(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DseError, match=message) as info:
        load_npz(path)
    assert "bad.npz" in str(info.value)


def test_missing_or_unreadable_file(tmp_path) -> None:
    with pytest.raises(DseError, match="does not exist"):
        load_npz(tmp_path / "nope.npz")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(DseError, match="not a readable .npz archive"):
        load_npz(tmp_path / "text.npz")
