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

from dse import proxy, results
from dse.config import SearchConfig
from dse.results import TIMING_COLUMNS
from dse.runner import run
from dse.search import confirm, open_study, optimize, pool, resolve, run_study
from dse.search.samplers import ASK_BATCH

FAST = ["--epochs", "1", "--no-progress", "--confirm-seeds", "0"]
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
                          confirm_seeds=0, max_ram_kb=TIGHT_RAM / 1024)
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
                          confirm_seeds=0, max_latency_ms=40.0)
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
                          confirm_seeds=0)
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
            "--confirm-seeds", "0", "--trainings", "3"]
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
             "--trainings", "12", "--epochs", "2", "--confirm-seeds", "1", "--no-progress"]


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
    trained = [t for t in trials if t.user_attrs.get("trained")]
    assert 12 <= len(trained) <= 12 + 2 * ASK_BATCH * optimize.PIPELINE_DEPTH
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
    config = SearchConfig(space="small", trainings=12, sampler="random", epochs=1)
    with pytest.raises(RuntimeError, match="the trainer broke"):
        run(config, study_name="broken", out_root=tmp_path, show_progress=False)
    trials = pd.read_csv(tmp_path / "broken" / "trials.csv")
    assert trials["trained"].sum() >= 2  # the first batch, told before the failure
    assert (tmp_path / "broken" / "dashboard.html").is_file()


def test_flash_and_ram_budgets_enter_the_constraints(tmp_path) -> None:
    config = SearchConfig(space="small", trainings=8, sampler="random", epochs=1, max_ram_kb=11.0,
                          max_flash_kb=80.0, confirm_seeds=0)
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


def test_the_front_is_confirmed_with_more_seeds(tmp_path, counted_training) -> None:
    config = SearchConfig(space="small", trainings=4, sampler="ehvi", epochs=1, confirm_seeds=2)
    outputs = run(config, study_name="confirm", out_root=tmp_path, show_progress=False)
    trials = outputs.trials
    search = [c for c in counted_training if c[2] == 0]
    extra = [c for c in counted_training if c[2] != 0]
    assert len(search) == 4 and extra
    confirmed = {network for network, _, _ in extra}
    assert all(sum(n == network for n, _, _ in extra) == 2 for network in confirmed)
    assert len({seed for _, _, seed in extra}) == 2  # the same two seeds for every network
    scored = trials[trials["accuracy"].notna()]
    assert set(scored.loc[scored["seeds"] == 3, "arch"]) == confirmed
    assert (scored.loc[scored["seeds"] == 1, "accuracy_quantized_mean"]
            == scored.loc[scored["seeds"] == 1, "accuracy_quantized"]).all()
    assert scored.loc[scored["seeds"] == 3, "accuracy_quantized_std"].notna().all()
    # every network on the front of means was confirmed, and the front is built from means
    assert set(outputs.pareto["arch"]) <= confirmed
    study = optuna.load_study(study_name="confirm", storage=outputs.storage)
    for network in confirmed:
        stored = study.user_attrs[f"dse_confirm:{network}"]
        rows = scored[scored["arch"] == network]
        for row in rows.itertuples():
            values = [row.accuracy_quantized, *(s["quantized"][row.dtype] for s in stored)]
            assert row.accuracy_quantized_mean == pytest.approx(sum(values) / 3, abs=1e-12)
    before = len(counted_training)
    run(config, study_name="confirm", out_root=tmp_path, show_progress=False)
    assert len(counted_training) == before  # resumed: nothing left to train or confirm


def test_a_confirmation_scores_every_fitting_dtype_not_only_those_stored_yet(tmp_path) -> None:
    # Another worker may still be recording a network's dtype variants when this one confirms
    # it: the confirmation must score every dtype the training records, or reading a variant
    # stored later finds no confirmed score for its dtype.
    config = SearchConfig(space="small", trainings=2, sampler="ehvi", epochs=1, confirm_seeds=0)
    outputs = run(config, study_name="partial", out_root=tmp_path, show_progress=False)
    full = optuna.load_study(study_name="partial", storage=outputs.storage)
    trained = next(t for t in full.get_trials() if t.user_attrs.get("trained"))
    partial = optuna.create_study(directions=full.directions)
    for key, value in full.user_attrs.items():
        partial.set_user_attr(key, value)
    partial.add_trial(trained)  # the trained dtype only, its variants not yet recorded
    network = trained.user_attrs["arch"]
    recorded = {t.user_attrs["dtype"] for t in full.get_trials() if t.user_attrs["arch"] == network}
    assert len(recorded) > 1  # the case: the training recorded variants beside the stored trial
    wanted = confirm._unconfirmed(resolve(config), partial, seeds=1)
    assert set(wanted[network][1]) == recorded


def test_the_progress_follows_each_confirmation(tmp_path) -> None:
    inputs = resolve(SearchConfig(space="small", trainings=4, sampler="ehvi", epochs=1,
                                  confirm_seeds=1))
    study = open_study(inputs, f"sqlite:///{tmp_path}/s.db", "progress")
    seen: list[tuple[int, int]] = []
    final = run_study(inputs, study, on_progress=lambda p: seen.append(
        (p.confirmations, p.confirmations_planned)) if p.confirming else None)
    assert final.confirmations > 0
    counts = [done for done, _ in seen]
    assert counts[:-1] == list(range(final.confirmations + 1))  # one by one
    assert counts[-1] == final.confirmations  # then once more, with the front of the means
    assert final.front == results.trials_frame(study)["pareto"].sum()  # 5; one seed each: 7
    assert seen[-1][1] == final.confirmations  # nothing planned is left out
    assert all(done <= planned for done, planned in seen[1:])
