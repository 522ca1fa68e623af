"""The constrained multi-objective search: the only module that knows optuna's sampler API.

One loop serves ``dse run`` and ``dse worker``: ask a batch of trials, cost every
candidate (microseconds), record the infeasible ones with their violations without
training them, score the rest with the proxy in a process pool (each distinct
architecture once: duplicates reuse the study's earlier score), and tell the results
back in trial order. Because the batch size does not depend on the number of worker
processes and every score is a pure function of (architecture, data, budget, seed), a
seeded run gives the same trials with 1 or N local workers.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import socket
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.storages._heartbeat import is_heartbeat_enabled

from dse import proxy, tasks
from dse.architecture import Architecture
from dse.config import ACCURACY_OBJECTIVES, AUTO_SAMPLER, OBJECTIVES, SearchConfig
from dse.cost import CostReport, estimate
from dse.errors import DseError
from dse.hardware import HardwareProfile, load_profile
from dse.pareto import non_dominated
from dse.space import SearchSpace, load_space

CONFIG_ATTR = "dse_config"
HEARTBEAT_SECONDS = 10
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"  # which process told a trial
ASK_BATCH = 4  # trials asked before telling: fixed, so results do not depend on --workers
PIPELINE_DEPTH = 2  # batches asked ahead: the pool trains one while the other is told


@dataclass(frozen=True)
class Setting:
    """A config resolved into the objects it names."""

    config: SearchConfig
    profile: HardwareProfile
    space: SearchSpace
    data: tasks.Dataset
    budget: proxy.Budget


def resolve(config: SearchConfig) -> Setting:
    """Load the profile, space and data a config names; check the data file's checksum."""
    profile = load_profile(config.profile)
    space = load_space(config.space)
    if config.data is not None:
        digest = file_sha256(config.data)
        if config.data_sha256 and digest != config.data_sha256:
            raise DseError(
                f"Data file {config.data} has changed: its sha256 is {digest[:12]}..., "
                f"the study was made with {config.data_sha256[:12]}.... Use the original file "
                f"or start a new study."
            )
        data = tasks.load_npz(config.data, seed=config.seed)
    else:
        data = tasks.load_task(str(config.task), seed=config.seed)
    budget = proxy.DEFAULT_BUDGET
    overrides = {k: v for k, v in (("epochs", config.epochs), ("batch_size", config.batch_size))
                 if v is not None}
    budget = replace(budget, **overrides) if overrides else budget
    return Setting(config, profile, space, data, budget)


def file_sha256(path: str | Path) -> str:
    """Checksum of a data file, so a rerun can tell that the data changed."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as exc:
        raise DseError(f"Cannot read data file {path}: {exc.strerror}.") from None


def make_sampler(config: SearchConfig, n_trials: int) -> optuna.samplers.BaseSampler:
    """The sampler a config names. Its seed moves on with the number of trials the study
    holds, so neither the next batch nor a resumed run re-proposes earlier start-up draws."""
    seed = config.seed + 7919 * n_trials
    name = AUTO_SAMPLER if config.sampler == "auto" else config.sampler
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True,
                                          n_startup_trials=10)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=16)
    if name == "gp":
        try:
            import torch  # noqa: F401
        except ImportError:
            raise DseError("The 'gp' sampler needs PyTorch: pip install torch.") from None
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=10)
    return optuna.samplers.RandomSampler(seed=seed)  # random, and grid's enqueued trials


def record_constraints(trial: optuna.Trial, report: CostReport) -> None:
    """The one place constraints enter optuna (``Trial.set_constraint``; > 0 infeasible)."""
    for name, amount in report.constraints.items():
        trial.set_constraint(name, amount)


# --- proxy evaluation in worker processes ------------------------------------------------

_WORKER_DATA: dict[str, Any] = {}


def _init_worker(setting: Setting) -> None:
    _WORKER_DATA["setting"] = setting


def _init_process(setting: Setting) -> None:
    # Ctrl-C reaches the whole process group: only the parent acts on it (tells the asked
    # trials FAIL, writes the outputs); a worker dying of it would break the pool instead.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _init_worker(setting)


def _train(arch: Architecture) -> dict[str, Any]:
    setting: Setting = _WORKER_DATA["setting"]
    result = proxy.evaluate(arch, setting.data, budget=setting.budget, seed=setting.config.seed)
    return {
        "accuracy": result.accuracy,
        "accuracy_quantized": result.accuracy_quantized,
        "train_seconds": result.train_seconds,
        "diverged": result.diverged or "",
    }


def _pool(setting: Setting, workers: int) -> ProcessPoolExecutor:
    # The proxy trains on one BLAS thread (same bits anywhere); workers need no thread pools.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                               initializer=_init_process, initargs=(setting,))


# --- the loop ----------------------------------------------------------------------------


@dataclass
class Progress:
    """Counts shown on the progress bar."""

    finished: int = 0
    feasible: int = 0
    trained: int = 0
    reused: int = 0
    front: int = 0


def open_study(config: SearchConfig, storage: str | optuna.storages.BaseStorage, study_name: str,
               *, create: bool = True) -> optuna.Study:
    """Create or load the study, checking that an existing one was made with this config."""
    directions: list[Any] = [OBJECTIVES[o] for o in config.objectives]
    if isinstance(storage, str):
        storage = rdb_storage(storage)
    try:
        study = optuna.load_study(study_name=study_name, storage=storage,
                                  sampler=optuna.samplers.RandomSampler())
    except KeyError:
        if not create:
            raise DseError(f"No study named {study_name!r} in that storage.") from None
        study = optuna.create_study(study_name=study_name, storage=storage, directions=directions,
                                    sampler=optuna.samplers.RandomSampler())
        study.set_user_attr(CONFIG_ATTR, config.identity())
        if config.sampler == "grid":
            _enqueue_grid(study, load_space(config.space), config.seed)
        return study
    stored = study.user_attrs.get(CONFIG_ATTR)
    if stored is not None and stored != json.loads(json.dumps(config.identity())):
        differing = sorted(k for k in set(stored) | set(config.identity())
                           if stored.get(k) != json.loads(json.dumps(config.identity())).get(k))
        raise DseError(
            f"Study {study_name!r} was made with other settings ({', '.join(differing)} differ: "
            f"{', '.join(f'{k}={stored.get(k)!r}' for k in differing)}). "
            f"Use those settings, or a new --study name."
        )
    return study


def rdb_storage(url: str) -> optuna.storages.RDBStorage:
    """An RDB storage with heartbeats, so trials of a killed process are failed later."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            return optuna.storages.RDBStorage(url, heartbeat_interval=HEARTBEAT_SECONDS,
                                              grace_period=3 * HEARTBEAT_SECONDS)
        except Exception as exc:  # a bad URL or an unreachable server: say which, briefly
            raise DseError(f"Cannot open storage {url!r}: {str(exc).splitlines()[0]}") from None


