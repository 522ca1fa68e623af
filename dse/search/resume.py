"""What a run repairs of the runs before it that were interrupted, before it asks anything.

A run stopped with Ctrl-C fails its asked trials itself. One killed (``kill -9``, a lost
machine) leaves them running: they are failed here when their process was of this machine
(at once) or when their heartbeat went stale (another machine's). Then the dtype variants a
killed trainer told but did not record are recorded from its stored result, and
:func:`replays` lists what the interrupted batches still have to ask, so the study ends
as an uninterrupted run's.
"""

from __future__ import annotations

import os
import warnings

import optuna
from optuna.trial import TrialState

from dse.search.attrs import (
    BATCH_ATTR,
    BATCH_TRIALS_ATTR,
    RESULT_ATTR,
    WORKER_ID,
    record_variant,
)
from dse.search.inputs import SearchInputs


def repair(inputs: SearchInputs, study: optuna.Study) -> None:
    """Fail the trials of dead processes and record the variants they lost."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)  # trials of a process killed with -9
    _fail_orphans(study)  # the same, at once, when that process ran on this machine
    _record_lost_variants(inputs, study)


def _fail_orphans(study: optuna.Study) -> None:
    """Fail the running trials of processes of this machine that no longer exist (their
    heartbeat would take the grace period to go stale)."""
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if _dead_here(str(t.user_attrs.get("worker", ""))):
            study.tell(t.number, state=TrialState.FAIL)


def _record_lost_variants(inputs: SearchInputs, study: optuna.Study) -> None:
    """Record the dtype variants that a dead process of this machine told a training for but
    did not record (``kill -9`` between the two), from the result its trial stored: the
    study then holds what an uninterrupted run holds."""
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    recorded = {(t.user_attrs.get("variant_of"), t.user_attrs.get("dtype")) for t in trials}
    for trial in trials:
        attrs = trial.user_attrs
        if RESULT_ATTR not in attrs or not _dead_here(str(attrs.get("worker", ""))):
            continue
        cells = tuple(int(c) for c in attrs["cells"].split(","))
        for arch, report in inputs.fitting(attrs["cell"], cells):
            if arch.dtype != attrs["dtype"] and (trial.number, arch.dtype) not in recorded:
                record_variant(inputs, study, arch, report, attrs[RESULT_ATTR], trial.number,
                               attrs[BATCH_ATTR])


def _dead_here(worker: str) -> bool:
    """Whether ``worker`` (``host:pid``) was a process of this machine that no longer runs."""
    host, _, pid = worker.rpartition(":")
    return host == WORKER_ID.rpartition(":")[0] and pid.isdigit() and not _alive(int(pid))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's: alive
        return True
    return True


def replays(trials: list[optuna.trial.FrozenTrial]) -> list[tuple[int, list[dict | None]]]:
    """What interrupted batches lost, batch by batch in order: the parameters of failed trials
    that no later trial of their batch asked again, then None for each trial a batch did not
    get to ask (its process was killed while asking: the sampler proposes those again, seeing
    the same trials as then, which ehvi and grid turn into the same proposals). Variants are
    recorded, not asked: they do not count. A batch with a running trial (a live process
    sharing its number) is not completed."""
    batches: dict[int, list[optuna.trial.FrozenTrial]] = {}
    for t in trials:
        if BATCH_ATTR in t.user_attrs and "variant_of" not in t.user_attrs:
            batches.setdefault(t.user_attrs[BATCH_ATTR], []).append(t)
    lost: list[tuple[int, list[dict | None]]] = []
    for number, members in sorted(batches.items()):
        states = {t.state for t in members}
        if TrialState.FAIL not in states:
            continue
        again = [t.params for t in members if t.state != TrialState.FAIL]
        params: list[dict | None] = []
        for t in members:
            if t.state == TrialState.FAIL and t.params:
                if t.params in again:
                    again.remove(t.params)
                else:
                    params.append(t.params)
        asked = sum(t.state != TrialState.FAIL for t in members) + len(params)
        if TrialState.RUNNING not in states:
            size = max(t.user_attrs.get(BATCH_TRIALS_ATTR, 0) for t in members)
            params += [None] * max(0, size - asked)
        if params:
            lost.append((number, params))
    return lost
