"""Workflows across commands as a user runs them: a named network exported from a study, a
worker joining a study on a SQLite file, a search with the nsga2 sampler."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pandas as pd
import pytest
from conftest import run_dse, trained_networks

FAST = ["--space", "small", "--epochs", "1", "--no-progress", "--train-seeds", "1"]


@pytest.mark.slow
def test_export_takes_a_named_architecture_from_a_study(small_study: Path, tmp_path) -> None:
    trials = pd.read_csv(small_study / "runs" / "s" / "trials.csv")
    scored = trials[(trials["state"] == "COMPLETE") & trials["accuracy"].notna()
                    & (trials["dtype"] == "int16")]
    front = pd.read_csv(small_study / "runs" / "s" / "pareto.csv")
    # a network the study trained, not the first row of its front: the name picks it
    arch = next(a for a in scored["arch"] if a != front.iloc[0]["arch"])
    chosen = scored[scored["arch"] == arch].iloc[0]  # the study's first scored trial of it
    done = run_dse("export", "--study", "s", "--runs", str(small_study / "runs"), "--arch", arch,
                   "--dtype", "int16", "--out", "named", "--epochs", "1", "--seeds", "1",
                   "--format", "c", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["arch"], report["dtype"]) == (arch, "int16")
    assert report["source"] == {"study": "s", "trial": int(chosen["number"]), "row": None}
    assert report["search"]["trial"] == chosen["number"]
    assert report["search"]["accuracy_quantized"] == pytest.approx(chosen["accuracy_quantized"])
    assert report["cost"]["profile"] == "stm32l4"
    assert report["checks"]["c_host"]["checked"] and report["checks"]["c_host"]["identical"]
    assert (tmp_path / "named" / "model.c").is_file()


@pytest.fixture(scope="module")
def joined(tmp_path_factory) -> tuple[str, Path, dict]:
    """A study on a SQLite file made by 'dse run' (2 trainings, 2 seeds each), then joined by
    'dse worker' up to 4 trainings: the storage URL, the worker's --out, its summary."""
    folder = tmp_path_factory.mktemp("joined")
    url = f"sqlite:///{folder / 'shared.db'}"
    made = run_dse("run", "--profile", "stm32l4", "--storage", url, "--study", "w",
                   "--trainings", "2", *FAST, "--train-seeds", "2", cwd=folder)
    assert made.returncode == 0, made.stderr
    assert trained_networks(url, "w") == 2
    worker = run_dse("worker", "--storage", url, "--study", "w", "--trainings", "4",
                     "--no-progress", "--json", "--out", str(folder / "worker"), cwd=folder)
    assert worker.returncode == 0, worker.stderr
    return url, folder / "worker", json.loads(worker.stdout)


@pytest.mark.slow
def test_a_worker_joins_a_study_on_a_sqlite_file_and_trains_into_it(joined) -> None:
    url, out, summary = joined
    assert trained_networks(url, "w") == 4  # two more, into the same study
    assert summary["study"] == "w" and summary["trained"] == 4
    assert Path(summary["out_dir"]) == out / "w"
    trials = pd.read_csv(out / "w" / "trials.csv")
    trained = trials[trials["trained"].astype(bool)]
    assert len(trained) == 4 and trained["arch"].nunique() == 4  # none trained twice


@pytest.mark.slow
def test_a_joining_worker_trains_with_the_studys_seeds(joined) -> None:
    _, out, summary = joined
    assert summary["front_seeds"] == 2  # the study was made with --train-seeds 2
    trials = pd.read_csv(out / "w" / "trials.csv")
    assert (trials.loc[trials["accuracy"].notna(), "seeds"] == 2).all()


@pytest.mark.slow
def test_the_nsga2_sampler_runs_a_search_end_to_end(tmp_path) -> None:
    done = run_dse("run", "--profile", "stm32l4", "--sampler", "nsga2", "--trainings", "12",
                   "--study", "n", "--json", *FAST, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["trained"] == 12 and summary["pareto"]
    out = tmp_path / "runs" / "n"
    assert json.loads((out / "manifest.json").read_text())["config"]["sampler"] == "nsga2"
    study = optuna.load_study(study_name="n", storage=f"sqlite:///{out / 'study.db'}")
    generations = [t.system_attrs.get("NSGAIISampler:generation") for t in study.trials]
    # NSGA-II proposed the trials, and bred a generation past its random first one
    assert max(g for g in generations if g is not None) >= 1
    pareto = pd.read_csv(out / "pareto.csv")
    assert pareto["feasible"].all() and pareto["accuracy_quantized"].between(0, 1).all()
