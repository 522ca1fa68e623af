"""The samplers a config can name, built with a seed that moves on with the study."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution

from dse.config import ACCURACY_OBJECTIVES, AUTO_SAMPLER, SearchConfig
from dse.errors import DseError
from dse.search.ehvi import TRAINING_COST_EXPONENT, EhviSampler
from dse.space import SearchSpace
from dse.training import derived_seed

if TYPE_CHECKING:
    from dse.search.inputs import SearchInputs

MAX_GRID = 1_000_000  # networks --sampler grid may enumerate
ASK_BATCH = 4  # trials asked before telling: fixed, so results do not depend on --workers
FIRST_BATCH = 2  # the first two batches (asked before any score is back): smaller


def sampler_name(config: SearchConfig) -> str:
    """The sampler a config runs: ``auto`` is :data:`AUTO_SAMPLER` where its objectives suit
    it (ehvi: one accuracy against costs), else ``tpe``."""
    if config.sampler != "auto":
        return config.sampler
    return AUTO_SAMPLER if AUTO_SAMPLER != "ehvi" or _ehvi_models(config) else "tpe"


def _ehvi_models(config: SearchConfig) -> bool:
    """Whether ehvi can model the objectives: exactly one accuracy, and at least one cost."""
    accuracies = [o for o in config.objectives if o in ACCURACY_OBJECTIVES]
    return len(accuracies) == 1 and len(config.objectives) >= 2


def check_sampler(config: SearchConfig, space: SearchSpace) -> None:
    """Refuse, before the first trial, a sampler that cannot run: a missing package, or a
    grid too large to enumerate. A search checks it before it opens its study (``runner.run``);
    reading a study's inputs (an export) does not, as it never samples."""
    name = sampler_name(config)
    if name == "gp":
        for package, why in (("torch", "its Gaussian process"), ("scipy", "its optimizer")):
            try:
                __import__(package)
            except ImportError:
                raise DseError(f"The 'gp' sampler needs {package} for {why}: pip install "
                               f"{package} (or choose --sampler tpe).") from None
    accuracies = [o for o in config.objectives if o in ACCURACY_OBJECTIVES]
    if name == "ehvi" and not _ehvi_models(config):
        raise DseError(f"The 'ehvi' sampler models one accuracy objective against exact costs; "
                       f"the objectives {', '.join(config.objectives)} have "
                       f"{len(accuracies)}. Keep one of {', '.join(ACCURACY_OBJECTIVES)} and "
                       f"add a cost, or choose --sampler tpe.")
    if name == "grid" and space.network_count > MAX_GRID:
        raise DseError(f"--sampler grid would enumerate all {space.network_count:,} networks "
                       f"of space '{space.name}' (the limit is {MAX_GRID:,}); use a sampler that "
                       f"searches (auto, tpe) or a smaller space.")


def make_sampler(inputs: SearchInputs, batch: int,
                 previous: optuna.samplers.BaseSampler | None = None, *,
                 training_cost_exponent: float = TRAINING_COST_EXPONENT
                 ) -> optuna.samplers.BaseSampler:
    """The sampler a config names, for ask batch ``batch``. Its seed moves on with the batch,
    so neither the next batch nor a resumed run re-proposes earlier start-up draws.
    ``previous`` (the last batch's) lends what it computed once: ehvi's priced space.
    ``training_cost_exponent`` is ehvi's (the benchmarks vary it)."""
    config = inputs.config
    seed = derived_seed(config.seed, batch)
    name = sampler_name(config)
    if name == "ehvi":
        if isinstance(previous, EhviSampler):
            return previous.for_batch(batch)
        return EhviSampler.from_inputs(inputs, batch, training_cost_exponent=training_cost_exponent)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True,
                                          n_startup_trials=10)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=16)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=10)
    if name == "grid":
        return GridOrderSampler(inputs, batch)
    return optuna.samplers.RandomSampler(seed=seed)


def training_limit(sampler: optuna.samplers.BaseSampler) -> int | None:
    """The most networks ehvi can propose for training (past that it would only re-propose
    what is known); None for the others."""
    return sampler.network_limit if isinstance(sampler, EhviSampler) else None


def batch_size(sampler: optuna.samplers.BaseSampler, batch: int, want: int) -> int:
    """Trials to ask in batch ``batch`` when ``want`` more trainings are wanted: the grid
    asks full batches until its lap ends, the others no more than are wanted."""
    if isinstance(sampler, GridOrderSampler):
        return max(0, min(ASK_BATCH, sampler.size - batch * ASK_BATCH))
    return min(FIRST_BATCH if batch < 2 else ASK_BATCH, want)


class GridOrderSampler(optuna.samplers.BaseSampler):
    """Every network of the space once, in a seeded order, without listing them: the i-th
    asked trial (batch * ASK_BATCH + its place in the batch) gets network (a*i + b) mod N,
    a bijection for a coprime to N, in the space's first dtype that fits (its training
    records the others). One lap, then the search stops."""

    def __init__(self, inputs: SearchInputs, batch: int) -> None:
        self.inputs, self.space = inputs, inputs.space
        self.size = self.space.network_count
        self.offset = derived_seed(inputs.config.seed, 1) % self.size
        step = derived_seed(inputs.config.seed, 2) % self.size or 1
        while math.gcd(step, self.size) != 1:
            step += 1
        self.step = step
        self.first = batch * ASK_BATCH
        self.places: dict[int, int] = {}  # trial number -> its index in the lap

    def candidate(self, index: int) -> tuple[str, tuple[int, ...], str]:
        """The ``index``-th candidate of the lap."""
        cell, cells = self.space.network_at((self.step * (index % self.size) + self.offset)
                                            % self.size)
        fitting = [d for d in self.space.dtypes if self.inputs.price(cell, cells, d)[1].fits]
        return cell, cells, (fitting or self.space.dtypes)[0]

    def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, BaseDistribution]:
        return {name: CategoricalDistribution(choices)
                for name, choices in self.space.choices().items()}

    def sample_relative(self, study: Any, trial: Any,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        index = self.places.setdefault(trial.number, self.first + len(self.places))
        params = self.space.params_of(*self.candidate(index))
        return {name: value for name, value in params.items() if name in search_space}

    def sample_independent(self, study: Any, trial: Any, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        raise RuntimeError(f"the grid proposes every parameter; {param_name!r} was not proposed")
