"""The search end to end with the real numpy proxy and real SQLite/PostgreSQL storages."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import optuna
import pandas as pd
import pytest

from dse import proxy
from dse.config import SearchConfig
from dse.hardware import load_profile
from dse.results import TIMING_COLUMNS
from dse.runner import run
from dse.search import optimize, pool

FAST = ["--epochs", "1", "--no-progress"]
TINY_SPACE = """
name = "tiny"
layers = [1, 2]
cells = [4, 8]
cell_types = ["gru"]
dtypes = ["int8"]
"""  # 2 + 4 = 6 distinct architectures


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dse.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


def read_trials(path: Path) -> pd.DataFrame:
    return pd.read_csv(path).drop(columns=list(TIMING_COLUMNS) + ["worker"], errors="ignore")


@pytest.fixture
def counted_training(monkeypatch):
    """Train in this process (threads) and count every call into the proxy trainer."""
    calls: list[str] = []
    real = proxy.evaluate

    def counting(arch, data, **kwargs):
        calls.append(f"{arch.text}|{arch.dtype}")
        return real(arch, data, **kwargs)

    def thread_pool(inputs, workers):
        return ThreadPoolExecutor(max_workers=1, initializer=pool.hold_inputs,
                                  initargs=(inputs,))

    monkeypatch.setattr(proxy, "evaluate", counting)
    monkeypatch.setattr(pool, "start_pool", thread_pool)
    return calls


def test_run_end_to_end_writes_documented_outputs(tmp_path) -> None:
    result = run_cli("run", "--profile", "stm32l4", "--space", "small", "--trials", "8",
                     "--study", "e2e", "--json", *FAST, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["complete"] == 8 and summary["pareto"]
    out = tmp_path / "runs" / "e2e"
    for name in ("study.db", "trials.csv", "pareto.csv", "manifest.json", "dashboard.html"):
        assert (out / name).is_file(), name
    trials = pd.read_csv(out / "trials.csv")
    assert list(trials.columns[:12]) == [
        "number", "arch", "dtype", "state", "accuracy", "accuracy_quantized", "latency_ms",
        "flash_bytes", "ram_bytes", "energy_uj", "feasible", "violations"]
    assert trials["accuracy_quantized"].between(0, 1).all()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["space"] == "small" and manifest["seed"] == 0
    assert manifest["environment"]["packages"]["optuna"] == optuna.__version__


def test_infeasible_candidates_never_reach_the_trainer(tmp_path, counted_training) -> None:
    # A profile whose RAM only fits the smallest networks: most candidates are infeasible.
    text = Path(load_profile("stm32l4").path).read_text()
    tight = tmp_path / "tight.toml"
    tight.write_text(text.replace("ram_bytes = 131_072", "ram_bytes = 9_800"))
    config = SearchConfig(profile=str(tight), space="small", trials=30, sampler="random",
                          epochs=1)
    outputs = run(config, out_root=tmp_path, show_progress=False)
    trials = outputs.trials
    infeasible = trials[~trials["feasible"]]
    assert len(infeasible) > 10
    assert infeasible["violations"].str.contains("ram_bytes").all()
    assert infeasible["accuracy"].isna().all() and not infeasible["trained"].any()
    trained_keys = set(counted_training)
    assert len(counted_training) == len(trained_keys)  # and no architecture twice
    feasible = trials[trials["feasible"]]
    feasible_keys = set(feasible["arch"] + "|" + feasible["dtype"])
    assert trained_keys == feasible_keys


def test_duplicates_are_not_retrained(tmp_path, counted_training) -> None:
    space = tmp_path / "tiny.toml"
    space.write_text(TINY_SPACE)
    config = SearchConfig(space=str(space), trials=16, sampler="random", epochs=1)
    trials = run(config, out_root=tmp_path, show_progress=False).trials
    assert len(trials) == 16 and len(counted_training) == len(set(counted_training)) <= 6
    reused = trials[trials["reused_from"] >= 0]
    assert len(reused) == 16 - len(counted_training)
    for row in reused.itertuples():  # a reused score is the original's, to the bit
        source = trials.set_index("number").loc[row.reused_from]
        assert (row.accuracy, row.accuracy_quantized) == (source.accuracy, source.accuracy_quantized)


def test_resume_continues_to_the_trial_target(tmp_path) -> None:
    base = ["run", "--profile", "stm32l4", "--space", "small", "--study", "resume", *FAST]
    assert run_cli(*base, "--trials", "6", cwd=tmp_path).returncode == 0
    first = read_trials(tmp_path / "runs" / "resume" / "trials.csv")
    assert run_cli(*base, "--trials", "10", cwd=tmp_path).returncode == 0
    second = read_trials(tmp_path / "runs" / "resume" / "trials.csv")
    assert len(second) == 10
    pd.testing.assert_frame_equal(second.iloc[:6].drop(columns="pareto"),
                                  first.drop(columns="pareto"))


def test_resume_with_other_settings_is_refused(tmp_path) -> None:
    base = ["run", "--profile", "stm32l4", "--space", "small", "--study", "s", *FAST]
    assert run_cli(*base, "--trials", "4", cwd=tmp_path).returncode == 0
    result = run_cli(*base, "--trials", "4", "--seed", "3", cwd=tmp_path)
    assert result.returncode == 2
    assert "Study 's' was made with other settings (seed differ: seed=0)" in result.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_run_resumes(tmp_path, sig) -> None:
    args = [sys.executable, "-m", "dse.cli", "run", "--profile", "stm32l4", "--space", "small",
            "--study", "cut", "--trials", "40", "--epochs", "3", "--no-progress"]
    process = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    db = tmp_path / "runs" / "cut" / "study.db"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and complete_trials(db) < 4:
        time.sleep(0.2)
    os.killpg(process.pid, sig)  # the whole group, as Ctrl-C in a terminal does
    process.communicate(timeout=120)
    done = complete_trials(db)
    assert 4 <= done < 40
    if sig == signal.SIGINT:
        assert process.returncode == 130
        assert len(pd.read_csv(tmp_path / "runs" / "cut" / "trials.csv")) >= done
    result = run_cli(*args[3:], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert complete_trials(db) == 40


def complete_trials(db: Path) -> int:
    """Count finished trials read-only: polling must not create tables under the run."""
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as connection:
            return connection.execute(
                "SELECT count(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
    except sqlite3.Error:  # not created yet, or its tables not yet
        return 0


def test_two_local_workers_give_the_same_trials_as_one(tmp_path) -> None:
    base = ["run", "--profile", "stm32l4", "--space", "small", "--trials", "12", *FAST]
    assert run_cli(*base, "--study", "one", "--workers", "1", cwd=tmp_path).returncode == 0
    assert run_cli(*base, "--study", "two", "--workers", "2", cwd=tmp_path).returncode == 0
    one = read_trials(tmp_path / "runs" / "one" / "trials.csv")
    two = read_trials(tmp_path / "runs" / "two" / "trials.csv")
    pd.testing.assert_frame_equal(one, two)


@pytest.mark.postgres
def test_two_postgres_workers_share_one_study(tmp_path, postgres_url) -> None:
    create = run_cli("run", "--profile", "stm32l4", "--space", "small", "--trials", "2",
                     "--storage", postgres_url, "--study", "shared", *FAST, cwd=tmp_path)
    assert create.returncode == 0, create.stderr
    workers = [
        subprocess.Popen([sys.executable, "-m", "dse.cli", "worker", "--storage", postgres_url,
                          "--study", "shared", "--trials", "24", "--no-progress",
                          "--out", str(tmp_path / f"w{k}")], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for k in range(2)
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err
    study = optuna.load_study(study_name="shared", storage=postgres_url)
    trials = study.get_trials()
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(len(trials)))  # none lost, none twice
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert 24 <= len(trials) <= 24 + 2 * optimize.ASK_BATCH * optimize.PIPELINE_DEPTH
    by_worker = {t.user_attrs["worker"] for t in trials[2:]}
    assert len(by_worker) == 2  # both workers told trials


def test_a_failure_inside_the_loop_writes_the_finished_trials(tmp_path, counted_training,
                                                              monkeypatch) -> None:
    real = proxy.evaluate

    def breaks_on_the_fifth(arch, data, **kwargs):
        if len(counted_training) >= 5:
            raise RuntimeError("the trainer broke")
        return real(arch, data, **kwargs)

    monkeypatch.setattr(proxy, "evaluate", breaks_on_the_fifth)
    config = SearchConfig(space="small", trials=12, sampler="random", epochs=1)
    with pytest.raises(RuntimeError, match="the trainer broke"):
        run(config, study_name="broken", out_root=tmp_path, show_progress=False)
    trials = pd.read_csv(tmp_path / "broken" / "trials.csv")
    assert (trials["state"] == "COMPLETE").sum() >= 4  # the first batch, told before the failure
    assert (tmp_path / "broken" / "dashboard.html").is_file()


def test_flash_and_ram_budgets_enter_the_constraints(tmp_path) -> None:
    config = SearchConfig(space="small", trials=16, sampler="random", epochs=1, max_ram_kb=11.0,
                          max_flash_kb=80.0)
    outputs = run(config, study_name="budgets", out_root=tmp_path, show_progress=False)
    trials = outputs.trials
    over = (trials["ram_bytes"] > 11 * 1024) | (trials["flash_bytes"] > 80 * 1024)
    assert over.any() and (~over).any()
    assert (trials["feasible"] == ~over).all()
    assert not trials.loc[over, "trained"].any()
    from dse.runner import study_view

    study = optuna.load_study(study_name="budgets", storage=outputs.storage)
    shown = study_view(study)
    assert (shown.ram_limit_bytes, shown.flash_limit_bytes) == (11 * 1024, 80 * 1024)
