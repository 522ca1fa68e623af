"""Hardware profiles: a microcontroller's budgets and speeds, loaded from TOML and validated.

A profile is a built-in name (``stm32l4``, the files in ``hardware_profiles/``) or a path
to the user's own TOML file of the same shape (docs/profiles.md). It describes the chip
(clock, flash, RAM, power), optional ``[budgets]``, and one or more ``[runtimes.NAME]``:
the software that runs the network (TFLite Micro with CMSIS-NN, or dse's own exported C),
each with its own throughputs; ``runtime`` names the default one. Every number in a shipped
profile carries its source in a trailing ``# comment``; :func:`load_profile` keeps those
comments as ``HardwareProfile.sources`` so ``dse profiles show`` can print them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dse import checks
from dse.architecture import DTYPES
from dse.errors import DseError
from dse.resources import available, find_toml, read_toml

MAX_BYTES = 1 << 40
# Field -> (kind, low, high): "text", "whole" (bytes, hertz, counts: never truncated), or
# "number". The bounds keep every cost finite: a throughput of 1e-320 MACs per cycle is a typo.
_CHIP = {
    "name": ("text",), "part": ("text",), "core": ("text",), "runtime": ("text",),
    "clock_hz": ("whole", 1_000, 10_000_000_000),
    "flash_bytes": ("whole", 1, MAX_BYTES),
    "ram_bytes": ("whole", 1, MAX_BYTES),
    "active_power_mw": ("positive", 1e6),
}
_RUNTIME = {
    "description": ("text",),
    "reserve_flash_bytes": ("whole", 0, MAX_BYTES),
    "reserve_ram_bytes": ("whole", 0, MAX_BYTES),
    "gru_ops_per_step": ("whole", 1, 1000),
    "layout": ("text",),
    "provenance": ("text",),
}
_RUNTIME_OPTIONAL = ("description", "gru_ops_per_step", "layout", "provenance")
# Overheads: one number for every dtype, or a table of them (a fitted runtime's are per dtype).
_OVERHEADS = {"per_step_overhead_cycles": (0, 1e9), "per_op_overhead_cycles": (0, 1e9),
              "cycles_per_input": (0, 1e7)}
# The exported C's code and stack, by cell type and dtype ("lstm_int8"): fitted, dse-c only.
_NETWORK_TABLES = ("code_flash_bytes", "layer_code_flash_bytes", "block_code_bytes",
                   "stack_bytes", "stacked_stack_bytes")
CODE_KEYS = tuple(f"{cell}_{dtype}" for cell in ("lstm", "gru") for dtype in DTYPES)
LAYOUTS = ("tflm", "dse-c")
FITTED = "fitted to emulation"  # how dse calibrate's provenance begins
_PER_DTYPE = {  # table -> (low, high) of each dtype's value
    "macs_per_cycle": (1e-4, 1e3),
    "cycles_per_activation": (1e-3, 1e7),
    "cycles_per_elementwise": (1e-3, 1e7),
}
_BUDGETS = {"max_latency_ms": ("positive", 1e9), "max_energy_uj": ("positive", 1e12),
            "max_flash_kb": ("positive", 1e9), "max_ram_kb": ("positive", 1e9)}


@dataclass(frozen=True)
class Budgets:
    """Limits a network must meet besides fitting the chip; None means no limit.

    ``max_flash_kb`` and ``max_ram_kb`` are the application's share for the network, in KiB
    (1024 bytes): the model and its runtime together, as ``flash_bytes`` and ``ram_bytes``
    count them.
    """

    max_latency_ms: float | None = None
    max_energy_uj: float | None = None
    max_flash_kb: float | None = None
    max_ram_kb: float | None = None

    def over(self, defaults: Budgets) -> Budgets:
        """These budgets, with ``defaults`` where these set none."""
        return Budgets(*(mine if mine is not None else theirs for mine, theirs in
                         zip(vars(self).values(), vars(defaults).values())))

    def limits(self, profile: HardwareProfile) -> dict[str, float | None]:
        """The limit of each cost: flash and RAM held to the chip or to these budgets,
        whichever is smaller; latency and energy where a budget is set (None: no limit)."""
        def smaller(chip_bytes: int, kib: float | None) -> float:
            return float(chip_bytes) if kib is None else min(float(chip_bytes), kib * 1024)

        return {"flash_bytes": smaller(profile.flash_bytes, self.max_flash_kb),
                "ram_bytes": smaller(profile.ram_bytes, self.max_ram_kb),
                "latency_ms": self.max_latency_ms, "energy_uj": self.max_energy_uj}


@dataclass(frozen=True)
class Runtime:
    """The software that runs the network on the chip, and its speeds. Units in the names.

    ``macs_per_cycle``, ``cycles_per_activation`` (one sigmoid or tanh) and
    ``cycles_per_elementwise`` (one point-wise multiply or add) map each dtype to a
    throughput; so do the overheads (one number in a file stands for every dtype).
    ``per_step_overhead_cycles`` is paid per timestep per layer by a fused
    recurrent kernel. ``gru_ops_per_step`` is set where the runtime has no fused GRU kernel
    (TFLite Micro): a GRU step then runs as that many separate ops (FULLY_CONNECTED,
    LOGISTIC, TANH, MUL, ADD, ...), each paying ``per_op_overhead_cycles``, which is also
    paid once per inference for the dense head. ``cycles_per_input`` is the cost of
    standardizing and quantizing one input value. ``layout`` names how the runtime lays the
    network out in flash and RAM: ``tflm`` (an interpreter's tensors, arena and scratch) or
    ``dse-c`` (the exported C: const arrays and the caller's state struct), whose code size
    is ``code_flash_bytes`` (one layer) plus ``layer_code_flash_bytes`` per further layer (each
    layer is compiled with its own constants) plus, on DSP cores, ``block_code_bytes`` per
    block of gate-sum assembly each layer instantiates, and whose stack is ``stack_bytes``
    (one layer) or that plus ``stacked_stack_bytes`` (two or more), each keyed by cell type
    and dtype (``lstm_int8``; docs/cost-model.md). ``provenance`` says where the constants
    come from; a runtime fitted to emulated runs of its code (``dse calibrate``) says so,
    every other is an estimate.
    """

    # the tables in the order a profile file has them ('dse calibrate' writes them so)
    name: str
    reserve_flash_bytes: int
    reserve_ram_bytes: int
    macs_per_cycle: dict[str, float]
    cycles_per_activation: dict[str, float]
    cycles_per_elementwise: dict[str, float]
    per_step_overhead_cycles: dict[str, float]
    per_op_overhead_cycles: dict[str, float]
    gru_ops_per_step: int | None = None
    cycles_per_input: dict[str, float] = field(default_factory=lambda: dict.fromkeys(DTYPES, 0.0))
    code_flash_bytes: dict[str, int] | None = None
    layer_code_flash_bytes: dict[str, int] | None = None
    block_code_bytes: dict[str, int] | None = None
    stack_bytes: dict[str, int] | None = None
    stacked_stack_bytes: dict[str, int] | None = None
    layout: str = "tflm"
    description: str = ""
    provenance: str = ""

    @property
    def fitted(self) -> bool:
        """Whether its constants were fitted to emulated runs of the code it prices."""
        return self.provenance.startswith(FITTED)

    @property
    def basis(self) -> str:
        """How its figures were obtained, as every output labels them."""
        return "fitted to emulation" if self.fitted else "estimate"


@dataclass(frozen=True)
class HardwareProfile:
    """One microcontroller, its default budgets and the runtimes that can run a network."""

    name: str
    part: str
    core: str
    clock_hz: int
    flash_bytes: int
    ram_bytes: int
    active_power_mw: float
    runtime: str  # the default runtime's name
    runtimes: dict[str, Runtime]
    budgets: Budgets = Budgets()
    path: str = ""
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    def runtime_named(self, name: str | None = None) -> Runtime:
        """The runtime ``name`` (the profile's default when None), or a DseError listing them."""
        name = name or self.runtime
        if name not in self.runtimes:
            raise DseError(f"Profile '{self.name}' has no runtime {name!r}. Available: "
                           f"{', '.join(self.runtimes)}.")
        return self.runtimes[name]

    def source_of(self, key: str) -> str:
        """The source comment of a TOML key: ``clock_hz``, ``budgets.max_latency_ms``,
        ``runtimes.tflm-cmsis-nn.macs_per_cycle.int8`` (a per-dtype value written as one
        number has that number's source)."""
        while key:
            if key in self.sources:
                return self.sources[key]
            key = key.rpartition(".")[0] if "." in key else ""
        return ""


def available_profiles() -> list[str]:
    """Names of the built-in profiles, sorted."""
    return available("hardware_profiles")


def load_profile(name_or_path: str | Path) -> HardwareProfile:
    """Load a built-in profile by name, or the user's own TOML file by path."""
    path = find_toml(str(name_or_path), "hardware_profiles", "profile")
    data, text = read_toml(path, "profile file")
    return _build(data, path=path, sources=_trailing_comments(text))


def _build(data: dict[str, Any], *, path: Path, sources: dict[str, str]) -> HardwareProfile:
    where = f"profile {path}"
    if "runtimes" not in data and "macs_per_cycle" in data:
        raise DseError(f"The {where} has the old layout ([runtime] and [macs_per_cycle] at the "
                       f"top): move them under [runtimes.NAME] and set runtime = \"NAME\" "
                       f"(see docs/profiles.md or any shipped profile).")
    _reject_unknown(data, set(_CHIP) | {"budgets", "runtimes"}, where)
    chip = _fields({k: v for k, v in data.items() if k in _CHIP}, _CHIP, where)
    runtimes_table = _table(data, "runtimes", where)
    if not runtimes_table:
        raise DseError(f"The {where} needs at least one [runtimes.NAME] table.")
    runtimes = {name: _runtime(name, _table(runtimes_table, name, f"{where} [runtimes]"),
                               f"{where} [runtimes.{name}]", chip)
                for name in runtimes_table}
    budgets = _fields(_table(data, "budgets", where, optional=True), _BUDGETS,
                      f"{where} [budgets]", optional=tuple(_BUDGETS))
    profile = HardwareProfile(**chip, runtimes=runtimes, budgets=Budgets(**budgets),
                              path=str(path), sources=sources)
    profile.runtime_named()  # the default runtime exists
    return profile


def _runtime(name: str, table: dict[str, Any], where: str, chip: dict[str, Any]) -> Runtime:
    _reject_unknown(table, set(_RUNTIME) | set(_PER_DTYPE) | set(_OVERHEADS)
                    | set(_NETWORK_TABLES), where)
    values = _fields({k: v for k, v in table.items() if k in _RUNTIME}, _RUNTIME, where,
                     optional=_RUNTIME_OPTIONAL)
    for key, bounds in _OVERHEADS.items():
        if key not in table and key == "cycles_per_input":
            continue
        if key not in table:
            raise DseError(f"The {where} is missing the field {key!r}.")
        value = table[key]
        values[key] = (dict.fromkeys(DTYPES, checks.number(key, value, *bounds, where))
                       if not isinstance(value, dict) else
                       _fields(value, {d: ("number", *bounds) for d in DTYPES},
                               f"{where.removesuffix(']')}.{key}]"))
    for key in _NETWORK_TABLES:
        if key in table:
            values[key] = _fields(_table(table, key, where),
                                  {k: ("whole", 0, MAX_BYTES) for k in CODE_KEYS},
                                  f"{where.removesuffix(']')}.{key}]")
    if values.get("layout") == "dse-c" and "code_flash_bytes" not in values:
        raise DseError(f"The {where} has layout dse-c but no [code_flash_bytes] table "
                       f"(run 'dse calibrate' to fit it).")
    checks.choice("layout", values.get("layout", "tflm"), LAYOUTS, where)
    for kind in ("flash", "ram"):
        if values[f"reserve_{kind}_bytes"] >= chip[f"{kind}_bytes"]:
            raise DseError(f"In {where}: reserve_{kind}_bytes ({values[f'reserve_{kind}_bytes']})"
                           f" must be smaller than {kind}_bytes ({chip[f'{kind}_bytes']}).")
    per_dtype: dict[str, Any] = {
        key: _fields(_table(table, key, where), {d: ("number", *bounds) for d in DTYPES},
                     f"{where.removesuffix(']')}.{key}]")
        for key, bounds in _PER_DTYPE.items()
    }
    return Runtime(name=name, **values, **per_dtype)


def _reject_unknown(data: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise DseError(
            f"Unknown field {unknown[0]!r} in {where}. Known fields: {', '.join(sorted(known))}."
        )


def _table(data: dict[str, Any], name: str, where: str, optional: bool = False) -> dict:
    table = data.get(name, {} if optional else None)
    if not isinstance(table, dict):
        raise DseError(f"The {where} needs a [{name}] table (see docs/profiles.md).")
    return table


def _fields(table: dict[str, Any], spec: dict[str, tuple], where: str,
            optional: tuple[str, ...] = ()) -> dict[str, Any]:
    _reject_unknown(table, set(spec), where)
    values: dict[str, Any] = {}
    for key, (kind, *bounds) in spec.items():
        if key not in table:
            if key not in optional:
                raise DseError(f"The {where} is missing the field {key!r}.")
            continue
        value = table[key]
        if kind == "text":
            values[key] = checks.text(key, value, where)
        elif kind == "whole":
            values[key] = checks.whole(key, value, bounds[0], bounds[1], where)
        elif kind == "positive":
            values[key] = checks.positive(key, value, where, *bounds)
        else:
            values[key] = checks.number(key, value, bounds[0], bounds[1], where)
    return values


_SECTION = re.compile(r"^\s*\[([A-Za-z0-9_.-]+)\]")
_COMMENTED_VALUE = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=\s*[^#\"']*(?:\"[^\"]*\"\s*)?#\s*(.+?)\s*$")


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