def stored_config(storage: str, study_name: str, **overrides: Any) -> SearchConfig:
    """The config a study was created with, so a worker needs only storage and study name."""
    summaries = optuna.study.get_all_study_summaries(rdb_storage(storage),
                                                     include_best_trial=False)
    for summary in summaries:
        if summary.study_name == study_name and CONFIG_ATTR in summary.user_attrs:
            return SearchConfig.from_identity(summary.user_attrs[CONFIG_ATTR], **overrides)
    names = ", ".join(s.study_name for s in summaries) or "none"
    raise DseError(f"No dse study named {study_name!r} in {storage}. Studies there: {names}.")


def _enqueue_grid(study: optuna.Study, space: SearchSpace, seed: int) -> None:
    """Queue every distinct candidate once, in a seeded order; workers pop them atomically."""
    import random

    candidates = space.candidates()
    random.Random(seed).shuffle(candidates)
    for cell, cells, dtype in candidates:
        study.enqueue_trial(space.params_of(cell, cells, dtype), skip_if_exists=False)


def run_study(
    setting: Setting,
    study: optuna.Study,
    *,
    workers: int = 1,
    on_progress: Callable[[Progress], None] | None = None,
) -> Progress:
    """Search until the study holds ``trials`` finished trials or the timeout passes.

    Batches are pipelined: the next batch is asked (with the running ones known to the
    sampler as running) before the oldest is told, so the pool never waits for the slowest
    training of a batch. The order of asks and tells is fixed, so the trials are the same
    for any number of workers.

    Ctrl-C raises KeyboardInterrupt at the next safe point (never inside a storage write):
    the trials asked but not told are failed, the worker processes are stopped.
    """
    config = setting.config
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)  # trials of a process killed with -9
    progress = Progress()
    deadline = time.monotonic() + config.timeout_s if config.timeout_s else math.inf
    pool = _pool(setting, workers)
    pending: deque[list[_Candidate]] = deque()
    trainings: dict[str, _Score] = {}  # distinct architectures in training, by key
    try:
        with _deferred_sigint() as stop:
            while True:
                trials = study.get_trials(deepcopy=False)  # one read of the storage per step
                done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
                progress.finished = len(done)
                progress.front = front_size(config.objectives, done)
                if on_progress:
                    on_progress(progress)
                want = config.trials - len(done) - sum(map(len, pending))
                _check(stop)
                if want > 0 and len(pending) < PIPELINE_DEPTH and time.monotonic() < deadline:
                    study.sampler = make_sampler(config, len(trials))
                    pending.append(_ask(setting, study, pool, min(ASK_BATCH, want), done,
                                        trainings))
                elif pending:
                    _tell(config, study, pending, trainings, progress, stop)
                    pending.popleft()
                else:
                    return progress
    except BaseException:
        for batch in pending:  # interrupted: the asked trials are lost, the study is not
            for candidate in batch:
                if not candidate.told:
                    study.tell(candidate.trial, state=optuna.trial.TrialState.FAIL)
        _stop_pool(pool)
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


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Interrupted: drop queued work and end the running trainings instead of waiting."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()


