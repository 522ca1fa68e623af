"""Hardware profiles: a microcontroller's budgets and speeds, loaded from TOML and validated.

A profile is a built-in name (``stm32l4``, the files in ``hardware_profiles/``) or a path
to the user's own TOML file of the same shape. Every number in a shipped profile carries
its source in a trailing ``# comment``; :func:`load_profile` keeps those comments as
``HardwareProfile.sources`` so ``dse profiles show`` can print them.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dse.architecture import DTYPES
from dse.errors import DseError
from dse.resources import available, find_toml

_TOP_KEYS = {
    "name": str,
    "part": str,
    "core": str,
    "clock_hz": "positive whole",
    "flash_bytes": "positive whole",
    "ram_bytes": "positive whole",
    "active_power_mw": "positive",
}
_RUNTIME_KEYS = {
    "name": str,
    "reserve_flash_bytes": "non-negative whole",
    "reserve_ram_bytes": "non-negative whole",
    "per_step_overhead_cycles": "non-negative",
    "per_op_overhead_cycles": "non-negative",
    "gru_ops_per_step": "positive whole",
}
_PER_DTYPE_TABLES = ("macs_per_cycle", "cycles_per_activation", "cycles_per_elementwise")
_BUDGET_KEYS = {"max_latency_ms": "positive", "max_energy_uj": "positive"}
_TABLES = ("runtime", *_PER_DTYPE_TABLES, "budgets")
# Dataclass field -> its key in the TOML file (where its source comment sits).
_TOML_PATH = {
    "runtime": "runtime.name",
    **{key: f"runtime.{key}" for key in _RUNTIME_KEYS if key != "name"},
    **{key: f"budgets.{key}" for key in _BUDGET_KEYS},
}


@dataclass(frozen=True)
class HardwareProfile:
    """One microcontroller and its deployment runtime. Units are in the field names.

    ``macs_per_cycle``, ``cycles_per_activation`` (one sigmoid or tanh) and
    ``cycles_per_elementwise`` (one point-wise multiply or add) map each dtype to a
    throughput. ``per_step_overhead_cycles`` is paid per timestep per layer by a fused
    recurrent kernel; ``per_op_overhead_cycles`` is paid per operator dispatch where the
    runtime has no fused kernel: a GRU in TFLite Micro runs as a loop of
    ``gru_ops_per_step`` separate ops (FULLY_CONNECTED, LOGISTIC, TANH, MUL, ADD, ...).
    """

    name: str
    part: str
    core: str
    clock_hz: int
    flash_bytes: int
    ram_bytes: int
    active_power_mw: float
    runtime: str
    reserve_flash_bytes: int
    reserve_ram_bytes: int
    per_step_overhead_cycles: float
    per_op_overhead_cycles: float
    gru_ops_per_step: int
    macs_per_cycle: dict[str, float]
    cycles_per_activation: dict[str, float]
    cycles_per_elementwise: dict[str, float]
    max_latency_ms: float | None = None
    max_energy_uj: float | None = None
    path: str = ""
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    def source_of(self, field_name: str) -> str:
        """The source comment of a field; ``macs_per_cycle.int8`` for a per-dtype one."""
        return self.sources.get(_TOML_PATH.get(field_name, field_name), "")

    @property
    def usable_flash_bytes(self) -> int:
        """Flash left for the model after the runtime reserve."""
        return self.flash_bytes - self.reserve_flash_bytes

    @property
    def usable_ram_bytes(self) -> int:
        """RAM left for the model after the runtime reserve."""
        return self.ram_bytes - self.reserve_ram_bytes


def available_profiles() -> list[str]:
    """Names of the built-in profiles, sorted."""
    return available("hardware_profiles")


def load_profile(name_or_path: str | Path) -> HardwareProfile:
    """Load a built-in profile by name, or the user's own TOML file by path."""
    path = find_toml(str(name_or_path), "hardware_profiles", "profile")
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DseError(f"Profile file {path} is not valid TOML: {exc}.") from None
    return _build(data, path=path, sources=_trailing_comments(text))


