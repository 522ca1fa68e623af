"""What every command module shares: the parser that reports bad usage as one line, argparse
types with the bounds the config declares (:data:`dse.config.SETTINGS`), strict JSON printing
and the task-or-data choice."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from dse.config import BUDGETS, SETTINGS, WORKERS, Setting
from dse.errors import DseError
from dse.hardware import Budgets

if TYPE_CHECKING:
    from dse.tasks import Dataset

Verbs = argparse._SubParsersAction  # what ``add_subparsers`` returns: one parser per verb


class Parser(argparse.ArgumentParser):
    """argparse that reports bad usage as one line (``dse cost: error: ...``), exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise DseError(f"{self.prog}: {message} (see '{self.prog} --help')")


def whole(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number in [low, high]."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected a whole number in [{low}, {high}], "
                                             f"got {value}")
        return value
    return parse


def positive(high: float) -> Callable[[str], float]:
    """An argparse type: a finite number in (0, high]."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not (value > 0 and math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
        if value > high:
            raise argparse.ArgumentTypeError(f"expected a number of at most {high:g}, got {text}")
        return value
    return parse


def typed(setting: Setting) -> Callable[[str], object]:
    """The argparse type of a setting: the bounds :class:`~dse.config.SearchConfig` checks."""
    if setting.kind == "whole":
        return whole(setting.low, int(setting.high))
    if setting.kind == "positive":
        return positive(setting.high)
    return str


positive_int = whole(1, 1_000_000)  # shapes and row numbers, which are not search settings
seed = typed(SETTINGS["seed"])
workers = typed(WORKERS)


def add_budget_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-latency-ms", type=typed(SETTINGS["max_latency_ms"]),
                        help="latency budget (default: the profile's [budgets], if any)")
    parser.add_argument("--max-energy-uj", type=typed(SETTINGS["max_energy_uj"]),
                        help="energy budget per inference")
    parser.add_argument("--max-flash-kb", type=typed(SETTINGS["max_flash_kb"]),
                        help="the network's share of flash in KiB (model + runtime)")
    parser.add_argument("--max-ram-kb", type=typed(SETTINGS["max_ram_kb"]),
                        help="the network's share of RAM in KiB (model + runtime)")


def budgets(args: argparse.Namespace) -> Budgets:
    return Budgets(**{name: getattr(args, name) for name in BUDGETS})


def load_data(args: argparse.Namespace) -> Dataset:
    """The built-in task (``--task``) or the data file (``--data``): exactly one."""
    from dse import tasks, userdata

    if (args.task is None) == (args.data is None):
        raise DseError("Give either a built-in task (--task NAME) or a data file (--data FILE.npz).")
    if args.data is not None:
        return userdata.load_npz(args.data, seed=args.seed)
    return tasks.load_task(args.task, seed=args.seed)


def print_json(data: object) -> None:
    """Strict JSON: a value that is not a finite number (not measured) is null."""
    print(json.dumps(_finite(data), indent=2, sort_keys=True, allow_nan=False))


def _finite(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        value = value.item()  # type: ignore[union-attr]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
