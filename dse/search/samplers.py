"""The samplers a config can name, built with a seed that moves on with the study."""

from __future__ import annotations

import hashlib

import optuna

from dse.config import AUTO_SAMPLER, SearchConfig
from dse.errors import DseError


def derived_seed(*parts: int) -> int:
    """A 32-bit seed from several numbers (numpy's legacy seeding takes no more), so no run
    seed, however large, overflows it."""
    digest = hashlib.sha256(",".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little")


def make_sampler(config: SearchConfig, n_trials: int) -> optuna.samplers.BaseSampler:
    """The sampler a config names. Its seed moves on with the number of trials the study
    holds, so neither the next batch nor a resumed run re-proposes earlier start-up draws."""
    seed = derived_seed(config.seed, n_trials)
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
