"""The ask/tell loop shared by ``dse run`` and ``dse worker``.

Ask a batch of trials, cost every candidate (microseconds), record the infeasible ones with
their violations without training them, score the rest in the worker pool (each distinct
architecture once: duplicates reuse the study's earlier score), and tell the results back
in trial order. Because the batch size does not depend on the number of worker processes
and every score is a pure function of (architecture, data, budget, seed), a seeded run
gives the same trials with 1 or N local workers.
"""

from __future__ import annotations

import math
import signal
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.storages._heartbeat import is_heartbeat_enabled

from dse.architecture import Architecture
from dse.config import OBJECTIVES
from dse.cost import CostReport, estimate
from dse.pareto import non_dominated
from dse.search import pool as worker_pool
from dse.search.attrs import SCORE_KEYS, UNTRAINED, arch_key, cost_attrs, objective_values, record_constraints
from dse.search.inputs import SearchInputs
from dse.search.samplers import make_sampler
from dse.search.storage import HEARTBEAT_SECONDS
from dse.search.study import trial_target

ASK_BATCH = 4  # trials asked before telling: fixed, so results do not depend on --workers
PIPELINE_DEPTH = 2  # batches asked ahead: the pool trains one while the other is told


@dataclass
class Progress:
    """Counts shown on the progress bar."""

    finished: int = 0
    feasible: int = 0
    trained: int = 0
    reused: int = 0
    front: int = 0


@dataclass
class ScoreSource:
    """Where a candidate's score comes from: trial ``number`` trained (or trains) it.
    Candidates of the same architecture share one."""

    number: int
    future: Future | None = None  # in training; None when ``known`` holds the score
    known: dict[str, Any] | None = None


@dataclass
class Candidate:
    """An asked trial, costed, waiting to be told."""

    trial: optuna.Trial
    arch: Architecture
    report: CostReport
    score: ScoreSource | None  # None: infeasible, never trained
    told: bool = False


