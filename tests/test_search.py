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

import numpy as np
import optuna
import pandas as pd
import pytest

from dse import proxy, results
from dse.config import SearchConfig
from dse.results import TIMING_COLUMNS
from dse.runner import run
from dse.search import CONFIG_ATTR, attrs, optimize, pool, resolve, resume
from dse.search.samplers import ASK_BATCH
from dse.seeds import training_seeds

FAST = ["--epochs", "1", "--no-progress", "--train-seeds", "1"]
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
    """Train in this process (threads) and count every training: (network, dtypes, seed)."""
    calls: list[tuple[str, tuple[str, ...], int]] = []
    real = proxy.evaluate_network

    def counting(arch, data, dtypes, **kwargs):
        calls.append((arch.text, tuple(dtypes), kwargs["seed"]))
        return real(arch, data, dtypes, **kwargs)

    def thread_pool(inputs, workers):
        return ThreadPoolExecutor(max_workers=1, initializer=pool.hold_inputs,
                                  initargs=(inputs,))

    monkeypatch.setattr(proxy, "evaluate_network", counting)
    monkeypatch.setattr(pool, "start_pool", thread_pool)
    return calls


def test_run_end_to_end_writes_documented_outputs(tmp_path) -> None:
    result = run_cli("run", "--profile", "stm32l4", "--space", "small", "--trainings", "4",
                     "--study", "e2e", "--json", *FAST, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["trained"] == 4 and summary["complete"] >= 4 and summary["pareto"]
    assert {"accuracy_quantized_mean", "accuracy_quantized_std", "seeds"} <= set(
        summary["pareto"][0])
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


TIGHT_RAM = 500  # bytes: 22 of the small space's 40 networks fit (dse-c, the stm32l4 default)


@pytest.mark.parametrize("sampler", ["random", "ehvi"])
def test_infeasible_candidates_never_reach_the_trainer(tmp_path, counted_training,
                                                       sampler: str) -> None:
    config = SearchConfig(space="small", trainings=6, sampler=sampler, epochs=1,
                          train_seeds=1, max_ram_kb=TIGHT_RAM / 1024)
    outputs = run(config, out_root=tmp_path, show_progress=False)
    trials = outputs.trials
    infeasible = trials[~trials["feasible"]]
    if sampler == "ehvi":  # it prices every candidate first and proposes none over budget
        assert infeasible.empty and (trials["ram_bytes"] <= TIGHT_RAM).all()
    else:
        assert len(infeasible) > 0
        assert infeasible["violations"].str.contains("ram_bytes").all()
        assert infeasible["accuracy"].isna().all() and not infeasible["trained"].any()
    networks = [network for network, _, _ in counted_training]
    assert len(networks) == len(set(networks)) == 6  # each network trained once
    feasible = trials[trials["feasible"]]
    assert set(feasible["arch"]) == set(networks)
    for network, dtypes, _ in counted_training:  # scored as exactly its dtypes that fit
        assert set(dtypes) == set(feasible.loc[feasible["arch"] == network, "dtype"])


def test_one_training_records_every_dtype_that_fits(tmp_path, counted_training) -> None:
    config = SearchConfig(space="small", trainings=3, sampler="random", epochs=1,
                          train_seeds=1, max_latency_ms=40.0)
    outputs = run(config, out_root=tmp_path, show_progress=False)
    trials = outputs.trials.set_index("number")
    assert len(counted_training) == 3
    inputs = resolve(config)
    for number, trainer in trials[trials["trained"]].iterrows():
        variants = trials[trials["variant_of"] == number]
        fitting = {d for d in inputs.space.dtypes
                   if inputs.price(trainer["cell"], tuple(map(int, trainer["cells"].split(","))),
                                   d)[1].fits}
        assert {trainer["dtype"], *variants["dtype"]} == fitting  # every fitting dtype, once
        assert (variants["arch"] == trainer["arch"]).all() and not variants["trained"].any()
        # one training: the same float accuracy; each dtype its own integer model's score
        cell, cells = trainer["cell"], tuple(map(int, trainer["cells"].split(",")))
        arch = inputs.architecture(cell, cells, trainer["dtype"])
        score = proxy.evaluate_network(arch, inputs.data, tuple(sorted(fitting)),
                                       budget=inputs.budget, seed=0)
        for _, row in pd.concat([trainer.to_frame().T, variants]).iterrows():
            assert row["accuracy"] == score.accuracy
            assert row["accuracy_quantized"] == score.quantized[row["dtype"]]


def test_duplicates_are_not_retrained(tmp_path, counted_training) -> None:
    space = tmp_path / "tiny.toml"
    space.write_text(TINY_SPACE)
    config = SearchConfig(space=str(space), trainings=6, sampler="random", epochs=1,
                          train_seeds=1)
    trials = run(config, out_root=tmp_path, show_progress=False).trials
    networks = [network for network, _, _ in counted_training]
    assert len(networks) == len(set(networks)) == 6 and trials["trained"].sum() == 6
    reused = trials[trials["reused_from"] >= 0]
    assert len(reused) == len(trials) - 6 > 0  # random search drew networks again
    for row in reused.itertuples():  # a reused score is the original's, to the bit
        source = trials.set_index("number").loc[row.reused_from]
        assert (row.accuracy, row.accuracy_quantized) == (source.accuracy, source.accuracy_quantized)


def test_resume_continues_to_the_training_target(tmp_path) -> None:
    base = ["run", "--profile", "stm32l4", "--space", "small", "--study", "resume", *FAST]
    assert run_cli(*base, "--trainings", "3", cwd=tmp_path).returncode == 0
    first = read_trials(tmp_path / "runs" / "resume" / "trials.csv")
    assert run_cli(*base, "--trainings", "5", cwd=tmp_path).returncode == 0
    second = read_trials(tmp_path / "runs" / "resume" / "trials.csv")
    assert second["trained"].sum() == 5
    pd.testing.assert_frame_equal(second.iloc[:len(first)].drop(columns="pareto"),
                                  first.drop(columns="pareto"))


def test_a_resumed_run_rates_only_its_own_trainings(tmp_path) -> None:
    args = ["run", "--profile", "stm32l4", "--space", "small", "--study", "rate", "--epochs", "1",
            "--train-seeds", "1", "--trainings", "3"]
    assert run_cli(*args, cwd=tmp_path).returncode == 0
    again = run_cli(*args, cwd=tmp_path)  # nothing left to train: no rate to show
    bar = again.stderr.replace("\r", "\n").strip().splitlines()[-1]
    assert "3/3" in bar and "?training/s" in bar, bar


def test_resume_with_other_settings_is_refused(tmp_path) -> None:
    base = ["run", "--profile", "stm32l4", "--space", "small", "--study", "s", *FAST]
    assert run_cli(*base, "--trainings", "2", cwd=tmp_path).returncode == 0
    result = run_cli(*base, "--trainings", "2", "--seed", "3", cwd=tmp_path)
    assert result.returncode == 2
    assert "Study 's' was made with other settings (seed differ: seed=0)" in result.stderr


def comparable(path: Path) -> pd.DataFrame:
    """A trials table as content: trial numbers, and what refers to them, differ when an
    interrupted batch is asked again; the set of candidates and their scores must not."""
    frame = read_trials(path)
    frame = frame[frame["state"] == "COMPLETE"].drop(
        columns=["number", "reused_from", "variant_of", "state"])
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


RESUMABLE = ["run", "--profile", "stm32l4", "--space", "small", "--sampler", "ehvi",
             "--trainings", "12", "--epochs", "2", "--train-seeds", "2", "--no-progress"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> pd.DataFrame:
    folder = tmp_path_factory.mktemp("uninterrupted")
    assert run_cli(*RESUMABLE, "--study", "whole", cwd=folder).returncode == 0
    return comparable(folder / "runs" / "whole" / "trials.csv")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_an_interrupted_run_resumes_to_the_same_trials(tmp_path, sig, uninterrupted) -> None:
    args = [sys.executable, "-m", "dse.cli", *RESUMABLE, "--study", "cut"]
    process = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    db = tmp_path / "runs" / "cut" / "study.db"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and complete_trials(db) < 6:
        time.sleep(0.05)
    os.killpg(process.pid, sig)  # the whole group, as Ctrl-C in a terminal does
    process.communicate(timeout=120)
    assert 6 <= complete_trials(db) < len(uninterrupted)
    if sig == signal.SIGINT:
        assert process.returncode == 130
        assert len(pd.read_csv(tmp_path / "runs" / "cut" / "trials.csv")) >= 6
    result = run_cli(*args[3:], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    pd.testing.assert_frame_equal(comparable(tmp_path / "runs" / "cut" / "trials.csv"),
                                  uninterrupted)


KILL_WHILE_ASKING = """
import os, runpy, signal, sys
import optuna
set_user_attr, asked = optuna.trial.Trial.set_user_attr, []
def killing_set_user_attr(trial, key, value):
    set_user_attr(trial, key, value)
    asked.extend([key] if key == "batch" else [])
    if len(asked) == int(os.environ["KILL_AT_ASK"]):
        os.killpg(0, signal.SIGKILL)
optuna.trial.Trial.set_user_attr = killing_set_user_attr
sys.argv = ["dse", *sys.argv[1:]]
runpy.run_module("dse.cli", run_name="__main__")
"""


def test_a_run_killed_while_asking_a_batch_resumes_to_the_same_trials(tmp_path,
                                                                      uninterrupted) -> None:
    # the 7th trial is the third of batch 2 (batches of 2, 2, 4): killed once it has its batch
    # and before its parameters, it leaves batch 2 with two trials asked and two never asked
    args = [*RESUMABLE, "--study", "cut"]
    process = subprocess.run([sys.executable, "-c", KILL_WHILE_ASKING, *args], cwd=tmp_path,
                             env={**os.environ, "KILL_AT_ASK": "7"}, start_new_session=True,
                             capture_output=True, text=True, timeout=300)
    assert process.returncode == -signal.SIGKILL, process.stderr
    with closing(sqlite3.connect(tmp_path / "runs" / "cut" / "study.db")) as connection:
        asked = connection.execute(
            "SELECT COUNT(*) FROM trial_user_attributes WHERE key = 'batch' AND value_json = '2'"
        ).fetchone()[0]
    assert asked == 3
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    pd.testing.assert_frame_equal(comparable(tmp_path / "runs" / "cut" / "trials.csv"),
                                  uninterrupted)


def test_two_local_workers_give_the_same_trials_as_one(tmp_path, uninterrupted) -> None:
    assert run_cli(*RESUMABLE, "--study", "two", "--workers", "2", cwd=tmp_path).returncode == 0
    pd.testing.assert_frame_equal(comparable(tmp_path / "runs" / "two" / "trials.csv"),
                                  uninterrupted)


def complete_trials(db: Path) -> int:
    """Count finished trials read-only: polling must not create tables under the run."""
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as connection:
            return connection.execute(
                "SELECT count(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
    except sqlite3.Error:  # not created yet, or its tables not yet
        return 0


@pytest.mark.postgres
def test_two_postgres_workers_share_one_study(tmp_path, postgres_url) -> None:
    create = run_cli("run", "--profile", "stm32l4", "--space", "small", "--trainings", "2",
                     "--storage", postgres_url, "--study", "shared", *FAST, cwd=tmp_path)
    assert create.returncode == 0, create.stderr
    created = len(optuna.load_study(study_name="shared", storage=postgres_url).get_trials())
    workers = [
        subprocess.Popen([sys.executable, "-m", "dse.cli", "worker", "--storage", postgres_url,
                          "--study", "shared", "--trainings", "12", "--no-progress",
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
    trained = [t.user_attrs["arch"] for t in trials if t.user_attrs.get("trained")]
    assert 12 <= len(trained) <= 12 + 2 * ASK_BATCH * optimize.PIPELINE_DEPTH
    assert len(set(trained)) == len(trained)  # a network in training is claimed: none twice
    reused = [t for t in trials[created:] if t.user_attrs.get("reused_from", -1) >= 0]
    assert all(trials[t.user_attrs["reused_from"]].user_attrs["arch"] == t.user_attrs["arch"]
               for t in reused)
    by_worker = {t.user_attrs["worker"] for t in trials[created:]}
    assert len(by_worker) == 2  # both workers told trials


def test_a_failure_inside_the_loop_writes_the_finished_trials(tmp_path, counted_training,
                                                              monkeypatch) -> None:
    real = proxy.evaluate_network

    def breaks_on_the_fifth(arch, data, dtypes, **kwargs):
        if len(counted_training) >= 5:
            raise RuntimeError("the trainer broke")
        counted_training.append((arch.text, dtypes, kwargs["seed"]))
        return real(arch, data, dtypes, **kwargs)

    monkeypatch.setattr(proxy, "evaluate_network", breaks_on_the_fifth)
    config = SearchConfig(space="small", trainings=12, sampler="random", epochs=1,
                          train_seeds=1)
    with pytest.raises(RuntimeError, match="the trainer broke"):
        run(config, study_name="broken", out_root=tmp_path, show_progress=False)
    trials = pd.read_csv(tmp_path / "broken" / "trials.csv")
    assert trials["trained"].sum() >= 2  # the first batch, told before the failure
    assert (tmp_path / "broken" / "dashboard.html").is_file()


def test_flash_and_ram_budgets_enter_the_constraints(tmp_path) -> None:
    config = SearchConfig(space="small", trainings=8, sampler="random", epochs=1, max_ram_kb=11.0,
                          max_flash_kb=80.0, train_seeds=1)
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


def test_every_network_trains_with_each_seed_and_ranks_by_the_mean(tmp_path,
                                                                    counted_training) -> None:
    config = SearchConfig(space="small", trainings=3, sampler="ehvi", epochs=1, train_seeds=3)
    outputs = run(config, study_name="seeds", out_root=tmp_path, show_progress=False)
    seeds = training_seeds(0, 3)
    assert len(set(seeds)) == 3 and seeds[0] == 0  # the run's own seed first
    networks = {network for network, _, _ in counted_training}
    assert len(networks) == 3
    for network in networks:  # each network once per seed, nothing more
        assert sorted(s for n, _, s in counted_training if n == network) == sorted(seeds)
    trials = outputs.trials
    scored = trials[trials["accuracy"].notna()]
    assert (scored["seeds"] == 3).all() and scored["accuracy_quantized_std"].notna().all()
    inputs = resolve(config)
    study = optuna.load_study(study_name="seeds", storage=outputs.storage)
    for trial in study.get_trials():
        attrs = trial.user_attrs
        if not attrs.get("trained"):
            continue
        cells = tuple(map(int, attrs["cells"].split(",")))
        arch = inputs.architecture(attrs["cell"], cells, attrs["dtype"])
        alone = [proxy.evaluate_network(arch, inputs.data, (arch.dtype,), budget=inputs.budget,
                                        seed=seed).quantized[arch.dtype] for seed in seeds]
        assert attrs["accuracy_quantized_seeds"] == alone  # each seed as it trains alone
        assert attrs["accuracy_quantized"] == pytest.approx(sum(alone) / 3, abs=1e-12)
        assert trial.values[0] == attrs["accuracy_quantized"]  # the sampler sees the mean
    front = outputs.pareto
    assert (front["accuracy_quantized_mean"] == front["accuracy_quantized"]).all()
    before = len(counted_training)
    run(config, study_name="seeds", out_root=tmp_path, show_progress=False)
    assert len(counted_training) == before  # resumed: nothing left to train


def test_a_study_of_an_older_dse_is_read_but_not_resumed(tmp_path) -> None:
    config = SearchConfig(space="small", trainings=2, sampler="ehvi", epochs=1, train_seeds=1)
    outputs = run(config, study_name="old", out_root=tmp_path, show_progress=False)
    study = optuna.load_study(study_name="old", storage=outputs.storage)
    old = {k: v for k, v in study.user_attrs[CONFIG_ATTR].items() if k != "train_seeds"}
    study.set_user_attr(CONFIG_ATTR, old)  # as a dse before train_seeds stored it
    frame = results.trials_frame(study)
    assert (frame.loc[frame["accuracy"].notna(), "seeds"] == 1).all()
    result = run_cli("run", "--profile", "stm32l4", "--space", "small", "--study", "old",
                     "--out", str(tmp_path), "--epochs", "1",
                     "--train-seeds", "1", "--no-progress", cwd=tmp_path)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "made by an older dse" in line and "new --study name" in line


def test_a_search_on_data_too_small_to_rank_says_so_once(tmp_path) -> None:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 12, 3)).astype(np.float32), np.arange(60) % 2
    np.savez(tmp_path / "few.npz", X_train=X[:40], y_train=y[:40], X_test=X[40:], y_test=y[40:])
    inputs = resolve(SearchConfig(data=str(tmp_path / "few.npz"), task=None, space="small"))
    assert inputs.budget.batch_size == 4 and inputs.budget.epochs > 10  # sized for 40 windows
    result = run_cli("run", "--profile", "stm32l4", "--space", "small", "--data", "few.npz",
                     "--trainings", "1", "--train-seeds", "1", "--epochs", "1", "--no-progress",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("dse: warning")]
    assert len(warnings) == 1 and "few.npz has 20 test windows" in warnings[0]


def test_variants_lost_to_a_kill_are_recorded_on_resume(tmp_path) -> None:
    # kill -9 between a training's tell and its dtype variants: the next run records them
    # from the result the trainer stored, so the study holds what an uninterrupted one holds
    config = SearchConfig(space="small", trainings=2, sampler="ehvi", epochs=1, train_seeds=1)
    outputs = run(config, study_name="whole", out_root=tmp_path, show_progress=False)
    whole = optuna.load_study(study_name="whole", storage=outputs.storage)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    cut = optuna.create_study(directions=whole.directions)
    for key, value in whole.user_attrs.items():
        cut.set_user_attr(key, value)
    for trial in whole.get_trials():
        if trial.user_attrs.get("variant_of", -1) < 0:  # the variants are lost
            trial.user_attrs["worker"] = f"{attrs.WORKER_ID.rpartition(':')[0]}:{dead}"
            cut.add_trial(trial)
    resume.repair(resolve(config), cut)

    def rows(study: optuna.Study) -> pd.DataFrame:
        frame = results.trials_frame(study).drop(columns=["number", "variant_of", "worker"])
        return frame.sort_values(["arch", "dtype"]).reset_index(drop=True)

    assert len(cut.get_trials()) == len(whole.get_trials())
    pd.testing.assert_frame_equal(rows(cut), rows(whole))
