"""``dse cost`` (one architecture on a profile), ``dse tasks`` (the built-in tasks) and
``dse evaluate`` (one architecture trained with the proxy)."""

from __future__ import annotations

import argparse

from dse.architecture import DTYPES, parse_arch
from dse.cli.common import (
    Verbs,
    add_budget_options,
    budgets,
    load_data,
    positive_int,
    print_json,
    seed,
    typed,
)
from dse.config import SETTINGS
from dse.cost import CONVENTIONS, RAM_MODES, CostReport, estimate
from dse.hardware import HardwareProfile, load_profile
from dse.report import basis_note, priced_by, table


def add_parsers(verbs: Verbs) -> None:
    cost = verbs.add_parser("cost", help="cost of one architecture on a profile")
    cost.add_argument("--profile", "-p", required=True, help="profile name or .toml path")
    cost.add_argument("--arch", "-a", required=True, help="architecture, e.g. lstm:64,32")
    _add_shape_options(cost, required=True)
    cost.add_argument("--dtype", choices=DTYPES, default="int8", help="deployment dtype")
    cost.add_argument("--runtime", help="one of the profile's runtimes (default: its own)")
    cost.add_argument("--convention", choices=CONVENTIONS, default="keras",
                      help="parameter counting convention (default: keras)")
    cost.add_argument("--ram-mode", choices=RAM_MODES, default="window",
                      help="window: buffer the whole input; streaming: one step at a time")
    add_budget_options(cost)
    cost.add_argument("--json", action="store_true", help="print one JSON object")
    cost.set_defaults(func=_cmd_cost)

    tasks = verbs.add_parser("tasks", help="list the built-in proxy tasks")
    tasks.add_argument("--json", action="store_true", help="print JSON")
    tasks.set_defaults(func=_cmd_tasks)

    evaluate = verbs.add_parser("evaluate", help="train one architecture with the numpy proxy")
    evaluate.add_argument("--arch", "-a", required=True, help="architecture, e.g. lstm:64,32")
    evaluate.add_argument("--task", help="built-in task (see 'dse tasks')")
    evaluate.add_argument("--data", help=".npz with X_train [N,T,F], y_train [N] (+ X_test, y_test)")
    evaluate.add_argument("--dtype", choices=DTYPES, default="int8", help="deployment dtype")
    evaluate.add_argument("--epochs", type=typed(SETTINGS["epochs"]), help="training epochs")
    evaluate.add_argument("--batch-size", type=typed(SETTINGS["batch_size"]), help="batch size")
    evaluate.add_argument("--seed", type=seed, default=SETTINGS["seed"].default,
                          help="seed of data split and weights")
    evaluate.add_argument("--profile", "-p", help="also print the cost on this profile")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(func=_cmd_evaluate)


def _add_shape_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument("--features", "-F", type=positive_int, required=required,
                        help="input features per timestep (F)")
    parser.add_argument("--timesteps", "-T", type=positive_int, required=required,
                        help="timesteps per inference window (T)")
    parser.add_argument("--classes", "-K", type=positive_int, required=required,
                        help="output classes of the dense head (K)")


def _cmd_cost(args: argparse.Namespace) -> None:
    profile = load_profile(args.profile)
    arch = parse_arch(args.arch, dtype=args.dtype, features=args.features,
                      timesteps=args.timesteps, classes=args.classes)
    report = estimate(arch, profile, runtime=args.runtime, convention=args.convention,
                      ram_mode=args.ram_mode, budgets=budgets(args))
    if args.json:
        print_json(report.to_dict())
    else:
        print(format_cost(report, profile, arch.features, arch.timesteps, arch.classes))


def format_cost(report: CostReport, profile: HardwareProfile, F: int, T: int, K: int) -> str:
    """The ``dse cost`` text: per-layer table, totals against the budgets, verdict."""
    runtime = profile.runtime_named(report.runtime)
    head = (f"{report.arch} ({report.dtype}) on {profile.name} ({profile.part}, {profile.core} "
            f"@ {profile.clock_hz / 1e6:g} MHz) with {priced_by(runtime.name, report.basis)}   "
            f"F={F} T={T} K={K}   {report.convention} params, {report.ram_mode} RAM")
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
        f"reserve {runtime.reserve_flash_bytes:,}   of {profile.flash_bytes:,} B "
        f"({100 * report.flash_bytes / profile.flash_bytes:.1f}%)",
        f"RAM      {report.ram_bytes:>10,} B = "
        + ("the state struct and the stack   " if runtime.layout == "dse-c" else
           f"peak {report.ram_bytes - runtime.reserve_ram_bytes:,} + runtime reserve "
           f"{runtime.reserve_ram_bytes:,}   ")
        + f"of {profile.ram_bytes:,} B ({100 * report.ram_bytes / profile.ram_bytes:.1f}%)",
        f"latency  {report.latency_ms:>10,.3f} ms ({report.latency_cycles:,.0f} cycles at "
        f"{profile.clock_hz / 1e6:g} MHz)",
        f"energy   {report.energy_uj:>10,.1f} uJ per inference at {profile.active_power_mw:g} mW",
        "",
        f"({basis_note(runtime.name, report.basis)})",
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


def _cmd_tasks(args: argparse.Namespace) -> None:
    from dse import tasks

    infos = [tasks.task_info(name) for name in tasks.available_tasks()]
    if args.json:
        print_json(infos)
        return
    rows = [[i["name"], i["timesteps"], i["features"], i["classes"], i["train"], i["test"],
             i["description"]] for i in infos]
    print(table(["task", "T", "F", "K", "train", "test", "description"], rows))


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from dse import proxy

    profile = load_profile(args.profile) if args.profile else None  # refused before training
    data = load_data(args)
    arch = parse_arch(args.arch, dtype=args.dtype, features=data.features,
                      timesteps=data.timesteps, classes=data.classes)
    overrides = {k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size))
                 if v is not None}
    budget = replace(proxy.default_budget(data), **overrides)
    result = proxy.evaluate(arch, data, budget=budget, seed=args.seed)
    output = {
        "arch": arch.text, "dtype": arch.dtype, "data": data.name, "seed": args.seed,
        "accuracy": result.accuracy, "accuracy_quantized": result.accuracy_quantized,
        "train_seconds": result.train_seconds, "epochs_run": result.epochs_run,
        "epochs_asked": budget.epochs, "diverged": result.diverged,
    }
    report = estimate(arch, profile) if profile else None
    if args.json:
        if report:
            output["cost"] = report.to_dict()
        print_json(output)
        return
    stopped = (" (diverged)" if result.diverged else
               " (early stopping)" if result.epochs_run < budget.epochs else "")
    print(f"{arch} on {data.name} (T={data.timesteps}, F={data.features}, K={data.classes}), "
          f"seed {args.seed}, {result.epochs_run} of {budget.epochs} epochs{stopped}")
    print(f"accuracy            {result.accuracy:.4f}")
    print(f"accuracy_quantized  {result.accuracy_quantized:.4f}  ({arch.dtype})")
    print(f"train_seconds       {result.train_seconds:.2f}")
    if result.diverged:
        print(f"diverged: {result.diverged}")
    if report and profile:
        print()
        print(format_cost(report, profile, data.features, data.timesteps, data.classes))
