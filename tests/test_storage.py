"""Storages as a new user meets them: both PostgreSQL URL forms against a real server, a
joining worker that stops at the study's own target, a missing driver named in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import trained_networks

FAST = ["--space", "small", "--epochs", "1", "--no-progress", "--train-seeds", "1"]


def dse(*args: str, cwd: Path, env_path: Path | None = None) -> subprocess.CompletedProcess:
    env = None
    if env_path is not None:  # put shadow packages first on the path
        import os

        env = dict(os.environ, PYTHONPATH=str(env_path))
    return subprocess.run([sys.executable, "-m", "dse.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=600, env=env)


@pytest.mark.postgres
@pytest.mark.parametrize("scheme", ["postgresql://", "postgresql+psycopg2://"])
@pytest.mark.slow
def test_both_postgresql_url_forms_work(tmp_path, postgres_url, scheme: str) -> None:
    url = scheme + postgres_url.split("://", 1)[1]
    name = "plain" if scheme == "postgresql://" else "psycopg2"
    result = dse("run", "--profile", "stm32l4", "--storage", url, "--study", name,
                 "--trainings", "4", *FAST, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert trained_networks(url, name) == 4


@pytest.mark.postgres
@pytest.mark.slow
def test_a_worker_without_trials_stops_at_the_studys_target(tmp_path, postgres_url) -> None:
    # The study is created with a target of 8 but no trial run (the timeout passes at once);
    # the worker, given no --trainings, must stop at 8: not at a default of its own.
    made = dse("run", "--profile", "stm32l4", "--storage", postgres_url, "--study", "target",
               "--trainings", "8", "--timeout", "1e-9", *FAST, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert trained_networks(postgres_url, "target") == 0
    joined = dse("worker", "--storage", postgres_url, "--study", "target", "--no-progress",
                 "--out", str(tmp_path / "w"), cwd=tmp_path)
    assert joined.returncode == 0, joined.stderr
    assert trained_networks(postgres_url, "target") == 8
    again = dse("worker", "--storage", postgres_url, "--study", "target", "--trainings", "12",
                "--no-progress", "--out", str(tmp_path / "w"), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert trained_networks(postgres_url, "target") == 12  # --trainings moves the stored target


def shadow(folder: Path, *packages: str) -> Path:
    """A folder of packages that fail to import, as if they were not installed."""
    for package in packages:
        (folder / package).mkdir(parents=True)
        (folder / package / "__init__.py").write_text(
            f'raise ImportError("No module named {package} (hidden by the test)")\n')
    return folder


def test_a_missing_driver_names_the_package(tmp_path) -> None:
    hidden = shadow(tmp_path / "hidden", "psycopg")
    result = dse("run", "--profile", "stm32l4", "--storage", "postgresql://u:secret@h/db",
                 "--trainings", "2", *FAST, cwd=tmp_path, env_path=hidden)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "dse: error: Storage 'postgresql://u:***@h/db' needs the psycopg database driver: "
        "pip install \"psycopg[binary]\" (or pip install \"dse[postgres]\").")


def test_gp_without_scipy_is_refused_before_the_first_trial(tmp_path) -> None:
    hidden = shadow(tmp_path / "hidden", "scipy")
    result = dse("run", "--profile", "stm32l4", "--sampler", "gp", "--trainings", "12", "--study",
                 "gp", *FAST, cwd=tmp_path, env_path=hidden)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == ("dse: error: The 'gp' sampler needs scipy for its "
                                     "optimizer: pip install scipy (or choose --sampler tpe).")
    assert not (tmp_path / "runs" / "gp" / "study.db").exists()


@pytest.mark.slow
def test_a_gp_study_exports_without_scipy(tmp_path) -> None:
    """An export reads a study's inputs but never samples: the gp sampler's scipy is not
    needed (it was asked for when the inputs were resolved)."""
    made = dse("run", "--profile", "stm32l4", "--sampler", "gp", "--trainings", "2", "--study",
               "gp", *FAST, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    hidden = shadow(tmp_path / "hidden", "scipy")
    exported = dse("export", "--study", "gp", "--row", "1", "--epochs", "1", "--seeds", "1",
                   "--format", "c", "--out", "gp-export", cwd=tmp_path, env_path=hidden)
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "gp-export" / "model.c").is_file()
    resumed = dse("run", "--profile", "stm32l4", "--sampler", "gp", "--trainings", "3",
                  "--study", "gp", *FAST, cwd=tmp_path, env_path=hidden)
    assert resumed.returncode == 2  # a search still needs it, and says so
    assert "The 'gp' sampler needs scipy" in resumed.stderr