SCORE_KEYS = ("accuracy", "accuracy_quantized", "train_seconds", "diverged")
UNTRAINED = {"accuracy": math.nan, "accuracy_quantized": math.nan, "train_seconds": 0.0,
             "diverged": ""}


@dataclass
class _Score:
    """Where a candidate's score comes from: trial ``number`` trained (or trains) it.
    Candidates of the same architecture share one."""

    number: int
    future: Future | None = None  # in training; None when ``known`` holds the score
    known: dict[str, Any] | None = None


@dataclass
class _Candidate:
    """An asked trial, costed, waiting to be told."""

    trial: optuna.Trial
    arch: Architecture
    report: CostReport
    score: _Score | None  # None: infeasible, never trained
    told: bool = False


def _ask(setting: Setting, study: optuna.Study, pool: ProcessPoolExecutor, size: int,
         done: list[optuna.trial.FrozenTrial], trainings: dict[str, _Score]) -> list[_Candidate]:
    """Ask a batch, cost it, record constraints, and submit each new feasible architecture
    for training once: an architecture the study already scored, or one in training, is not
    trained again."""
    config, space, shape = setting.config, setting.space, setting.data
    with warnings.catch_warnings():  # we beat the heartbeat ourselves (_wait)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed")
        trials = [study.ask() for _ in range(size)]
    known = {t.user_attrs["key"]: t for t in done if t.user_attrs.get("trained")}
    batch = []
    for trial in trials:
        cell, cells, dtype = space.suggest(trial)
        arch = Architecture(cell, cells, dtype, shape.features, shape.timesteps,  # type: ignore[arg-type]
                            shape.classes)
        report = estimate(arch, setting.profile, ram_mode=space.ram_mode,  # type: ignore[arg-type]
                          max_latency_ms=config.max_latency_ms, max_energy_uj=config.max_energy_uj)
        record_constraints(trial, report)
        key = arch_key(arch)
        if not report.fits:
            score = None
        elif key in known:
            source = known[key]
            score = _Score(source.number, known={k: source.user_attrs[k] for k in SCORE_KEYS})
        else:  # in training already, or new: this trial trains it
            score = trainings.setdefault(key, _Score(trial.number))
        batch.append(_Candidate(trial, arch, report, score))
    new = [c for c in batch if c.score and c.score.number == c.trial.number]
    for candidate in sorted(new, key=lambda c: -c.report.macc):  # longest first balances workers
        candidate.score.future = pool.submit(_train, candidate.arch)  # type: ignore[union-attr]
    return batch


def _tell(config: SearchConfig, study: optuna.Study, pending: deque[list[_Candidate]],
          trainings: dict[str, _Score], progress: Progress, stop: threading.Event) -> None:
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
        study.tell(candidate.trial, objective_values(config.objectives, attrs))
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


def arch_key(arch: Architecture) -> str:
    """What makes two candidates the same: architecture and dtype (the task is the study's)."""
    return f"{arch.text}|{arch.dtype}"


def cost_attrs(arch: Architecture, report: CostReport) -> dict[str, Any]:
    """The user attributes every trial carries, trained or not."""
    return {
        "key": arch_key(arch),
        "arch": arch.text,
        "cell": arch.cell,
        "layers": arch.layers,
        "cells": ",".join(map(str, arch.cells)),
        "dtype": arch.dtype,
        "params": report.params,
        "macc": report.macc,
        "flash_bytes": report.flash_bytes,
        "ram_bytes": report.ram_bytes,
        "latency_ms": report.latency_ms,
        "energy_uj": report.energy_uj,
        "feasible": report.fits,
        "violations": "; ".join(f"{k} +{v:,.6g}" for k, v in report.violations.items()),
        "trained": False,
        "worker": WORKER_ID,
    }


def objective_values(objectives: tuple[str, ...], attrs: dict[str, Any]) -> list[float]:
    """Values told to optuna. An untrained (infeasible) candidate scores accuracy 0: optuna
    rejects NaN, and the constraints already rank it below every feasible one."""
    values = []
    for name in objectives:
        value = float(attrs[name])
        values.append(0.0 if name in ACCURACY_OBJECTIVES and math.isnan(value) else value)
    return values
