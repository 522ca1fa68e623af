"""Confirming the front against the proxy's noise (``confirm_seeds``).

One training's score moves with the training seed by a few points (experiments/bench/noise.py
measures it on every built-in task), and a front built from single scores takes those moves
for real differences. After the search, the networks on the front and those within
:data:`NOISE_MARGIN` of it are trained again with ``confirm_seeds`` more seeds, and the front
is built from each candidate's mean. Rounds repeat (at most :data:`MAX_ROUNDS`) while the
front of means brings networks near it that are not yet confirmed.

The extra scores are stored in the study, one user attribute per network
(``dse_confirm:<network>``), so a resumed or joined run confirms only what is new; the seeds
derive from the study's seed, so the scores are the same in any process order.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

import numpy as np
import optuna

from dse.architecture import Architecture
from dse.config import ACCURACY_OBJECTIVES, OBJECTIVES
from dse.search import pool as worker_pool
from dse.search.inputs import SearchInputs
from dse.seeds import ATTR_PREFIX, confirmations, seed_scores
from dse.training import derived_seed

NOISE_MARGIN = 0.04  # ~sqrt(2) x the median seed-to-seed std (0.022-0.030, 3 tasks): noise.py
MAX_ROUNDS = 4
SEED_STREAM = 1 << 20  # confirmation k trains with derived_seed(seed, SEED_STREAM + k)


def near_front(points: np.ndarray, margin: float) -> np.ndarray:
    """Mask of the rows of ``points`` (N, M; column 0 the accuracy, maximized; the rest
    costs, minimized) that no other row beats by more than ``margin`` in accuracy at no
    more cost in any objective: the front and what the noise could put on it."""
    accuracy, costs = points[:, 0], points[:, 1:]
    mask = np.ones(len(points), dtype=bool)
    for row in range(len(points)):
        cheaper = np.all(costs <= costs[row], axis=1)
        mask[row] = not np.any(cheaper & (accuracy > accuracy[row] + margin))
    return mask


def confirm(inputs: SearchInputs, study: optuna.Study, pool: ProcessPoolExecutor,
            wait: Callable[[Future], dict[str, Any]],
            report: Callable[[int, int], None] | None = None) -> int:
    """Train the networks near the front with the config's extra seeds; store their scores.
    Returns the number of trainings run; ``report(done, planned)`` follows them."""
    config = inputs.config
    seeds = config.seeds_to_confirm
    runs = planned = 0
    for _ in range(MAX_ROUNDS if seeds else 0):
        wanted = _unconfirmed(inputs, study, seeds)
        if not wanted:
            break
        futures = {network: [(seed, pool.submit(worker_pool.score, arch, dtypes, seed))
                             for seed in (derived_seed(config.seed, SEED_STREAM + k)
                                          for k in range(len(have), seeds))]
                   for network, (arch, dtypes, have) in wanted.items()}
        planned += sum(len(pending) for pending in futures.values())
        for network, pending in futures.items():  # stored in a fixed order
            scores = []
            for seed, future in pending:
                scores.append({"seed": seed,
                               **{k: v for k, v in wait(future).items() if k in STORED}})
                runs += 1
                if report:
                    report(runs, planned)
            study.set_user_attr(ATTR_PREFIX + network, wanted[network][2] + scores)
    return runs


STORED = ("accuracy", "quantized", "diverged")  # of a confirmation's score (no timings)


def _unconfirmed(inputs: SearchInputs, study: optuna.Study,
                 seeds: int) -> dict[str, tuple[Architecture, tuple[str, ...], list[dict]]]:
    """Networks near the front of means with fewer than ``seeds`` confirmations: for each,
    an architecture to train, the dtypes to score and the confirmations it has."""
    objectives = study.user_attrs["dse_config"]["objectives"]
    accuracy = next((o for o in objectives if o in ACCURACY_OBJECTIVES), None)
    if accuracy is None:
        return {}
    done = confirmations(study.user_attrs)
    rows: dict[str, dict[str, Any]] = {}
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        attrs = trial.user_attrs
        if attrs.get("feasible") and attrs.get(accuracy) == attrs.get(accuracy):
            rows.setdefault(attrs["key"], attrs)
    if not rows:
        return {}
    candidates = list(rows.values())
    costs = [o for o in objectives if o not in ACCURACY_OBJECTIVES]
    points = np.array([[seed_scores(a, done.get(a["arch"], []))[accuracy].mean(),
                        *(a[c] if OBJECTIVES[c] == "minimize" else -a[c] for c in costs)]
                       for a in candidates])
    wanted: dict[str, tuple[Architecture, tuple[str, ...], list[dict]]] = {}
    for attrs in (a for a, near in zip(candidates, near_front(points, NOISE_MARGIN)) if near):
        network, have = attrs["arch"], done.get(attrs["arch"], [])
        if len(have) < seeds and network not in wanted:
            # every dtype the training records, not only those stored yet: another worker
            # may still be recording the network's variants
            cells = tuple(int(c) for c in attrs["cells"].split(","))
            fitting = [arch for arch, _ in inputs.fitting(attrs["cell"], cells)]
            wanted[network] = (fitting[0], tuple(arch.dtype for arch in fitting), have)
    return wanted
