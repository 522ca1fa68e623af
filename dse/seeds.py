"""A network's scores over several training seeds.

A network's accuracy is its mean over seeds: one training's score moves with the seed
(initialization, validation split, batch order) by a few points (experiments/bench/noise.py),
and a front built from single scores takes those moves for real differences. So the search
trains every network with ``train_seeds`` seeds (:func:`training_seeds`) and stores each
seed's score beside the mean (``accuracy_seeds``, ``accuracy_quantized_seeds``). Read by the
search (which writes them) and by the results tables.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dse.training import derived_seed

SEED_STREAM = 1 << 20  # seed k > 0 of a run is derived_seed(run seed, SEED_STREAM + k)


def training_seeds(run_seed: int, count: int) -> tuple[int, ...]:
    """The seeds a network trains with: the run's seed first (so one seed is the run's own
    training), then seeds derived from it, the same in any process."""
    return (run_seed, *(derived_seed(run_seed, SEED_STREAM + k) for k in range(1, count)))


def seed_scores(attrs: dict[str, Any]) -> dict[str, np.ndarray]:
    """A trial's ``accuracy`` and ``accuracy_quantized`` over its seeds; a study made before
    the seeds were stored holds one seed, its score."""
    return {name: np.array(attrs.get(f"{name}_seeds") or [attrs[name]], dtype=float)
            for name in ("accuracy", "accuracy_quantized")}
