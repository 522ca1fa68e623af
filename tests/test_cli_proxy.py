"""`dse tasks`, `dse evaluate` and `dse dashboard` as a user runs them."""

from __future__ import annotations

import json

import numpy as np
import pytest


def test_tasks_lists_shapes(dse) -> None:
    result = dse("tasks", "--json")
    assert result.returncode == 0, result.stderr
    tasks = {t["name"]: t for t in json.loads(result.stdout)}
    assert set(tasks) == {"motion", "temporal_order", "anomaly"}
    assert (tasks["motion"]["features"], tasks["motion"]["classes"]) == (6, 6)
    assert "motion" in dse("tasks").stdout


def test_evaluate_json_with_cost(dse) -> None:
    result = dse("evaluate", "--arch", "gru:8", "--task", "motion", "--epochs", "1", "--json",
                 "--profile", "stm32l4")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert 0 <= data["accuracy_quantized"] <= 1 and data["train_seconds"] > 0
    assert data["cost"]["macc"] == ((6 + 8 + 2) * 3 * 8 + 8) * 48 + 9 * 6
    again = json.loads(dse("evaluate", "--arch", "gru:8", "--task", "motion", "--epochs", "1",
                           "--json").stdout)
    assert again["accuracy"] == data["accuracy"]  # same seed, same number, another process


def test_evaluate_says_when_early_stopping_ended_the_training(dse) -> None:
    args = ("evaluate", "--arch", "gru:4", "--task", "motion", "--epochs", "60")
    data = json.loads(dse(*args, "--json").stdout)
    assert data["epochs_asked"] == 60 and data["epochs_run"] < 60 and data["diverged"] is None
    text = dse(*args).stdout
    assert f"seed 0, {data['epochs_run']} of 60 epochs (early stopping)" in text.splitlines()[0]
    whole = dse("evaluate", "--arch", "gru:4", "--task", "motion", "--epochs", "2").stdout
    assert whole.splitlines()[0].endswith("seed 0, 2 of 2 epochs")


def test_evaluate_user_data_and_bad_data(dse, tmp_path) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "ok.npz", X_train=rng.normal(size=(40, 6, 2)), y_train=np.arange(40) % 2)
    good = dse("evaluate", "--arch", "lstm:4", "--data", str(tmp_path / "ok.npz"), "--epochs",
               "1", "--json")
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["data"] == "ok"
    np.savez(tmp_path / "bad.npz", X_train=np.full((40, 6, 2), np.inf), y_train=np.arange(40) % 2)
    bad = dse("evaluate", "--arch", "lstm:4", "--data", str(tmp_path / "bad.npz"))
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "bad.npz" in bad.stderr and "finite" in bad.stderr
    both = dse("evaluate", "--arch", "lstm:4", "--task", "motion", "--data", "x.npz")
    assert both.returncode == 2 and "either a built-in task" in both.stderr


@pytest.mark.slow
def test_dashboard_from_storage_and_missing_study(dse, tmp_path) -> None:
    run = dse("run", "--profile", "stm32l4", "--space", "small", "--trainings", "4", "--epochs", "1",
              "--study", "d", "--out", str(tmp_path), "--no-progress")
    assert run.returncode == 0, run.stderr
    url = f"sqlite:///{tmp_path / 'd' / 'study.db'}"
    out = tmp_path / "both.html"
    made = dse("dashboard", "--storage", url, "--study", "d", "-o", str(out))
    assert made.returncode == 0, made.stderr
    assert out.stat().st_size > 1_000_000  # plotly.js inside
    missing = dse("dashboard", "--storage", url, "--study", "nope", "-o", str(out))
    assert missing.returncode == 2
    assert "No dse study named 'nope'" in missing.stderr and "Studies there: d" in missing.stderr


@pytest.mark.slow
def test_dashboard_compares_studies_from_several_storages(dse, tmp_path) -> None:
    tiny = ("--profile", "stm32l4", "--space", "small", "--trainings", "2", "--epochs", "1",
            "--train-seeds", "1", "--no-progress")
    for study, folder, seed in (("a", "one", "0"), ("b", "two", "0"), ("a", "three", "1")):
        made = dse("run", *tiny, "--study", study, "--seed", seed, "--out", str(tmp_path / folder))
        assert made.returncode == 0, made.stderr
    one, two, three = (f"sqlite:///{tmp_path / folder / study / 'study.db'}"
                       for folder, study in (("one", "a"), ("two", "b"), ("three", "a")))
    out = tmp_path / "both.html"
    both = dse("dashboard", "--storage", one, "--storage", two, "--study", "a", "--study", "b",
               "-o", str(out))
    assert both.returncode == 0, both.stderr
    page = out.read_text()
    assert "<h2>a</h2>" in page and "<h2>b</h2>" in page and "Pareto fronts of the studies" in page
    same = dse("dashboard", "--storage", one, "--storage", three, "--study", "a", "-o", str(out))
    assert same.returncode == 0, same.stderr
    page = out.read_text()
    assert f"<h2>a ({one})</h2>" in page and f"<h2>a ({three})</h2>" in page  # told apart
    missing = dse("dashboard", "--storage", one, "--storage", two, "--study", "nope", "-o",
                  str(out))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert missing.stderr.strip() == (
        f"dse: error: No dse study named 'nope' in any of the 2 storages given: {one} (studies "
        f"there: a); {two} (studies there: b).")
    idle = dse("dashboard", "--storage", one, "--storage", two, "--study", "a", "-o", str(out))
    assert idle.returncode == 2
    assert f"Storage '{two}' holds none of the studies named (a); studies there: b." in idle.stderr


@pytest.mark.postgres
@pytest.mark.slow
def test_a_study_missing_from_several_storages_masks_their_passwords(dse, tmp_path,
                                                                     postgres_url) -> None:
    import optuna

    optuna.create_study(study_name="someone-elses", storage=postgres_url)
    with_password = postgres_url.replace("postgres@", "postgres:pw-not-shown@")  # trust auth
    db = tmp_path / "empty.db"
    optuna.create_study(study_name="other", storage=f"sqlite:///{db}")
    missing = dse("dashboard", "--storage", f"sqlite:///{db}", "--storage", with_password,
                  "--study", "nope", "-o", str(tmp_path / "d.html"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "pw-not-shown" not in missing.stderr
    assert (f"No dse study named 'nope' in any of the 2 storages given: sqlite:///{db} (studies "
            f"there: other); {postgres_url.replace('postgres@', 'postgres:***@')} (studies "
            f"there: ") in missing.stderr