def run_study(
    inputs: SearchInputs,
    study: optuna.Study,
    *,
    workers: int = 1,
    on_progress: Callable[[Progress], None] | None = None,
) -> Progress:
    """Search until the study holds its target of finished trials or the timeout passes.

    Batches are pipelined: the next batch is asked (with the running ones known to the
    sampler as running) before the oldest is told, so the pool never waits for the slowest
    training of a batch. The order of asks and tells is fixed, so the trials are the same
    for any number of workers.

    Ctrl-C raises KeyboardInterrupt at the next safe point (never inside a storage write):
    the trials asked but not told are failed, the worker processes are stopped.
    """
    config = inputs.config
    target = trial_target(study)
    if config.sampler == "grid":  # one lap of the grid, whatever the target says
        target = min(target, inputs.space.candidate_count)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)  # trials of a process killed with -9
    progress = Progress()
    deadline = time.monotonic() + config.timeout_s if config.timeout_s else math.inf
    pool = worker_pool.start_pool(inputs, workers)
    pending: deque[list[Candidate]] = deque()
    trainings: dict[str, ScoreSource] = {}  # distinct architectures in training, by key
    try:
        with _deferred_sigint() as stop:
            while True:
                trials = study.get_trials(deepcopy=False)  # one read of the storage per step
                done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
                progress.finished = len(done)
                progress.front = front_size(config.objectives, done)
                if on_progress:
                    on_progress(progress)
                want = target - len(done) - sum(map(len, pending))
                _check(stop)
                if want > 0 and len(pending) < PIPELINE_DEPTH and time.monotonic() < deadline:
                    study.sampler = make_sampler(config, inputs.space, len(trials))
                    pending.append(_ask(inputs, study, pool, min(ASK_BATCH, want), done,
                                        trainings))
                elif pending:
                    _tell(config.objectives, study, pending, trainings, progress, stop)
                    pending.popleft()
                else:
                    return progress
    except BaseException:
        for batch in pending:  # interrupted: the asked trials are lost, the study is not
            for candidate in batch:
                if not candidate.told:
                    study.tell(candidate.trial, state=optuna.trial.TrialState.FAIL)
        worker_pool.stop_pool(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@contextmanager
def _deferred_sigint() -> Iterator[threading.Event]:
    """Turn the first Ctrl-C into a flag the loop checks at safe points. A KeyboardInterrupt
    raised anywhere (inside a database commit, or a destructor that swallows it) could be
    lost or leave a write half done. A second Ctrl-C interrupts at once, as usual."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop  # signals only reach the main thread; nothing to defer
        return

    def on_sigint(signum: int, frame: Any) -> None:
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def _check(stop: threading.Event) -> None:
    if stop.is_set():
        raise KeyboardInterrupt


def _ask(inputs: SearchInputs, study: optuna.Study, pool: ProcessPoolExecutor, size: int,
         done: list[optuna.trial.FrozenTrial], trainings: dict[str, ScoreSource]) -> list[Candidate]:
    """Ask a batch, cost it, record constraints, and submit each new feasible architecture
    for training once: an architecture the study already scored, or one in training, is not
    trained again."""
    config, space, shape = inputs.config, inputs.space, inputs.data
    with warnings.catch_warnings():  # we beat the heartbeat ourselves (_wait)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed")
        trials = [study.ask() for _ in range(size)]
    known = {t.user_attrs["key"]: t for t in done if t.user_attrs.get("trained")}
    batch = []
    for trial in trials:
        cell, cells, dtype = space.suggest(trial)
        arch = Architecture(cell, cells, dtype, shape.features, shape.timesteps,  # type: ignore[arg-type]
                            shape.classes)
        report = estimate(arch, inputs.profile, runtime=config.runtime,
                          ram_mode=space.ram_mode, budgets=config.budgets)  # type: ignore[arg-type]
        record_constraints(trial, report)
        key = arch_key(arch)
        if not report.fits:
            source = None
        elif key in known:
            earlier = known[key]
            source = ScoreSource(earlier.number,
                                 known={k: earlier.user_attrs[k] for k in SCORE_KEYS})
        else:  # in training already, or new: this trial trains it
            source = trainings.setdefault(key, ScoreSource(trial.number))
        batch.append(Candidate(trial, arch, report, source))
    new = [c for c in batch if c.score and c.score.number == c.trial.number]
    for candidate in sorted(new, key=lambda c: -c.report.macc):  # longest first balances workers
        candidate.score.future = pool.submit(worker_pool.score, candidate.arch)  # type: ignore[union-attr]
    return batch


def _tell(objectives: tuple[str, ...], study: optuna.Study, pending: deque[list[Candidate]],
          trainings: dict[str, ScoreSource], progress: Progress, stop: threading.Event) -> None:
    """Tell the oldest pending batch, in trial order, as its scores arrive."""
    alive = [c.trial for batch in pending for c in batch]
    for candidate in pending[0]:
        arch, report, source = candidate.arch, candidate.report, candidate.score
        attrs = cost_attrs(arch, report)
        if source is None:
            score = UNTRAINED
        elif source.known is not None:
            score, attrs["reused_from"] = source.known, source.number
        else:
            score = _wait(source.future, study, alive, stop)  # type: ignore[arg-type]
            if source.number == candidate.trial.number:
                attrs["trained"] = True
                del trainings[attrs["key"]]  # told: later asks find it in the study
            else:
                attrs["reused_from"] = source.number
        attrs.update(score)
        for name, value in attrs.items():
            candidate.trial.set_user_attr(name, value)
        study.tell(candidate.trial, objective_values(objectives, attrs))
        candidate.told = True
        progress.feasible += bool(report.fits)
        progress.trained += bool(attrs["trained"])
        progress.reused += "reused_from" in attrs


def _wait(future: Any, study: optuna.Study, trials: list[optuna.Trial],
          stop: threading.Event) -> dict:
    """Wait for one proxy score, checking for Ctrl-C and telling the storage every few
    seconds that the asked trials are alive."""
    beat = time.monotonic()
    while True:
        _check(stop)
        try:
            return future.result(timeout=0.1)
        except TimeoutError:
            if time.monotonic() - beat >= HEARTBEAT_SECONDS / 2 and \
                    is_heartbeat_enabled(study._storage):
                beat = time.monotonic()
                for trial in trials:
                    study._storage.record_heartbeat(trial._trial_id)  # type: ignore[attr-defined]


def front_size(objectives: tuple[str, ...], done: list[optuna.trial.FrozenTrial]) -> int:
    """Distinct feasible architectures on the Pareto front so far (for the progress bar)."""
    scored = {t.user_attrs["key"]: t for t in done
              if t.user_attrs.get("feasible") and t.values is not None}
    if not scored:
        return 0
    signs = np.array([-1.0 if OBJECTIVES[name] == "maximize" else 1.0 for name in objectives])
    points = np.array([t.values for t in scored.values()]) * signs
    return int(non_dominated(points).sum())
