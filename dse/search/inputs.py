"""A search config resolved into the objects it names: profile, space, data and budget."""

from __future__ import annotations

from dataclasses import dataclass, replace

from dse import proxy, tasks, userdata
from dse.architecture import Architecture
from dse.config import SearchConfig
from dse.cost import ArchBatch, BatchCost, CostReport, estimate, estimate_batch
from dse.errors import DseError
from dse.hardware import HardwareProfile, load_profile
from dse.space import SearchSpace, load_space
from dse.training import Budget


@dataclass(frozen=True)
class SearchInputs:
    """Everything a search reads, loaded once in the parent and sent to each worker."""

    config: SearchConfig
    profile: HardwareProfile
    space: SearchSpace
    data: tasks.Dataset
    budget: Budget

    def architecture(self, cell: str, cells: tuple[int, ...], dtype: str) -> Architecture:
        """A candidate as an architecture of the task's shape."""
        shape = self.data
        return Architecture(cell, cells, dtype, shape.features, shape.timesteps,  # type: ignore[arg-type]
                            shape.classes)

    def price(self, cell: str, cells: tuple[int, ...],
              dtype: str) -> tuple[Architecture, CostReport]:
        """A candidate's architecture and its cost on the profile, within the budgets."""
        arch = self.architecture(cell, cells, dtype)
        return arch, estimate(arch, self.profile, runtime=self.config.runtime,
                              ram_mode=self.space.ram_mode, budgets=self.config.budgets)  # type: ignore[arg-type]

    def fitting(self, cell: str, cells: tuple[int, ...]) -> list[tuple[Architecture, CostReport]]:
        """The network's candidates within every budget, in the space's dtype order: the
        dtypes one training records."""
        return [(arch, report) for arch, report in (self.price(cell, cells, d)
                                                    for d in self.space.dtypes) if report.fits]

    def price_all(self, archs: list[Architecture]) -> BatchCost:
        """The cost of many candidates at once (the vectorized cost model)."""
        return estimate_batch(ArchBatch.from_architectures(archs), self.profile,
                              runtime=self.config.runtime, ram_mode=self.space.ram_mode,  # type: ignore[arg-type]
                              budgets=self.config.budgets)


def resolve(config: SearchConfig) -> SearchInputs:
    """Load the profile, space and data a config names; check the data file's checksum."""
    profile = load_profile(config.profile)
    profile.runtime_named(config.runtime)  # refused now if the profile has no such runtime
    space = load_space(config.space)
    if config.data is not None:
        digest = userdata.file_sha256(config.data)
        if config.data_sha256 and digest != config.data_sha256:
            raise DseError(
                f"Data file {config.data} has changed: its sha256 is {digest[:12]}..., "
                f"the study was made with {config.data_sha256[:12]}.... Use the original file "
                f"or start a new study."
            )
        data = userdata.load_npz(config.data, seed=config.seed)
    else:
        data = tasks.load_task(str(config.task), seed=config.seed)
    overrides = {k: v for k, v in (("epochs", config.epochs), ("batch_size", config.batch_size))
                 if v is not None}
    budget = replace(proxy.default_budget(data), **overrides)
    return SearchInputs(config, profile, space, data, budget)
