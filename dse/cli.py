"""The ``dse`` command line: argument parsing and printing only; the modules do the work.

Exit status: 0 success, 2 bad input (one line on stderr), 1 internal error,
130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from dse.architecture import DTYPES, parse_arch
from dse.cost import CONVENTIONS, RAM_MODES, CostReport, estimate
from dse.errors import DseError
from dse.hardware import HardwareProfile, available_profiles, load_profile
from dse.report import kib, table


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad usage as one line (``dse cost: error: ...``), exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise DseError(f"{self.prog}: {message} (see '{self.prog} --help')")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def _print_json(data: object) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, default=_json_default))


def _json_default(value: object) -> object:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


# --- dse profiles ---------------------------------------------------------------------


def _cmd_profiles(args: argparse.Namespace) -> None:
    if args.action == "show":
        if not args.name:
            raise DseError("dse profiles show: name a profile, e.g. 'dse profiles show stm32l4'.")
        _show_profile(load_profile(args.name), as_json=args.json)
        return
    profiles = [load_profile(name) for name in available_profiles()]
    if args.json:
        _print_json([_profile_summary(p) for p in profiles])
        return
    rows = [
        [p.name, p.part, p.core, p.clock_hz // 1_000_000, kib(p.flash_bytes), kib(p.ram_bytes),
         p.macs_per_cycle["int8"], p.active_power_mw, p.runtime]
        for p in profiles
    ]
    print(table(["profile", "part", "core", "MHz", "flash", "RAM", "int8 MAC/cyc", "mW",
                 "runtime"], rows))


def _profile_summary(profile: HardwareProfile) -> dict:
    summary = {k: v for k, v in vars(profile).items() if k != "sources"}
    summary["usable_flash_bytes"] = profile.usable_flash_bytes
    summary["usable_ram_bytes"] = profile.usable_ram_bytes
    return summary


def _show_profile(profile: HardwareProfile, *, as_json: bool) -> None:
    summary = _profile_summary(profile)
    if as_json:
        _print_json(dict(summary, sources=profile.sources))
        return
    rows = []
    for key, value in summary.items():
        if isinstance(value, dict):
            rows += [[f"{key}.{d}", v, profile.source_of(f"{key}.{d}")] for d, v in value.items()]
        else:
            rows.append([key, "-" if value is None else value, profile.source_of(key)])
    print(table(["field", "value", "source"], rows))


# --- dse cost -------------------------------------------------------------------------


def _add_shape_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument("--features", "-F", type=_positive_int, required=required,
                        help="input features per timestep (F)")
    parser.add_argument("--timesteps", "-T", type=_positive_int, required=required,
                        help="timesteps per inference window (T)")
    parser.add_argument("--classes", "-K", type=_positive_int, required=required,
                        help="output classes of the dense head (K)")


def _cmd_cost(args: argparse.Namespace) -> None:
    profile = load_profile(args.profile)
    arch = parse_arch(args.arch, dtype=args.dtype, features=args.features,
                      timesteps=args.timesteps, classes=args.classes)
    report = estimate(arch, profile, convention=args.convention, ram_mode=args.ram_mode,
                      max_latency_ms=args.max_latency_ms)
    if args.json:
        _print_json(report.to_dict())
    else:
        print(format_cost(report, profile, arch.features, arch.timesteps, arch.classes))


def format_cost(report: CostReport, profile: HardwareProfile, F: int, T: int, K: int) -> str:
    """The ``dse cost`` text: per-layer table, totals against the budgets, verdict."""
    head = (f"{report.arch} ({report.dtype}) on {profile.name} ({profile.part}, {profile.core} "
            f"@ {profile.clock_hz / 1e6:g} MHz)   F={F} T={T} K={K}   "
            f"{report.convention} params, {report.ram_mode} RAM")
    rows = [
        [layer.name, layer.inputs, layer.cells, layer.params, layer.macc, layer.flash_bytes,
         layer.output_bytes, layer.latency_ms, f"{100 * layer.latency_ms / report.latency_ms:.1f}%"]
        for layer in report.layers
    ]
    rows.append(["total", "", "", report.params, report.macc, report.model_flash_bytes, "",
                 report.latency_ms, "100.0%"])
    layers = table(["layer", "in", "out", "params", "MACC", "flash B", "map B", "latency ms",
                    "share"], rows)
    lines = [
        head, "", layers, "",
        f"flash    {report.flash_bytes:>10,} B = model {report.model_flash_bytes:,} + runtime "
        f"reserve {profile.reserve_flash_bytes:,}   of {profile.flash_bytes:,} B "
        f"({100 * report.flash_bytes / profile.flash_bytes:.1f}%)",
        f"RAM      {report.ram_bytes:>10,} B = peak {report.ram_bytes - profile.reserve_ram_bytes:,}"
        f" + runtime reserve {profile.reserve_ram_bytes:,}   of {profile.ram_bytes:,} B "
        f"({100 * report.ram_bytes / profile.ram_bytes:.1f}%)",
        f"latency  {report.latency_ms:>10,.3f} ms ({report.latency_cycles:,.0f} cycles at "
        f"{profile.clock_hz / 1e6:g} MHz)",
        f"energy   {report.energy_uj:>10,.1f} uJ per inference at {profile.active_power_mw:g} mW",
        "",
    ]
    if report.fits:
        lines.append(f"FITS {profile.name}")
    else:
        over = "; ".join(_describe_violation(name, amount) for name, amount in
                         report.violations.items())
        lines.append(f"DOES NOT FIT {profile.name}: {over}")
    return "\n".join(lines)


def _describe_violation(name: str, amount: float) -> str:
    unit = {"flash_bytes": "B", "ram_bytes": "B", "latency_ms": "ms", "energy_uj": "uJ"}[name]
    label = name.rsplit("_", 1)[0]
    return f"{label} over budget by {amount:,.{0 if unit == 'B' else 2}f} {unit}"


# --- entry point ----------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dse", description="Find the LSTM/GRU networks that fit a microcontroller.")
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser)

    profiles = verbs.add_parser("profiles", help="list hardware profiles, or show one with sources")
    profiles.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    profiles.add_argument("name", nargs="?", help="profile name or path to a .toml file")
    profiles.add_argument("--json", action="store_true", help="print JSON")
    profiles.set_defaults(func=_cmd_profiles)

    cost = verbs.add_parser("cost", help="cost of one architecture on a profile")
    cost.add_argument("--profile", "-p", required=True, help="profile name or .toml path")
    cost.add_argument("--arch", "-a", required=True, help="architecture, e.g. lstm:64,32")
    _add_shape_options(cost, required=True)
    cost.add_argument("--dtype", choices=DTYPES, default="int8", help="deployment dtype")
    cost.add_argument("--convention", choices=CONVENTIONS, default="keras",
                      help="parameter counting convention (default: keras)")
    cost.add_argument("--ram-mode", choices=RAM_MODES, default="window",
                      help="window: buffer the whole input; streaming: one step at a time")
    cost.add_argument("--max-latency-ms", type=_positive_float,
                      help="latency budget (default: the profile's, if any)")
    cost.add_argument("--json", action="store_true", help="print one JSON object")
    cost.set_defaults(func=_cmd_cost)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status."""
    try:
        args = build_parser().parse_args(argv)
        func: Callable[[argparse.Namespace], None] = args.func
        func(args)
    except DseError as exc:
        print(f"dse: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dse: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
