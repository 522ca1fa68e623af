"""Built-in tasks are deterministic per seed; user .npz files are checked with clear errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from dse.errors import DseError, DseWarning
from dse.tasks import available_tasks, load_task
from dse.userdata import load_npz, read_npz


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


X60 = np.random.default_rng(0).normal(size=(60, 12, 3))


@pytest.mark.parametrize(("y", "message"), [
    (np.arange(60) % 3 + 1, r"'y_train' has labels 1, 2, 3 but no 0; labels must be 0..K-1.*"
                            r"np.unique\(y_train, return_inverse=True\)"),
    (np.array(["a", "b", "c"] * 20), r"'y_train' holds text labels.*np.unique\(y_train, "
                                     r"return_inverse=True\).*classes=classes"),
    (np.zeros(60, int), r"one\.npz: 'y_train' holds a single class \(label 0\); a classifier "
                        r"needs at least 2"),
])
def test_labels_that_are_not_0_to_k_minus_1(tmp_path, y, message: str) -> None:
    with pytest.raises(DseError, match=message):
        load_npz(save(tmp_path / "one.npz", X_train=X60, y_train=y))


def test_the_loader_takes_class_names(tmp_path) -> None:
    path = save(tmp_path / "n.npz", X_train=X60, y_train=np.arange(60) % 3,
                classes=np.array(["sit", "walk", "run"]))
    assert read_npz(path).classes == ("sit", "walk", "run")
    assert load_npz(path).classes == 3
    unused = save(tmp_path / "u.npz", X_train=X60, y_train=np.arange(60) % 3,
                  classes=np.array(["sit", "walk", "run", "jump"]))
    with pytest.raises(DseError, match=r"class 3 \('jump' in 'classes'\) has no samples"):
        load_npz(unused)


def test_fewer_timesteps_than_features_warns(tmp_path) -> None:
    """[N, channels, T] saved as is reads as T = channels: a warning, not an error (a short
    window of many features may be meant); [N, T, F] with T >= F warns nothing."""
    path = save(tmp_path / "nct.npz", X_train=X60.transpose(0, 2, 1), y_train=np.arange(60) % 3)
    with pytest.warns(DseWarning, match=r"nct\.npz: 'X_train' has shape \(60, 3, 12\).*"
                                        r"X\.transpose\(0, 2, 1\)"):
        load_npz(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_npz(save(tmp_path / "ntf.npz", X_train=X60, y_train=np.arange(60) % 3))
