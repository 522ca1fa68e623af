"""What decides a search's results, as plain data: the config, the samplers, the objectives.

Light on purpose (no optuna), so the CLI can build its options without importing the search.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from dse.errors import DseError

SAMPLERS = ("auto", "tpe", "nsga2", "gp", "random", "grid")
AUTO_SAMPLER = "tpe"  # chosen by experiments/bench_samplers.py (README: sampler quality)
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


@dataclass(frozen=True)
class SearchConfig:
    """Everything that decides a study's results. Storage, workers and output folder do not.

    ``trials`` and ``timeout_s`` say how long to search, not what is found, so a study may be
    resumed with other values of them.
    """

    profile: str = "stm32l4"
    space: str = "default"
    task: str | None = "motion"
    data: str | None = None
    data_sha256: str | None = None
    sampler: str = "auto"
    objectives: tuple[str, ...] = ("accuracy_quantized", "latency_ms")
    max_latency_ms: float | None = None
    max_energy_uj: float | None = None
    epochs: int | None = None
    batch_size: int | None = None
    seed: int = 0
    trials: int = 60
    timeout_s: float | None = None

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise DseError(f"Unknown sampler {self.sampler!r}. Available: {', '.join(SAMPLERS)}.")
        unknown = [o for o in self.objectives if o not in OBJECTIVES]
        if unknown:
            raise DseError(f"Unknown objective {unknown[0]!r}. Available: {', '.join(OBJECTIVES)}.")
        if len(set(self.objectives)) < 2 or len(set(self.objectives)) != len(self.objectives):
            raise DseError(f"Give two or more different objectives; got {list(self.objectives)}.")
        if (self.task is None) == (self.data is None):
            raise DseError("Give either a built-in task (--task NAME) or a data file (--data FILE.npz).")
        if self.trials < 1:
            raise DseError(f"--trials must be >= 1; got {self.trials}.")

    def identity(self) -> dict[str, Any]:
        """The fields that must match for a study to be resumed or joined."""
        data = asdict(self)
        for name in ("trials", "timeout_s"):
            data.pop(name)
        data["objectives"] = list(self.objectives)
        return data

    @classmethod
    def from_identity(cls, data: dict[str, Any], **overrides: Any) -> SearchConfig:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["objectives"] = tuple(values.get("objectives", cls.objectives))
        return cls(**{**values, **overrides})
