"""Value checks shared by every input path (CLI options, profile, space and experiment files):
one rule per kind of value, one message shape, so a file cannot accept what the CLI refuses.

Messages follow scikit-learn's: "The 'epochs' value of the search config must be a whole
number in the range [1, 10000]. Got 0 instead."
"""

from __future__ import annotations

import math

from dse.errors import DseError


def _fail(name: str, where: str, kind: str, value: object) -> DseError:
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:60] + "..."
    return DseError(f"The '{name}' value of {where} must be {kind}. Got {shown} instead.")


def whole(name: str, value: object, low: int, high: int, where: str) -> int:
    """An int (not a bool, not a float) in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(name, where, f"a whole number in the range [{low:,}, {high:,}]", value)
    return value


def number(name: str, value: object, low: float, high: float, where: str, *,
           low_open: bool = False) -> float:
    """A finite int or float in [low, high] (or (low, high] with ``low_open``)."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and value <= high  # type: ignore[operator]
    if not ok:
        bracket = "(" if low_open else "["
        raise _fail(name, where, f"a number in the range {bracket}{low:g}, {high:g}]", value)
    return float(value)  # type: ignore[arg-type]


def positive(name: str, value: object, where: str, high: float = 1e12) -> float:
    """A finite number > 0 (budgets, durations)."""
    return number(name, value, 0.0, high, where, low_open=True)


def text(name: str, value: object, where: str, *, max_length: int = 4096) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise _fail(name, where, f"a non-empty string of at most {max_length} characters", value)
    return value


def flag(name: str, value: object, where: str) -> bool:
    """A real boolean: ``true``/``false`` in TOML, never the string "no"."""
    if not isinstance(value, bool):
        raise _fail(name, where, "true or false", value)
    return value


def strings(name: str, value: object, where: str) -> tuple[str, ...]:
    """A non-empty list of strings."""
    if not isinstance(value, list | tuple) or not value or \
            not all(isinstance(v, str) and v for v in value):
        raise _fail(name, where, "a non-empty list of strings", value)
    return tuple(value)


def choice(name: str, value: object, choices: tuple[str, ...], where: str) -> str:
    """One of ``choices``, listing them."""
    if value not in choices:
        raise DseError(f"The '{name}' value of {where} must be one of: {', '.join(choices)}. "
                       f"Got {value!r} instead.")
    return str(value)
