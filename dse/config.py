"""What decides a search's results, as plain data: the config, the samplers, the objectives.

Light on purpose (no optuna), so the CLI can build its options without importing the search.
:class:`SearchConfig` is the one place a search's values are checked: the CLI and experiment
files both build one, so neither can accept what the other refuses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from dse import checks
from dse.errors import DseError
from dse.hardware import Budgets

SAMPLERS = ("auto", "ehvi", "tpe", "nsga2", "gp", "random", "grid")
AUTO_SAMPLER = "ehvi"  # chosen by experiments/bench/samplers.py (docs/benchmarks.md)
OBJECTIVES = {  # name -> direction
    "accuracy_quantized": "maximize",
    "accuracy": "maximize",
    "latency_ms": "minimize",
    "flash_bytes": "minimize",
    "ram_bytes": "minimize",
    "energy_uj": "minimize",
    "params": "minimize",
    "macc": "minimize",
}
ACCURACY_OBJECTIVES = ("accuracy_quantized", "accuracy")
DEFAULT_TRAININGS = 100  # 9 % of the default space: samplers.py and default_run.py (docs/benchmarks.md)
DEFAULT_CONFIRM_SEEDS = 2  # mean of 3: std 0.028 / sqrt(3) = 0.016 < the margin (noise.py)
MAX_SEED = 2**32 - 1
MAX_WORKERS = 256  # local worker processes: more only thrash
BUDGETS = ("max_latency_ms", "max_energy_uj", "max_flash_kb", "max_ram_kb")
WHERE = "the search config"


@dataclass(frozen=True)
class SearchConfig:
    """Everything that decides a study's results. Storage, workers and output folder do not.

    ``trainings`` (networks to train: each training records every feasible dtype of its
    network) and ``timeout_s`` say how long to search, not what is found, so a study may be
    resumed with other values of them; ``trainings=None`` means the study's stored target
    (or :data:`DEFAULT_TRAININGS` for a new study). ``confirm_seeds`` extra trainings of the
    front's networks and of those within the noise of it decide the final front (None:
    :data:`DEFAULT_CONFIRM_SEEDS`). Budgets default to the profile's ``[budgets]``;
    ``max_flash_kb`` and ``max_ram_kb`` are in KiB (1024 bytes) and cover what the network
    brings: the model and its runtime.
    """

    profile: str = "stm32l4"
    runtime: str | None = None  # one of the profile's runtimes; None: its default
    space: str = "default"
    task: str | None = "motion"
    data: str | None = None
    data_sha256: str | None = None
    sampler: str = "auto"
    objectives: tuple[str, ...] = ("accuracy_quantized", "latency_ms")
    max_latency_ms: float | None = None
    max_energy_uj: float | None = None
    max_flash_kb: float | None = None
    max_ram_kb: float | None = None
    epochs: int | None = None
    batch_size: int | None = None
    seed: int = 0
    trainings: int | None = None
    timeout_s: float | None = None
    confirm_seeds: int | None = None

    def __post_init__(self) -> None:
        checks.text("profile", self.profile, WHERE)
        checks.text("space", self.space, WHERE)
        checks.choice("sampler", self.sampler, SAMPLERS, WHERE)
        if not isinstance(self.objectives, tuple) or not self.objectives:
            raise DseError(f"Give two or more objectives; got {self.objectives!r}.")
        for objective in self.objectives:
            checks.choice("objectives", objective, tuple(OBJECTIVES), WHERE)
        if len(set(self.objectives)) < 2 or len(set(self.objectives)) != len(self.objectives):
            raise DseError(f"Give two or more different objectives; got {list(self.objectives)}.")
        if (self.task is None) == (self.data is None):
            raise DseError("Give either a built-in task (--task NAME) or a data file (--data FILE.npz).")
        for name in ("runtime", "task", "data", "data_sha256"):
            if getattr(self, name) is not None:
                checks.text(name, getattr(self, name), WHERE)
        for name in BUDGETS:
            if getattr(self, name) is not None:
                checks.positive(name, getattr(self, name), WHERE)
        if self.epochs is not None:
            checks.whole("epochs", self.epochs, 1, 100_000, WHERE)
        if self.batch_size is not None:
            checks.whole("batch_size", self.batch_size, 1, 1_000_000, WHERE)
        checks.whole("seed", self.seed, 0, MAX_SEED, WHERE)
        if self.trainings is not None:
            checks.whole("trainings", self.trainings, 1, 1_000_000, WHERE)
        if self.confirm_seeds is not None:
            checks.whole("confirm_seeds", self.confirm_seeds, 0, 64, WHERE)
        if self.timeout_s is not None:
            checks.positive("timeout_s", self.timeout_s, WHERE)

    @property
    def budgets(self) -> Budgets:
        """The budgets this config sets (the profile's fill in the rest)."""
        return Budgets(**{name: getattr(self, name) for name in BUDGETS})

    @property
    def seeds_to_confirm(self) -> int:
        """Extra seeds for the networks near the front (``confirm_seeds`` or its default)."""
        return DEFAULT_CONFIRM_SEEDS if self.confirm_seeds is None else self.confirm_seeds

    def identity(self) -> dict[str, Any]:
        """The fields that must match for a study to be resumed or joined."""
        data = asdict(self)
        for name in ("trainings", "timeout_s", "confirm_seeds"):
            data.pop(name)
        data["objectives"] = list(self.objectives)
        return data

    @classmethod
    def from_identity(cls, data: dict[str, Any], **overrides: Any) -> SearchConfig:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["objectives"] = tuple(values.get("objectives", cls.objectives))
        return cls(**{**values, **overrides})
