"""The final training of a network chosen for deployment: a longer budget than the search's
proxy (which only ranks), several seeds, the one best on the validation split kept.

The defaults were chosen by ``experiments/bench/final_training.py`` (docs/benchmarks.md).
Seeds train in parallel processes, each on one BLAS thread, so the result is the same for
any number of workers.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing import get_context

from threadpoolctl import threadpool_limits

from dse.architecture import Architecture
from dse.tasks import Dataset
from dse.training import Budget, Trained, check_trainable, derived_seed, sized_for, train

FINAL_BUDGET = Budget(epochs=60, patience=8)
FINAL_SEEDS = 3


def final_budget(data: Dataset, *, epochs: int | None = None,
                 batch_size: int | None = None) -> Budget:
    """The final budget for ``data`` (fitted to a small training split as the search's is),
    with the epochs asked for and the batch size the search trained with, where given."""
    overrides = {k: v for k, v in (("epochs", epochs), ("batch_size", batch_size)) if v}
    return replace(sized_for(FINAL_BUDGET, len(data.y_train)), **overrides)


@dataclass(frozen=True)
class FinalTraining:
    """The kept training and what every seed reached on validation."""

    best: Trained
    seed: int  # the training seed of ``best``
    tried: tuple[tuple[int, float, int, float], ...]  # (seed, validation accuracy, epochs, s)


def training_seeds(run_seed: int, count: int) -> list[int]:
    """The seeds of the final trainings: derived from the run's seed, never the search's."""
    return [derived_seed(run_seed, "final", k) for k in range(count)]


def _train_one(arch: Architecture, data: Dataset, budget: Budget, seed: int) -> Trained:
    with threadpool_limits(1, user_api="blas"):
        return train(arch, data, budget, seed)


def train_final(arch: Architecture, data: Dataset, *, run_seed: int, seeds: int = FINAL_SEEDS,
                budget: Budget = FINAL_BUDGET, workers: int | None = None) -> FinalTraining:
    """Train ``arch`` once per seed; keep the best validation accuracy (the first on ties)."""
    check_trainable(arch, budget)
    chosen = training_seeds(run_seed, seeds)
    workers = min(len(chosen), workers or os.cpu_count() or 1)
    if workers == 1:
        runs = [_train_one(arch, data, budget, seed) for seed in chosen]
    else:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            runs = list(pool.map(_train_one, *zip(*[(arch, data, budget, s) for s in chosen])))
    best = max(range(len(runs)), key=lambda k: (runs[k].diverged is None,
                                                runs[k].validation_accuracy, -k))
    return FinalTraining(runs[best], chosen[best], tuple(
        (seed, run.validation_accuracy, run.epochs_run, round(run.seconds, 3))
        for seed, run in zip(chosen, runs)))
