"""The samplers a config can name, built with a seed that moves on with the study."""

from __future__ import annotations

import math
from typing import Any

import optuna
from optuna.distributions import BaseDistribution

from dse.config import AUTO_SAMPLER, SearchConfig
from dse.errors import DseError
from dse.space import SearchSpace
from dse.training import derived_seed

MAX_GRID = 1_000_000  # candidates --sampler grid may enumerate


def check_sampler(config: SearchConfig, space: SearchSpace) -> None:
    """Refuse, before the first trial, a sampler that cannot run: a missing package, or a
    grid too large to enumerate."""
    name = AUTO_SAMPLER if config.sampler == "auto" else config.sampler
    if name == "gp":
        for package, why in (("torch", "its Gaussian process"), ("scipy", "its optimizer")):
            try:
                __import__(package)
            except ImportError:
                raise DseError(f"The 'gp' sampler needs {package} for {why}: pip install "
                               f"{package} (or choose --sampler tpe).") from None
    if name == "grid" and space.candidate_count > MAX_GRID:
        raise DseError(f"--sampler grid would enumerate all {space.candidate_count:,} candidates "
                       f"of space '{space.name}' (the limit is {MAX_GRID:,}); use a sampler that "
                       f"searches (auto, tpe) or a smaller space.")


def make_sampler(config: SearchConfig, space: SearchSpace,
                 n_trials: int) -> optuna.samplers.BaseSampler:
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
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=10)
    if name == "grid":
        return GridOrderSampler(space, config.seed)
    return optuna.samplers.RandomSampler(seed=seed)


class GridOrderSampler(optuna.samplers.BaseSampler):
    """Every candidate of the space once, in a seeded order, without listing them: trial
    number k gets candidate (a*k + b) mod N, a bijection for a coprime to N. Trial numbers
    are unique in a study, so workers sharing it never draw the same candidate; numbers
    past N start a new lap (a failed trial's candidate comes round again, the others reuse
    their scores)."""

    def __init__(self, space: SearchSpace, seed: int) -> None:
        self.space, self.size = space, space.candidate_count
        self.offset = derived_seed(seed, 1) % self.size
        step = derived_seed(seed, 2) % self.size or 1
        while math.gcd(step, self.size) != 1:
            step += 1
        self.step = step

    def candidate(self, number: int) -> tuple[str, tuple[int, ...], str]:
        """The candidate trial ``number`` evaluates."""
        index = (self.step * (number % self.size) + self.offset) % self.size
        network, dtype = divmod(index, len(self.space.dtypes))
        cell, cells = self.space.network_at(network)
        return cell, cells, self.space.dtypes[dtype]

    def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(self, study: Any, trial: Any,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return {}

    def sample_independent(self, study: Any, trial: Any, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self.space.params_of(*self.candidate(trial.number))[param_name]