def _build(data: dict[str, Any], *, path: Path, sources: dict[str, str]) -> HardwareProfile:
    where = f"profile {path}"
    _reject_unknown(data, set(_TOP_KEYS) | set(_TABLES), where)
    top = _fields({k: v for k, v in data.items() if k not in _TABLES}, _TOP_KEYS, where, True)
    runtime = _fields(_table(data, "runtime", where), _RUNTIME_KEYS, f"{where} [runtime]", True)
    per_dtype = {
        table: _fields(
            _table(data, table, where),
            {dtype: "positive" for dtype in DTYPES},
            f"{where} [{table}]",
            required=True,
        )
        for table in _PER_DTYPE_TABLES
    }
    budgets = _fields(
        _table(data, "budgets", where, optional=True), _BUDGET_KEYS, f"{where} [budgets]", False
    )
    profile = HardwareProfile(
        name=top["name"],
        part=top["part"],
        core=top["core"],
        clock_hz=int(top["clock_hz"]),
        flash_bytes=int(top["flash_bytes"]),
        ram_bytes=int(top["ram_bytes"]),
        active_power_mw=float(top["active_power_mw"]),
        runtime=runtime["name"],
        reserve_flash_bytes=int(runtime["reserve_flash_bytes"]),
        reserve_ram_bytes=int(runtime["reserve_ram_bytes"]),
        per_step_overhead_cycles=float(runtime["per_step_overhead_cycles"]),
        per_op_overhead_cycles=float(runtime["per_op_overhead_cycles"]),
        gru_ops_per_step=int(runtime["gru_ops_per_step"]),
        macs_per_cycle=per_dtype["macs_per_cycle"],
        cycles_per_activation=per_dtype["cycles_per_activation"],
        cycles_per_elementwise=per_dtype["cycles_per_elementwise"],
        max_latency_ms=budgets.get("max_latency_ms"),
        max_energy_uj=budgets.get("max_energy_uj"),
        path=str(path),
        sources=sources,
    )
    for kind in ("flash", "ram"):
        if getattr(profile, f"usable_{kind}_bytes") <= 0:
            raise DseError(
                f"In {where}: [runtime] reserve_{kind}_bytes "
                f"({getattr(profile, f'reserve_{kind}_bytes')}) must be smaller than "
                f"{kind}_bytes ({getattr(profile, f'{kind}_bytes')})."
            )
    return profile


def _reject_unknown(data: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise DseError(
            f"Unknown field {unknown[0]!r} in {where}. Known fields: {', '.join(sorted(known))}."
        )


def _table(data: dict[str, Any], name: str, where: str, optional: bool = False) -> dict:
    table = data.get(name, {} if optional else None)
    if not isinstance(table, dict):
        raise DseError(f"The {where} needs a [{name}] table with the fields listed in the docs.")
    return table


def _fields(table: dict[str, Any], spec: dict[str, Any], where: str, required: bool) -> dict:
    _reject_unknown(table, set(spec), where)
    values: dict[str, Any] = {}
    for key, kind in spec.items():
        if key not in table:
            if required:
                raise DseError(f"The {where} is missing the field {key!r}.")
            continue
        value = table[key]
        if kind is str:
            if not isinstance(value, str) or not value:
                raise DseError(f"The {key!r} field of {where} must be a non-empty string.")
        else:
            whole = kind.endswith(" whole")  # bytes, hertz and counts: never truncated
            types = int if whole else int | float
            is_number = isinstance(value, types) and not isinstance(value, bool)
            low_ok = is_number and (value > 0 if kind.startswith("positive") else value >= 0)
            if not (low_ok and math.isfinite(value)):
                raise DseError(
                    f"The {key!r} field of {where} must be a {kind} number. Got {value!r} instead."
                )
        values[key] = value
    return values


_SECTION = re.compile(r"^\s*\[([A-Za-z0-9_]+)\]")
_COMMENTED_VALUE = re.compile(r"^\s*([A-Za-z0-9_]+)\s*=\s*[^#\"']*#\s*(.+?)\s*$")


def _trailing_comments(text: str) -> dict[str, str]:
    """Map ``field`` or ``table.field`` to the comment after its value: the number's source."""
    sources: dict[str, str] = {}
    section = ""
    for line in text.splitlines():
        if match := _SECTION.match(line):
            section = match.group(1) + "."
        elif match := _COMMENTED_VALUE.match(line):
            sources[section + match.group(1)] = match.group(2)
    return sources
