"""What decides a search's results, as plain data: the config, the samplers, the objectives.

Light on purpose (no optuna), so the CLI can build its options without importing the search.
Each setting is declared once, as a field of :class:`SearchConfig` with its kind, bounds and
default (:class:`Setting`; scikit-learn validates its parameters from one such declaration):
the config checks its values with it, the CLI's options take their types and shown defaults
from it, and experiment files their keys and defaults, so neither the CLI nor a file can
accept what the other refuses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

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
DEFAULT_TRAININGS = 45  # x 3 seeds: the default run in under 4 minutes on 2 cores (README)
DEFAULT_TRAIN_SEEDS = 3  # mean of 3: std 0.028 / sqrt(3) = 0.016 (noise.py)
MAX_SEED = 2**32 - 1
MAX_WORKERS = 256  # local worker processes: more only thrash
MAX_NUMBER = 1e12  # budgets and durations: larger is a typo, not a budget
BUDGETS = ("max_latency_ms", "max_energy_uj", "max_flash_kb", "max_ram_kb")
WHERE = "the search config"


@dataclass(frozen=True)
class Setting:
    """The values one search setting takes: a whole number in [low, high], a number in
    (0, high], a non-empty text, one of ``choices`` or several of them; ``optional``: None
    (not given) too."""

    kind: Literal["whole", "positive", "text", "choice", "choices"]
    default: Any = None
    low: int = 0
    high: float = 0
    choices: tuple[str, ...] = ()
    optional: bool = True

    def check(self, name: str, value: Any, where: str) -> None:
        """Refuse a value outside the setting, in the one message shape of :mod:`dse.checks`."""
        if value is None and self.optional:
            return
        if self.kind == "whole":
            checks.whole(name, value, self.low, int(self.high), where)
        elif self.kind == "positive":
            checks.positive(name, value, where, self.high)
        elif self.kind == "choice":
            checks.choice(name, value, self.choices, where)
        elif self.kind == "choices":
            for item in value:
                checks.choice(name, item, self.choices, where)
        else:
            checks.text(name, value, where)


def _setting(kind: Literal["whole", "positive", "text", "choice", "choices"], default: Any = None,
             *, low: int = 0, high: float = 0, choices: tuple[str, ...] = (),
             optional: bool | None = None) -> Any:
    """A :class:`SearchConfig` field declared with its setting (optional when its default
    is None, unless told)."""
    setting = Setting(kind, default, low, high, choices,
                      default is None if optional is None else optional)
    return field(default=default, metadata={"setting": setting})


@dataclass(frozen=True)
class SearchConfig:
    """Everything that decides a study's results. Storage, workers and output folder do not.

    ``trainings`` (networks to train: each training records every feasible dtype of its
    network) and ``timeout_s`` say how long to search, not what is found, so a study may be
    resumed with other values of them; ``trainings=None`` means the study's stored target
    (or :data:`DEFAULT_TRAININGS` for a new study). Every network trains with ``train_seeds``
    seeds and is ranked by its mean over them (:mod:`dse.seeds`). Budgets default to the
    profile's ``[budgets]``; ``max_flash_kb`` and ``max_ram_kb`` are in KiB (1024 bytes) and
    cover what the network brings: the model and its runtime.
    """

    profile: str = _setting("text", "stm32l4")
    runtime: str | None = _setting("text")  # one of the profile's runtimes; None: its default
    space: str = _setting("text", "default")
    task: str | None = _setting("text", "motion", optional=True)
    data: str | None = _setting("text")
    data_sha256: str | None = _setting("text")
    sampler: str = _setting("choice", "auto", choices=SAMPLERS)
    objectives: tuple[str, ...] = _setting("choices", ("accuracy_quantized", "latency_ms"),
                                           choices=tuple(OBJECTIVES))
    max_latency_ms: float | None = _setting("positive", high=MAX_NUMBER)
    max_energy_uj: float | None = _setting("positive", high=MAX_NUMBER)
    max_flash_kb: float | None = _setting("positive", high=MAX_NUMBER)
    max_ram_kb: float | None = _setting("positive", high=MAX_NUMBER)
    epochs: int | None = _setting("whole", low=1, high=100_000)
    batch_size: int | None = _setting("whole", low=1, high=1_000_000)
    seed: int = _setting("whole", 0, low=0, high=MAX_SEED)
    trainings: int | None = _setting("whole", low=1, high=1_000_000)
    timeout_s: float | None = _setting("positive", high=MAX_NUMBER)
    train_seeds: int = _setting("whole", DEFAULT_TRAIN_SEEDS, low=1, high=64)

    def __post_init__(self) -> None:
        if not isinstance(self.objectives, tuple) or not self.objectives:
            raise DseError(f"Give two or more objectives; got {self.objectives!r}.")
        for setting in fields(self):
            setting.metadata["setting"].check(setting.name, getattr(self, setting.name), WHERE)
        if len(set(self.objectives)) < 2 or len(set(self.objectives)) != len(self.objectives):
            raise DseError(f"Give two or more different objectives; got {list(self.objectives)}.")
        if (self.task is None) == (self.data is None):
            raise DseError("Give either a built-in task (--task NAME) or a data file (--data FILE.npz).")

    @property
    def budgets(self) -> Budgets:
        """The budgets this config sets (the profile's fill in the rest)."""
        return Budgets(**{name: getattr(self, name) for name in BUDGETS})

    def identity(self) -> dict[str, Any]:
        """The fields that must match for a study to be resumed or joined."""
        data = asdict(self)
        for name in ("trainings", "timeout_s"):
            data.pop(name)
        data["objectives"] = list(self.objectives)
        return data

    @classmethod
    def from_identity(cls, data: dict[str, Any], **overrides: Any) -> SearchConfig:
        """The config a study stored; one made before ``train_seeds`` trained one seed."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values.setdefault("train_seeds", 1)
        values["objectives"] = tuple(values.get("objectives", cls.objectives))
        return cls(**{**values, **overrides})


SETTINGS: dict[str, Setting] = {f.name: f.metadata["setting"] for f in fields(SearchConfig)}
# Local worker processes: how a run computes, never what it finds, so not part of a config.
WORKERS = Setting("whole", 1, low=1, high=MAX_WORKERS, optional=False)
