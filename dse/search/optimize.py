"""The ask/tell loop shared by ``dse run`` and ``dse worker``.

Ask a batch of trials and cost every candidate (microseconds); an infeasible one is recorded
with its violations and never trained. A feasible candidate whose network (cell type and
cells per layer) is new is trained in the worker pool, once with each of the run's training
seeds (:mod:`dse.seeds`), and scored as every dtype of the space (the mean over the seeds):
when the training is told, each of the network's other feasible dtypes becomes a trial of its
own (``variant_of``). A candidate already scored, or in training, reuses that score
(``reused_from``). The budget counts trainings (networks), not trials.

Every asked trial carries its batch number. The batch size does not depend on the number of
worker processes, a score is a pure function of (network, data, budget, seeds), and batch k
is proposed from what batches up to k - 2 scored and what batch k - 1 asked (the batch in
training when it is asked). So a seeded run gives the same trials with 1 or N local
workers, and after an interruption: the trials of a batch that were asked but not told
are asked again, in their batch, before the search goes on (:mod:`dse.search.resume`).
Processes sharing a study train no network twice (:mod:`dse.search.claims`).
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
from optuna.trial import TrialState

from dse.architecture import Architecture
from dse.config import OBJECTIVES
from dse.cost import CostReport
from dse.pareto import non_dominated
from dse.search import claims, resume
from dse.search import pool as worker_pool
from dse.search.attrs import (
    BATCH_ATTR,
    BATCH_TRIALS_ATTR,
    RESULT_ATTR,
    SCORE_KEYS,
    UNTRAINED,
    WORKER_ID,
    arch_key,
    cost_attrs,
    network_key,
    objective_values,
    record_constraints,
    record_variant,
    score_of,
)
from dse.search.inputs import SearchInputs
from dse.search.samplers import batch_size, make_sampler, training_limit
from dse.search.storage import HEARTBEAT_SECONDS
from dse.search.study import training_target

PIPELINE_DEPTH = 2  # batches asked ahead: the pool trains one while the other is told
STALL_TRIALS = 100  # trials asked in a row without a new training: the sampler has stalled


@dataclass
class Progress:
    """Counts shown on the progress bar."""

    target: int = 0  # trainings the study asks for (capped by what the sampler can propose)
    trainings: int = 0  # networks trained in the study
    stored: int = 0  # of them, those trained before this run began (not part of its rate)
    trials: int = 0  # finished trials in the study (every dtype variant is one)
    front: int = 0
    stalled: bool = False  # the sampler kept proposing what is known or does not fit


@dataclass
class Training:
    """One network's training, by the trial that asked for it first; later trials of the
    network wait for it (in training) or take its stored score (``known``). A network that
    another process sharing the study trains (``remote``) is waited for in the storage."""

    number: int
    future: Future | None = None  # in training; None when ``known`` holds the score
    known: dict[str, Any] | None = None
    remote: bool = False


@dataclass
class Candidate:
    """An asked trial, costed, waiting to be told."""

    trial: optuna.Trial
    arch: Architecture
    report: CostReport
    source: Training | None  # None: infeasible, never trained
    variants: list[tuple[Architecture, CostReport]]  # the trainer's other feasible dtypes
    batch: int
    told: bool = False


def run_study(
    inputs: SearchInputs,
    study: optuna.Study,
    *,
    workers: int = 1,
    on_progress: Callable[[Progress], None] | None = None,
    sampler_factory: Callable[..., optuna.samplers.BaseSampler] = make_sampler,
) -> Progress:
    """Search until the study holds its target of trainings or the timeout passes.

    Batches are pipelined: the next batch is asked (with the running ones known to the
    sampler as running) before the oldest is told, so the pool never waits for the slowest
    training of a batch. The order of asks and tells is fixed, so the trials are the same
    for any number of workers.

    Ctrl-C raises KeyboardInterrupt at the next safe point (never inside a storage write):
    the trials asked but not told are failed, the worker processes are stopped.
    ``sampler_factory(inputs, batch, previous)`` builds each batch's sampler (the benchmarks
    pass :func:`make_sampler` with other settings).
    """
    config = inputs.config
    sampler = sampler_factory(inputs, 0)
    limit = training_limit(sampler)  # grid, ehvi: every network once at most
    target = training_target(study) if limit is None else min(training_target(study), limit)
    resume.repair(inputs, study)  # trials of processes killed before, variants they lost
    progress = Progress(target=target)
    deadline = time.monotonic() + config.timeout_s if config.timeout_s else math.inf
    trials = study.get_trials(deepcopy=False)
    progress.stored = _trained(trials)
    replays = resume.replays(trials)  # batches cut short by an interruption, asked again first
    next_batch = 1 + max((t.user_attrs.get(BATCH_ATTR, -1) for t in trials), default=-1)
    pool = worker_pool.start_pool(inputs, workers)
    pending: deque[list[Candidate]] = deque()
    trainings: dict[str, Training] = {}  # networks in training, by network key
    since_training = 0  # trials asked since the last one that started a training
    try:
        with _deferred_sigint() as stop:
            while True:
                trials = study.get_trials(deepcopy=False)  # one read of the storage per step
                done = [t for t in trials if t.state == TrialState.COMPLETE]
                progress.trials = len(done)
                progress.trainings = _trained(done)
                progress.front = front_size(config.objectives, done)
                if on_progress:
                    on_progress(progress)
                want = target - progress.trainings - len(trainings)
                progress.stalled = since_training >= STALL_TRIALS
                _check(stop)
                if replays and len(pending) < PIPELINE_DEPTH:
                    number, params = replays.pop(0)
                    sampler = study.sampler = sampler_factory(inputs, number, sampler)
                    pending.append(_ask(inputs, study, pool, number, params, done, trainings))
                elif (want > 0 and len(pending) < PIPELINE_DEPTH and not progress.stalled
                        and time.monotonic() < deadline
                        and batch_size(sampler, next_batch, want) > 0):
                    sampler = study.sampler = sampler_factory(inputs, next_batch, sampler)
                    batch = _ask(inputs, study, pool, next_batch,
                                 [None] * batch_size(sampler, next_batch, want), done,
                                 trainings)
                    pending.append(batch)
                    next_batch += 1
                    starts = any(c.source and c.source.number == c.trial.number for c in batch)
                    since_training = 0 if starts else since_training + len(batch)
                elif pending:
                    _tell(inputs, study, pool, pending, trainings, stop)
                    pending.popleft()
                else:
                    break
            return progress
    except BaseException:
        for batch in pending:  # interrupted: the asked trials are failed, asked again later
            for candidate in batch:
                if not candidate.told:
                    study.tell(candidate.trial, state=TrialState.FAIL)
        worker_pool.stop_pool(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _trained(trials: list[optuna.trial.FrozenTrial]) -> int:
    """Networks trained by the complete ones of ``trials``."""
    return sum(t.state == TrialState.COMPLETE and bool(t.user_attrs.get("trained"))
               for t in trials)


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


def _ask(inputs: SearchInputs, study: optuna.Study, pool: ProcessPoolExecutor, number: int,
         given: list[dict | None], done: list[optuna.trial.FrozenTrial],
         trainings: dict[str, Training]) -> list[Candidate]:
    """Ask batch ``number`` (one trial per entry of ``given``: the sampler proposes where it
    is None, else those parameters are asked again), cost it, record constraints, and
    submit each new network for training once."""
    space = inputs.space
    known = {t.user_attrs["key"]: t for t in done
             if "key" in t.user_attrs and t.user_attrs.get("feasible")}
    batch = []
    for params in given:
        if params is not None:
            study.enqueue_trial(params, user_attrs={BATCH_ATTR: number})
        with warnings.catch_warnings():  # we beat the heartbeat ourselves (_wait)
            warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed")
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            trial = study.ask()
        # in this order: a trial that names its batch says the batch's size and its process
        # (so a resume can tell it lost that process and complete the batch)
        trial.set_user_attr("worker", WORKER_ID)
        trial.set_user_attr(BATCH_TRIALS_ATTR, len(given))
        trial.set_user_attr(BATCH_ATTR, number)
        cell, cells, dtype = space.suggest(trial)  # now, so the next ask sees it running
        arch, report = inputs.price(cell, cells, dtype)
        record_constraints(trial, report)
        trial.set_user_attr("feasible", report.fits)  # first: "arch" completes the claim
        trial.set_user_attr("arch", network_key(arch))  # the claim others see (claims.owner)
        source, variants = None, []
        if report.fits and arch_key(arch) in known:
            earlier = known[arch_key(arch)]
            source = Training(earlier.number, known={k: earlier.user_attrs[k] for k in SCORE_KEYS})
        elif report.fits:
            network = network_key(arch)
            owner = None if network in trainings else claims.owner(study, trial.number, network)
            if owner is not None:  # another process sharing the study trains it
                trainings[network] = Training(owner, remote=True)
            elif network not in trainings:  # new: this trial trains it, every dtype that fits
                trainings[network] = Training(trial.number)
                variants = [(a, r) for a, r in inputs.fitting(cell, cells) if a.dtype != dtype]
            source = trainings[network]
        batch.append(Candidate(trial, arch, report, source, variants, number))
    new = [c for c in batch if c.source and c.source.number == c.trial.number]
    for candidate in sorted(new, key=lambda c: -c.report.macc):  # longest first balances workers
        _submit(inputs, pool, candidate)
    return batch


def _submit(inputs: SearchInputs, pool: ProcessPoolExecutor, candidate: Candidate) -> None:
    """Train the candidate's network, scored as its dtype and its variants'."""
    dtypes = (candidate.arch.dtype, *(a.dtype for a, _ in candidate.variants))
    candidate.source.future = worker_pool.submit_score(pool, inputs.config, candidate.arch,  # type: ignore[union-attr]
                                                       dtypes)


def _tell(inputs: SearchInputs, study: optuna.Study, pool: ProcessPoolExecutor,
          pending: deque[list[Candidate]], trainings: dict[str, Training],
          stop: threading.Event) -> None:
    """Tell the oldest pending batch, in trial order, as its scores arrive; a training also
    records its network's other feasible dtypes as trials of their own. A network another
    process claimed is read from the storage, or trained here if that process died."""
    objectives = inputs.config.objectives
    keep_alive = _keeper(study, [c.trial for batch in pending for c in batch], stop)
    for candidate in pending[0]:
        arch, report, source = candidate.arch, candidate.report, candidate.source
        attrs = cost_attrs(arch, report)
        result = None
        score = _claimed_score(inputs, study, pool, candidate, trainings, keep_alive)
        if score is not None:
            attrs["reused_from"] = source.number  # type: ignore[union-attr]
        elif source is None:
            score = dict(UNTRAINED)
        elif source.known is not None:
            score, attrs["reused_from"] = source.known, source.number
        else:
            result = _wait(source.future, keep_alive)  # type: ignore[arg-type]
            score = score_of(result, arch.dtype)
            if source.number == candidate.trial.number:
                attrs["trained"], attrs[RESULT_ATTR] = True, result
                del trainings[network_key(arch)]  # told: later asks find it in the study
            else:
                attrs["reused_from"] = source.number
        attrs.update(score)
        for name, value in attrs.items():
            candidate.trial.set_user_attr(name, value)
        study.tell(candidate.trial, objective_values(objectives, attrs))
        candidate.told = True
        for variant, variant_report in candidate.variants:  # with the tell: no interruption
            record_variant(inputs, study, variant, variant_report, result,  # type: ignore[arg-type]
                           candidate.trial.number, candidate.batch)


def _claimed_score(inputs: SearchInputs, study: optuna.Study, pool: ProcessPoolExecutor,
                   candidate: Candidate, trainings: dict[str, Training],
                   keep_alive: Callable[[], None]) -> dict[str, Any] | None:
    """The score of a network another process claimed, read from the storage once told.
    If that process died, this candidate trains the network instead (the candidates that
    share its :class:`Training` wait for this training) and None is returned."""
    source, arch = candidate.source, candidate.arch
    if source is None or not source.remote:
        return None
    score = claims.claimed_score(study, arch_key(arch), source.number, keep_alive)
    if score is not None:
        if trainings.get(network_key(arch)) is source:
            del trainings[network_key(arch)]  # later asks find it in the study
        return score
    source.number, source.remote = candidate.trial.number, False
    candidate.variants = [(a, r) for a, r in inputs.fitting(arch.cell, arch.cells)
                          if a.dtype != arch.dtype]
    _submit(inputs, pool, candidate)
    return None


def _keeper(study: optuna.Study, trials: list[optuna.Trial],
            stop: threading.Event) -> Callable[[], None]:
    """A call for long waits: it raises KeyboardInterrupt after Ctrl-C and tells the storage,
    every half heartbeat period, that the asked ``trials`` are alive."""
    beat = time.monotonic()

    def keep_alive() -> None:
        nonlocal beat
        _check(stop)
        if time.monotonic() - beat >= HEARTBEAT_SECONDS / 2 and \
                is_heartbeat_enabled(study._storage):
            beat = time.monotonic()
            for trial in trials:
                study._storage.record_heartbeat(trial._trial_id)  # type: ignore[attr-defined]

    return keep_alive


def _wait(future: Future, keep_alive: Callable[[], None]) -> dict:
    """Wait for one training, keeping the asked trials alive."""
    while True:
        keep_alive()
        try:
            return future.result(timeout=0.1)
        except TimeoutError:
            pass


def front_size(objectives: tuple[str, ...], done: list[optuna.trial.FrozenTrial]) -> int:
    """Distinct feasible candidates on the Pareto front so far (for the progress bar)."""
    scored = {t.user_attrs["key"]: t for t in done
              if t.user_attrs.get("feasible") and t.values is not None}
    if not scored:
        return 0
    signs = np.array([-1.0 if OBJECTIVES[name] == "maximize" else 1.0 for name in objectives])
    points = np.array([t.values for t in scored.values()]) * signs
    return int(non_dominated(points).sum())
