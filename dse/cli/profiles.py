"""``dse profiles [show NAME]``: the hardware profiles, or one with every field's source."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from dse.cli.common import Verbs, print_json
from dse.errors import DseError
from dse.hardware import HardwareProfile, available_profiles, load_profile
from dse.report import kib, table


def add_parsers(verbs: Verbs) -> None:
    profiles = verbs.add_parser("profiles", help="list hardware profiles, or show one with sources")
    profiles.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    profiles.add_argument("name", nargs="?", help="profile name or path to a .toml file")
    profiles.add_argument("--json", action="store_true", help="print JSON")
    profiles.set_defaults(func=_cmd_profiles)


def _cmd_profiles(args: argparse.Namespace) -> None:
    if args.action == "show":
        if not args.name:
            raise DseError("dse profiles show: name a profile, e.g. 'dse profiles show stm32l4'.")
        _show_profile(load_profile(args.name), as_json=args.json)
        return
    profiles = [load_profile(name) for name in available_profiles()]
    if args.json:
        print_json([_profile_summary(p) for p in profiles])
        return
    rows = [
        [p.name, p.part, p.core, p.clock_hz // 1_000_000, kib(p.flash_bytes), kib(p.ram_bytes),
         p.runtime_named().macs_per_cycle["int8"], p.active_power_mw,
         ", ".join([p.runtime, *(name for name in p.runtimes if name != p.runtime)])]
        for p in profiles
    ]
    print(table(["profile", "part", "core", "MHz", "flash", "RAM", "int8 MAC/cyc", "mW",
                 "runtimes (default first)"], rows,
                formats=["", "", "", "", "", "", ".3g", ".3g", ""]))


def _profile_summary(profile: HardwareProfile) -> dict:
    """The profile as JSON data: the chip, the default runtime's fields at the top (as
    before runtimes were named), every runtime under ``runtimes``, the budgets."""
    default = profile.runtime_named()
    summary = {k: v for k, v in asdict(profile).items() if k not in ("sources", "runtimes")}
    summary.update({k: v for k, v in asdict(default).items() if k != "name"})
    summary.update(asdict(profile.budgets))
    summary["runtimes"] = {name: asdict(rt) for name, rt in profile.runtimes.items()}
    summary["usable_flash_bytes"] = profile.flash_bytes - default.reserve_flash_bytes
    summary["usable_ram_bytes"] = profile.ram_bytes - default.reserve_ram_bytes
    return summary


def _show_profile(profile: HardwareProfile, *, as_json: bool) -> None:
    if as_json:
        print_json(dict(_profile_summary(profile), sources=profile.sources))
        return
    chip = {k: v for k, v in asdict(profile).items() if k not in ("sources", "runtimes", "path")}
    rows = [[f"budgets.{key}", value, profile.source_of(f"budgets.{key}")]
            for key, value in chip.pop("budgets").items() if value is not None]
    rows = [[key, value, profile.source_of(key)] for key, value in chip.items()] + rows
    for runtime in profile.runtimes.values():
        prefix = f"runtimes.{runtime.name}"
        for key, value in asdict(runtime).items():
            if key == "name" or value in (None, ""):
                continue
            items = value.items() if isinstance(value, dict) else [(None, value)]
            for dtype, number in items:
                path = f"{prefix}.{key}" + (f".{dtype}" if dtype else "")
                rows.append([path, number, profile.source_of(path)])
    rows.append(["path", profile.path, ""])
    print(table(["field", "value", "source"], rows))
