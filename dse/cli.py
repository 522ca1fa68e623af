"""The ``dse`` command line: argument parsing and printing only; the modules do the work.

Exit status: 0 success, 2 bad input (one line on stderr), 1 internal error,
130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict

from dse.architecture import DTYPES, parse_arch
from dse.config import BUDGETS, MAX_SEED, MAX_WORKERS
from dse.cost import CONVENTIONS, RAM_MODES, CostReport, estimate
from dse.errors import DseError, DseWarning
from dse.hardware import Budgets, HardwareProfile, available_profiles, load_profile
from dse.report import kib, table


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad usage as one line (``dse cost: error: ...``), exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise DseError(f"{self.prog}: {message} (see '{self.prog} --help')")


def _whole(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number in [low, high] (the bounds the config checks)."""
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


_positive_int = _whole(1, 1_000_000)
_seed = _whole(0, MAX_SEED)
_workers = _whole(1, MAX_WORKERS)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


def _print_json(data: object) -> None:
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
         p.runtime_named().macs_per_cycle["int8"], p.active_power_mw, ", ".join(p.runtimes)]
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
        _print_json(dict(_profile_summary(profile), sources=profile.sources))
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


# --- dse cost -------------------------------------------------------------------------


def _add_shape_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument("--features", "-F", type=_positive_int, required=required,
                        help="input features per timestep (F)")
    parser.add_argument("--timesteps", "-T", type=_positive_int, required=required,
                        help="timesteps per inference window (T)")
    parser.add_argument("--classes", "-K", type=_positive_int, required=required,
                        help="output classes of the dense head (K)")


def _add_budget_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-latency-ms", type=_positive_float,
                        help="latency budget (default: the profile's [budgets], if any)")
    parser.add_argument("--max-energy-uj", type=_positive_float, help="energy budget per inference")
    parser.add_argument("--max-flash-kb", type=_positive_float,
                        help="the network's share of flash in KiB (model + runtime)")
    parser.add_argument("--max-ram-kb", type=_positive_float,
                        help="the network's share of RAM in KiB (model + runtime)")


def _budgets(args: argparse.Namespace) -> Budgets:
    return Budgets(**{name: getattr(args, name) for name in BUDGETS})


def _cmd_cost(args: argparse.Namespace) -> None:
    profile = load_profile(args.profile)
    arch = parse_arch(args.arch, dtype=args.dtype, features=args.features,
                      timesteps=args.timesteps, classes=args.classes)
    report = estimate(arch, profile, runtime=args.runtime, convention=args.convention,
                      ram_mode=args.ram_mode, budgets=_budgets(args))
    if args.json:
        _print_json(report.to_dict())
    else:
        print(format_cost(report, profile, arch.features, arch.timesteps, arch.classes))


def format_cost(report: CostReport, profile: HardwareProfile, F: int, T: int, K: int) -> str:
    """The ``dse cost`` text: per-layer table, totals against the budgets, verdict."""
    runtime = profile.runtime_named(report.runtime)
    head = (f"{report.arch} ({report.dtype}) on {profile.name} ({profile.part}, {profile.core} "
            f"@ {profile.clock_hz / 1e6:g} MHz) with {runtime.name}   F={F} T={T} K={K}   "
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
        f"reserve {runtime.reserve_flash_bytes:,}   of {profile.flash_bytes:,} B "
        f"({100 * report.flash_bytes / profile.flash_bytes:.1f}%)",
        f"RAM      {report.ram_bytes:>10,} B = peak {report.ram_bytes - runtime.reserve_ram_bytes:,}"
        f" + runtime reserve {runtime.reserve_ram_bytes:,}   of {profile.ram_bytes:,} B "
        f"({100 * report.ram_bytes / profile.ram_bytes:.1f}%)",
        f"latency  {report.latency_ms:>10,.3f} ms ({report.latency_cycles:,.0f} cycles at "
        f"{profile.clock_hz / 1e6:g} MHz)",
        f"energy   {report.energy_uj:>10,.1f} uJ per inference at {profile.active_power_mw:g} mW",
        "",
        "(estimates from the cost model; 'dse measure' runs the exported C in an emulator)",
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


# --- dse tasks, dse evaluate ----------------------------------------------------------


def _cmd_tasks(args: argparse.Namespace) -> None:
    from dse import tasks

    infos = [tasks.task_info(name) for name in tasks.available_tasks()]
    if args.json:
        _print_json(infos)
        return
    rows = [[i["name"], i["timesteps"], i["features"], i["classes"], i["train"], i["test"],
             i["description"]] for i in infos]
    print(table(["task", "T", "F", "K", "train", "test", "description"], rows))


def _load_data(args: argparse.Namespace):
    from dse import tasks, userdata

    if (args.task is None) == (args.data is None):
        raise DseError("Give either a built-in task (--task NAME) or a data file (--data FILE.npz).")
    if args.data is not None:
        return userdata.load_npz(args.data, seed=args.seed)
    return tasks.load_task(args.task, seed=args.seed)


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from dse import proxy

    profile = load_profile(args.profile) if args.profile else None  # refused before training
    data = _load_data(args)
    arch = parse_arch(args.arch, dtype=args.dtype, features=data.features,
                      timesteps=data.timesteps, classes=data.classes)
    overrides = {k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size))
                 if v is not None}
    budget = replace(proxy.DEFAULT_BUDGET, **overrides)
    result = proxy.evaluate(arch, data, budget=budget, seed=args.seed)
    output = {
        "arch": arch.text, "dtype": arch.dtype, "data": data.name, "seed": args.seed,
        "accuracy": result.accuracy, "accuracy_quantized": result.accuracy_quantized,
        "train_seconds": result.train_seconds, "epochs_run": result.epochs_run,
        "diverged": result.diverged,
    }
    report = estimate(arch, profile) if profile else None
    if args.json:
        if report:
            output["cost"] = report.to_dict()
        _print_json(output)
        return
    print(f"{arch} on {data.name} (T={data.timesteps}, F={data.features}, K={data.classes}), "
          f"seed {args.seed}, {result.epochs_run} epochs")
    print(f"accuracy            {result.accuracy:.4f}")
    print(f"accuracy_quantized  {result.accuracy_quantized:.4f}  ({arch.dtype})")
    print(f"train_seconds       {result.train_seconds:.2f}")
    if result.diverged:
        print(f"diverged: {result.diverged}")
    if report and profile:
        print()
        print(format_cost(report, profile, data.features, data.timesteps, data.classes))


# --- dse run, dse worker, dse dashboard ------------------------------------------------


def _add_search_options(parser: argparse.ArgumentParser) -> None:
    from dse.config import OBJECTIVES, SAMPLERS

    parser.add_argument("--space", default="default", help="search space name or .toml path")
    parser.add_argument("--runtime", help="one of the profile's runtimes (default: its own; "
                                          "see dse profiles show P)")
    parser.add_argument("--task", help="built-in task (see 'dse tasks'; default: motion)")
    parser.add_argument("--data", help="your own data: .npz with X_train [N,T,F], y_train [N]")
    parser.add_argument("--sampler", choices=SAMPLERS, default="auto",
                        help="auto (ehvi; tpe for objectives it cannot model), ehvi, tpe, "
                             "nsga2, gp, random, grid (exhaustive)")
    parser.add_argument("--objectives", nargs="+", choices=list(OBJECTIVES),
                        default=["accuracy_quantized", "latency_ms"], metavar="OBJ",
                        help=f"two or more of: {', '.join(OBJECTIVES)}")
    _add_budget_options(parser)
    parser.add_argument("--epochs", type=_positive_int, help="proxy training epochs")
    parser.add_argument("--batch-size", type=_positive_int, help="proxy batch size")
    parser.add_argument("--seed", type=_seed, default=0, help="seed of sampler, data and proxy")


def _add_training_options(parser: argparse.ArgumentParser, *, new_study: bool) -> None:
    from dse.config import DEFAULT_CONFIRM_SEEDS, DEFAULT_TRAININGS

    default = (f"a new study: default {DEFAULT_TRAININGS}; an existing one keeps its target"
               if new_study else "default: the target the study holds")
    parser.add_argument("--trainings", type=_positive_int,
                        help=f"networks to train: each training scores every dtype of its "
                             f"network that fits, one trial each ({default}; rerunning resumes "
                             f"to it)")
    parser.add_argument("--trials", type=_renamed_trials, help=argparse.SUPPRESS)
    parser.add_argument("--confirm-seeds", type=_whole(0, 64), metavar="K",
                        help=f"after the search, train the front's networks and those within "
                             f"the proxy's noise of it with K more seeds and build the front "
                             f"from the means (default {DEFAULT_CONFIRM_SEEDS}; 0: off)")
    parser.add_argument("--timeout", type=_positive_float, help="stop asking after S seconds")


def _renamed_trials(text: str) -> int:
    raise argparse.ArgumentTypeError(
        "the search budget counts trainings now (one training scores every dtype of a "
        f"network, one trial each): use --trainings {text}")


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    _add_training_options(parser, new_study=True)
    parser.add_argument("--storage", help="optuna storage URL (default: runs/<study>/study.db)")
    parser.add_argument("--study", help="study name (default: <profile>-<task>-<space>-seed<S>)")
    parser.add_argument("--out", default="runs", help="folder for runs/<study>/ outputs")
    parser.add_argument("--workers", type=_workers, default=os.cpu_count() or 1,
                        help="local processes that train candidates in parallel (default: one "
                             "per core; results do not depend on it)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _cmd_run(args: argparse.Namespace) -> None:
    from pathlib import Path

    from dse import runner
    from dse.config import SearchConfig
    from dse.userdata import file_sha256

    task = args.task if args.task or args.data else "motion"
    config = SearchConfig(
        profile=args.profile, runtime=args.runtime, space=args.space, task=task, data=args.data,
        data_sha256=file_sha256(args.data) if args.data else None, sampler=args.sampler,
        objectives=tuple(args.objectives), **{name: getattr(args, name) for name in BUDGETS},
        epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
        trainings=args.trainings, timeout_s=args.timeout, confirm_seeds=args.confirm_seeds,
    )
    outputs = runner.run(config, study_name=args.study, storage=args.storage,
                         out_root=Path(args.out), workers=args.workers,
                         show_progress=not args.no_progress and not args.json)
    _print_outputs(outputs, as_json=args.json)


def _cmd_worker(args: argparse.Namespace) -> None:
    from pathlib import Path

    from dse import runner
    from dse.paths import check_name
    from dse.search import stored_config

    overrides = {name: value for name, value in (("trainings", args.trainings),
                                                 ("timeout_s", args.timeout),
                                                 ("confirm_seeds", args.confirm_seeds))
                 if value is not None}
    config = stored_config(args.storage, check_name(args.study), **overrides)
    outputs = runner.run(config, study_name=args.study, storage=args.storage,
                         out_root=Path(args.out), workers=args.workers,
                         show_progress=not args.no_progress and not args.json, create=False)
    _print_outputs(outputs, as_json=args.json)


def _print_outputs(outputs, *, as_json: bool) -> None:
    from dse.results import PARETO_TABLE
    from dse.search.storage import masked_url

    trials = outputs.trials
    summary = {
        "study": outputs.study_name,
        "storage": masked_url(outputs.storage),
        "out_dir": str(outputs.out_dir),
        "trials": int(len(trials)),
        "complete": int((trials["state"] == "COMPLETE").sum()),
        "feasible": int(trials["feasible"].sum()),
        "trained": int(trials["trained"].sum()),
        "confirmed": int(trials.loc[trials["seeds"] > 1, "arch"].nunique()),
        "pareto": outputs.pareto[PARETO_TABLE].to_dict(orient="records"),
    }
    if as_json:
        _print_json(summary)
        return
    print(f"study {summary['study']}: {summary['trained']} networks trained, "
          f"{summary['complete']} trials ({summary['feasible']} feasible); outputs in "
          f"{summary['out_dir']}/")
    rows = [[r["arch"], r["dtype"], r["accuracy_mean"], r["accuracy_quantized_mean"],
             r["accuracy_quantized_std"], r["seeds"], r["latency_ms"], kib(r["flash_bytes"]),
             kib(r["ram_bytes"]), r["energy_uj"]] for r in summary["pareto"]]
    print(f"Pareto front ({len(rows)} candidates; accuracies are means over the seeds, +- their "
          f"standard deviation; latency, flash, RAM and energy are cost-model estimates):")
    print(table(["arch", "dtype", "accuracy", "acc (quant)", "+-", "seeds", "latency ms",
                 "flash", "RAM", "energy uJ"], rows,
                formats=["", "", ".3f", ".3f", ".3f", "", ",.2f", "", "", ",.1f"]))


def _cmd_dashboard(args: argparse.Namespace) -> None:
    from pathlib import Path

    from dse import dashboard, runner
    from dse.paths import writable_file
    from dse.search.study import load_studies

    output = writable_file(Path(args.output), "dashboard file")
    image = writable_file(Path(args.image), "image file") if args.image else None
    studies = load_studies(args.storage, args.study)
    print(f"wrote {runner.write_dashboard(studies, output)}")
    if image:
        print(f"wrote {dashboard.export_image(runner.study_views(studies), image)}")


# --- dse export ------------------------------------------------------------------------


def _export_request(args: argparse.Namespace):
    """The network to export: a row or an architecture of a study, or one given directly."""
    from dataclasses import replace
    from pathlib import Path

    from dse import proxy, results
    from dse.export.bundle import ExportRequest, check_folder, check_options, default_formats
    from dse.export.final import FINAL_BUDGET

    budget = replace(FINAL_BUDGET, epochs=args.epochs) if args.epochs else FINAL_BUDGET
    formats = tuple(args.format) if args.format else default_formats()
    check_options(formats, args.prefix)
    if Path(args.out).exists():  # refused now rather than after the training
        check_folder(Path(args.out), force=args.force)
    common = {"formats": formats, "prefix": args.prefix, "seeds": args.seeds, "budget": budget,
              "runtime": args.runtime}
    if args.study:
        from dse.config import SearchConfig
        from dse.runner import sqlite_url
        from dse.search import CONFIG_ATTR, resolve
        from dse.search.study import load_studies

        if args.task or args.data:
            raise DseError("dse export: --study reuses the study's task or data; drop "
                           "--task/--data (or export directly without --study).")
        if (args.row is None) == (args.arch is None):
            raise DseError("dse export --study: give either --row N (the N-th row of its "
                           "pareto.csv) or --arch A with --dtype D.")
        storage = args.storage or sqlite_url(Path(args.runs) / args.study / "study.db")
        [study] = load_studies(storage, [args.study])
        config = SearchConfig.from_identity(study.user_attrs[CONFIG_ATTR])
        inputs = resolve(config)
        frame = results.trials_frame(study)
        if args.row is not None:
            front = results.pareto_frame(frame)
            if not 1 <= args.row <= len(front):
                raise DseError(f"Study {args.study!r} has {len(front)} rows in its pareto.csv; "
                               f"--row must be 1..{len(front)}.")
            chosen = front.iloc[args.row - 1]
        else:
            dtype = args.dtype or "int8"
            if dtype not in inputs.space.dtypes:
                raise DseError(f"The dtype {dtype!r} is not in study {args.study!r}'s space "
                               f"(dtypes: {', '.join(inputs.space.dtypes)}).")
            text = parse_arch(args.arch).text
            rows = frame[(frame["arch"] == text) & (frame["dtype"] == dtype)
                         & (frame["state"] == "COMPLETE") & frame["accuracy"].notna()]
            if rows.empty:
                raise DseError(f"{text} ({dtype}) is not among the trained networks of study "
                               f"{args.study!r}; pick a row of its pareto.csv with --row N, or "
                               f"export it directly with --task/--data.")
            chosen = rows.iloc[0]
        data = inputs.data
        arch = parse_arch(chosen["arch"], dtype=chosen["dtype"], features=data.features,
                          timesteps=data.timesteps, classes=data.classes)
        score = {"accuracy": float(chosen["accuracy"]),
                 "accuracy_quantized": float(chosen["accuracy_quantized"]),
                 "accuracy_mean": float(chosen["accuracy_mean"]),
                 "accuracy_quantized_mean": float(chosen["accuracy_quantized_mean"]),
                 "seeds": int(chosen["seeds"]),
                 "trial": int(chosen["number"]), "study": args.study}
        profile = load_profile(args.profile) if args.profile else inputs.profile
        return ExportRequest(
            arch=arch, data=data, data_label=config.task or Path(str(config.data)).name,
            seed=config.seed, search_score=score, profile=profile, ram_mode=inputs.space.ram_mode,
            source={"study": args.study, "trial": int(chosen["number"]), "row": args.row},
            **common)
    if args.arch is None or args.row is not None:
        raise DseError("dse export: give --study NAME (with --row N or --arch A), or --arch A "
                       "with --task NAME or --data FILE.npz.")
    data = _load_data(args)
    arch = parse_arch(args.arch, dtype=args.dtype or "int8", features=data.features,
                      timesteps=data.timesteps, classes=data.classes)
    proxy_score = proxy.evaluate(arch, data, seed=args.seed)
    score = {"accuracy": proxy_score.accuracy, "accuracy_quantized": proxy_score.accuracy_quantized,
             "trial": None, "study": None}
    return ExportRequest(arch=arch, data=data, data_label=data.name, seed=args.seed,
                         search_score=score,
                         profile=load_profile(args.profile) if args.profile else None,
                         source={"direct": True}, **common)


def _cmd_export(args: argparse.Namespace) -> None:
    from pathlib import Path

    from dse.export.bundle import export

    request = _export_request(args)
    if args.measure:  # refused now, not after the training: the tools and the core
        from dse.measure.build import compiler
        from dse.measure.cores import core_of
        from dse.measure.emulator import require_unicorn

        if request.profile is None:
            raise DseError("dse export --measure: name the profile to build for with --profile P.")
        core_of(request.profile), compiler(), require_unicorn()
    report = export(request, Path(args.out), force=args.force)
    measured = None
    if args.measure:
        from dse.measure.session import measure

        measured = measure(Path(args.out), request.profile, runtime=args.runtime)
    if args.json:
        _print_json(report if measured is None else dict(report, measure=measured))
        return
    acc, search = report["accuracy"], report["search"]
    print(f"exported {report['arch']} ({report['dtype']}), trained on {report['data']['name']} "
          f"(best of {len(report['training']['seeds'])} seeds), to {args.out}/ in "
          f"{report['seconds']:.1f} s")
    print(f"test accuracy: float {acc['float']:.3f}, quantized {acc['quantized']:.3f} "
          f"(the network as the C computes it); the search's short proxy gave "
          f"{search['accuracy']:.3f} float, {search['accuracy_quantized']:.3f} quantized")
    for name, check in report["checks"].items():
        label = {"c_host": "C (host build)", "onnx": "ONNX", "torch": "PyTorch"}[name]
        if not check["checked"]:
            print(f"{label}: written, not checked ({check['reason']})")
        elif name == "c_host":
            kind = "bit for bit" if report["dtype"] != "float32" else "to 1e-5"
            print(f"{label}: equal to the numpy network {kind} on {check['windows']} test "
                  f"windows ({check['compiler']}); streaming API equal")
        else:
            print(f"{label}: equal to the numpy network on {check['windows']} test windows "
                  f"(max relative difference {check['max_relative_difference']:.1e})")
    if report["cost"]:
        cost = report["cost"]
        print(f"cost-model estimate on {cost['profile']} ({cost['runtime']}): "
              f"{cost['latency_ms']:.2f} ms, {kib(cost['flash_bytes'])} flash, "
              f"{kib(cost['ram_bytes'])} RAM")
    print(f"files: {', '.join(report['files'])}, export.json")
    if measured:
        print()
        print(format_measurement(measured))


# --- dse measure ------------------------------------------------------------------------


def _measure_profile(args: argparse.Namespace, folder):
    """The profile to measure on: --profile, else the one the export was priced on."""
    import json

    if args.profile:
        return load_profile(args.profile)
    report = folder / "export.json"
    cost = json.loads(report.read_text()).get("cost") if report.is_file() else None
    if not cost:
        raise DseError(f"dse measure: name the profile to build for with --profile P (the "
                       f"export in {folder} was not priced on one).")
    return load_profile(cost["profile"])


def _cmd_measure(args: argparse.Namespace) -> None:
    from pathlib import Path

    from dse.measure.session import measure

    folder = Path(args.folder)
    result = measure(folder, _measure_profile(args, folder), runtime=args.runtime, qemu=args.qemu)
    if args.json:
        _print_json(result)
        return
    print(format_measurement(result))


def format_measurement(result: dict) -> str:
    """Predicted (cost model) against measured (emulation), with the ratios."""
    measured, predicted = result["measured"], result["predicted"]
    rows = [[label, format(predicted[key], spec), format(measured[key], spec),
             result["ratios"][key]]
            for label, key, spec in (("flash B", "flash_bytes", ",.0f"),
                                     ("RAM B", "ram_bytes", ",.0f"),
                                     ("cycles", "cycles", ",.0f"),
                                     ("latency ms", "latency_ms", ",.3f"),
                                     ("energy uJ", "energy_uj", ",.2f"))]
    logits = result["logits"]
    host = {True: "equal to the host build bit for bit", False: "NOT equal to the host build",
            None: "no host compiler to compare with"}[logits["equal_host_build"]]
    loop = result["inner_loop"]
    lines = [
        f"{result['arch']} ({result['dtype']}) on {result['profile']}: {result['core']}, "
        f"image {result['elf']}",
        "",
        table(["", f"predicted ({result['runtime']})", "measured (emulated)", "ratio"], rows,
              formats=["", "", "", ".3f"]),
        "",
        f"RAM measured = {measured['static_ram_bytes']:,} B static + {measured['stack_bytes']:,} B "
        f"stack; flash = the model's text, rodata and data ({measured['harness_flash_bytes']:,} B "
        f"of harness not counted)",
        f"{measured['instructions']:,} instructions for one inference "
        f"({measured['instructions_total']:,} from reset to exit)",
    ]
    if loop:
        lines.append(f"inner loop: {loop['macs']} MACs in {loop['instructions']} instructions, "
                     f"{loop['cycles']:g} cycles ({loop['macs_per_cycle']:.2f} MACs per cycle)")
    lines += [f"logits of {logits['windows']} golden windows: "
              f"{'equal to' if logits['equal_golden'] else 'NOT equal to'} the export's; {host}"]
    if result["qemu"]:
        q = result["qemu"]
        lines.append(f"QEMU ({q['machine']}): exit {q['exit_code']}, logits "
                     f"{'the same bits' if q['equal_emulated'] else 'DIFFERENT'} as unicorn's")
    lines += [
              f"timing table: {result['timing_table']}",
              f"note: {result['note']}"]
    return "\n".join(lines)


# --- dse calibrate ----------------------------------------------------------------------


def _cmd_calibrate(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from dse.calibrate import calibrate, grid
    from dse.measure.cores import core_of

    profiles = [load_profile(name) for name in args.profile]
    cores = {core_of(profile).name for profile in profiles}
    bar = tqdm(total=len(grid()) * len(cores), unit="run", desc="emulating",
               disable=args.no_progress or args.json)
    results = calibrate(profiles, write=args.write, on_sample=lambda _: bar.update())
    bar.close()
    if args.json:
        _print_json([{"profile": profile.name, "core": fit.core, "written": args.write,
                      "fit": asdict(fit)} for profile, fit in results])
        return
    for profile, fit in results:
        rows = [[dtype, fit.macs_per_cycle[dtype], fit.cycles_per_elementwise[dtype],
                 fit.cycles_per_activation[dtype], fit.per_step_overhead_cycles[dtype],
                 fit.per_op_overhead_cycles[dtype], fit.cycles_per_input[dtype]]
                for dtype in DTYPES]
        print(f"{profile.name} ({fit.core}): {fit.samples} emulated architectures; cycles "
              f"reproduced to {100 * fit.cycle_errors['max']:.1f} % at most (median "
              f"{100 * fit.cycle_errors['median']:.1f} %), flash to "
              f"{100 * fit.flash_errors['max']:.1f} %")
        print(table(["dtype", "MAC/cycle", "cyc/elementwise", "cyc/activation", "cyc/step",
                     "cyc/inference", "cyc/input"], rows,
                    formats=["", ".3g", ".3g", ".3g", ".4g", ".4g", ".3g"]))
        print(f"{'written to' if args.write else 'not written (add --write):'} {profile.path}")


# --- dse experiment --------------------------------------------------------------------

EXIT_DIFFERS = 3  # dse experiment verify: the rerun differs from the stored results


def _cmd_experiment(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dse import experiment

    exp = experiment.load_experiment(args.file)
    out_root = Path(args.out)
    show = not args.no_progress and not args.json
    if args.action == "run":
        out_dir = experiment.run_experiment(exp, out_root=out_root, workers=args.workers,
                                            show_progress=show)
        if args.json:
            _print_json(json.loads((out_dir / "experiment.json").read_text()))
        else:
            print(f"experiment {exp.name} (hash {exp.hash}): results in {out_dir}/")
        return 0
    verdict = experiment.verify_experiment(exp, out_root=out_root, show_progress=show)
    if args.json:
        _print_json({"experiment": exp.name, "identical": verdict.identical,
                     "differences": list(verdict.differences), "likely_causes": list(verdict.causes)})
    elif verdict.identical:
        print(f"experiment {exp.name}: identical trials and Pareto sets (timing columns aside)")
    else:
        print(f"experiment {exp.name}: the rerun DIFFERS from the stored results")
        for line in verdict.differences:
            print(f"  - {line}")
        print("likely causes:" if verdict.causes else "likely cause: unknown (same versions and data)")
        for line in verdict.causes:
            print(f"  - {line}")
    return 0 if verdict.identical else EXIT_DIFFERS


# --- dse data ----------------------------------------------------------------------------


def _add_data_parsers(verbs) -> None:
    data = verbs.add_parser("data", help="build an .npz from a CSV or .ts file; describe one")
    actions = data.add_subparsers(dest="action", required=True, parser_class=_Parser)
    build = actions.add_parser("build", help="an .npz for dse run from a CSV file (one row per "
                                             "time step) or a UCR/UEA .ts file")
    build.add_argument("input", help=".csv or .ts file")
    build.add_argument("--out", "-o", required=True, help=".npz file to write")
    build.add_argument("--test", help="a test file of the same kind (default: split the input)")
    build.add_argument("--label", help="CSV: the label column (default: label)")
    build.add_argument("--recording", help="CSV: the column naming each row's recording; the "
                                           "split keeps a recording's windows on one side")
    build.add_argument("--features", type=lambda text: text.split(","),
                       help="CSV: feature columns, a,b,c (default: all the others)")
    build.add_argument("--window", type=_positive_int, help="CSV: rows per window, T")
    build.add_argument("--stride", type=_positive_int, help="CSV: rows from one window to "
                                                            "the next (default: --window)")
    build.add_argument("--length", type=_positive_int, help=".ts: timesteps T; shorter series "
                       "are padded at the start, longer ones keep their last T (default: the "
                       "longest)")
    build.add_argument("--test-fraction", type=_positive_float, default=0.25,
                       help="share of each class held out for testing (default 0.25)")
    build.add_argument("--seed", type=_seed, default=0, help="seed of the split")
    build.add_argument("--json", action="store_true", help="print the summary as JSON")
    build.set_defaults(func=_cmd_data_build)
    describe = actions.add_parser("describe", help="sizes, shape, classes, balance and scale "
                                                   "of an .npz data file")
    describe.add_argument("file", help=".npz data file")
    describe.add_argument("--seed", type=_seed, default=0, help="seed of the split, as dse run's")
    describe.add_argument("--json", action="store_true", help="print one JSON object")
    describe.set_defaults(func=_cmd_data_describe)


def _cmd_data_build(args: argparse.Namespace) -> None:
    from dse import data

    options = {k: getattr(args, k) for k in ("test", "label", "recording", "features", "window",
                                             "stride", "length", "test_fraction", "seed")}
    built = data.build(args.input, **options)
    summary = data.summary(built, data.save(built, args.out))
    if args.json:
        _print_json(summary)
    else:
        print(data.summary_text(summary))


def _cmd_data_describe(args: argparse.Namespace) -> None:
    from dse import data

    info = data.describe(args.file, seed=args.seed)
    if args.json:
        _print_json(info)
    else:
        print(data.describe_text(info))


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
    cost.add_argument("--runtime", help="one of the profile's runtimes (default: its own)")
    cost.add_argument("--convention", choices=CONVENTIONS, default="keras",
                      help="parameter counting convention (default: keras)")
    cost.add_argument("--ram-mode", choices=RAM_MODES, default="window",
                      help="window: buffer the whole input; streaming: one step at a time")
    _add_budget_options(cost)
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
    evaluate.add_argument("--epochs", type=_positive_int, help="training epochs")
    evaluate.add_argument("--batch-size", type=_positive_int, help="batch size")
    evaluate.add_argument("--seed", type=_seed, default=0, help="seed of data split and weights")
    evaluate.add_argument("--profile", "-p", help="also print the cost on this profile")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(func=_cmd_evaluate)

    run = verbs.add_parser("run", help="search for the Pareto-optimal networks on a profile")
    run.add_argument("--profile", "-p", required=True, help="profile name or .toml path")
    _add_search_options(run)
    _add_run_options(run)
    run.set_defaults(func=_cmd_run)

    worker = verbs.add_parser("worker", help="join a shared study (e.g. on PostgreSQL)")
    worker.add_argument("--storage", required=True, help="storage URL of the shared study")
    worker.add_argument("--study", required=True, help="study name")
    _add_training_options(worker, new_study=False)
    worker.add_argument("--workers", type=_workers, default=1, help="local processes")
    worker.add_argument("--out", default="runs", help="folder for runs/<study>/ outputs")
    worker.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    worker.add_argument("--json", action="store_true", help="print the result as JSON")
    worker.set_defaults(func=_cmd_worker)

    dash = verbs.add_parser("dashboard", help="build the HTML dashboard of one or more studies")
    dash.add_argument("--storage", required=True, help="storage URL, e.g. sqlite:///runs/x/study.db")
    dash.add_argument("--study", required=True, action="append", help="study name (repeatable)")
    dash.add_argument("--output", "-o", default="dashboard.html", help="HTML file to write")
    dash.add_argument("--image", help="also export the main plot as PNG or SVG (needs kaleido)")
    dash.set_defaults(func=_cmd_dashboard)

    from dse.export.bundle import FORMATS
    from dse.export.final import FINAL_SEEDS

    exp_ = verbs.add_parser("export", help="train a chosen network and write it as C, ONNX and "
                                           "PyTorch, checked against its numpy reference")
    exp_.add_argument("--study", help="a study to take the network from (its task, data, seed)")
    exp_.add_argument("--storage", help="the study's storage (default runs/<study>/study.db)")
    exp_.add_argument("--runs", default="runs", help="where dse run wrote the study (default runs)")
    exp_.add_argument("--row", type=_positive_int, help="the N-th row of the study's pareto.csv")
    exp_.add_argument("--arch", "-a", help="architecture, e.g. lstm:64 (with --dtype)")
    exp_.add_argument("--dtype", choices=DTYPES, help="deployment dtype (default int8)")
    exp_.add_argument("--task", help="built-in task, for a direct export")
    exp_.add_argument("--data", help=".npz data file, for a direct export")
    exp_.add_argument("--seed", type=_seed, default=0, help="data and training seed (direct export)")
    exp_.add_argument("--out", "-o", required=True, help="folder to write (new or empty)")
    exp_.add_argument("--force", action="store_true",
                      help="replace the export files in a non-empty folder")
    exp_.add_argument("--format", nargs="+", choices=FORMATS, metavar="FORMAT",
                      help="c, onnx, torch (default: all; onnx where installed)")
    exp_.add_argument("--prefix", default="dse_", help="prefix of the C names (default dse_)")
    exp_.add_argument("--seeds", type=_whole(1, 64), default=FINAL_SEEDS,
                      help=f"final trainings, the best on validation kept (default {FINAL_SEEDS})")
    exp_.add_argument("--epochs", type=_positive_int, help="epochs of the final training")
    exp_.add_argument("--profile", "-p", help="profile for the cost report (default: the study's)")
    exp_.add_argument("--runtime", help="the profile's runtime for the cost report")
    exp_.add_argument("--measure", action="store_true",
                      help="then build the C for the profile's core and emulate it (dse measure)")
    exp_.add_argument("--json", action="store_true", help="print export.json")
    exp_.set_defaults(func=_cmd_export)

    meas = verbs.add_parser("measure", help="build an export for the profile's Cortex-M core, "
                                            "run it in an emulator, compare with the cost model")
    meas.add_argument("folder", help="a folder written by dse export")
    meas.add_argument("--profile", "-p", help="profile (default: the one the export was priced on)")
    meas.add_argument("--runtime", help="the runtime to predict with (default: dse-c if the "
                                        "profile has it)")
    meas.add_argument("--qemu", action="store_true",
                      help="also run the image in QEMU and compare (Cortex-M3, M4, M7)")
    meas.add_argument("--json", action="store_true", help="print one JSON object")
    meas.set_defaults(func=_cmd_measure)

    cal = verbs.add_parser("calibrate", help="fit the dse-c runtime's constants to emulated runs "
                                             "of the exported C on a profile's core")
    cal.add_argument("--profile", "-p", action="append", required=True,
                     help="profile name or .toml path (repeatable; one fit per core)")
    cal.add_argument("--write", action="store_true",
                     help="write the fitted [runtimes.dse-c] into each profile file")
    cal.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    cal.add_argument("--json", action="store_true", help="print the fits as JSON")
    cal.set_defaults(func=_cmd_calibrate)

    exp = verbs.add_parser("experiment", help="run or verify a reproducible experiment file")
    exp.add_argument("action", choices=["run", "verify"],
                     help="run: run or resume it; verify: rerun from scratch and compare")
    exp.add_argument("file", help="experiment .toml file (see experiments/)")
    exp.add_argument("--out", default="runs/experiments", help="results folder")
    exp.add_argument("--workers", type=_workers, help="local processes (results unchanged)")
    exp.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    exp.add_argument("--json", action="store_true", help="print the result as JSON")
    exp.set_defaults(func=_cmd_experiment)
    _add_data_parsers(verbs)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A DseWarning as one line on stderr (``dse: warning: ...``); others as Python shows them."""
    text = f"dse: warning: {message}\n" if issubclass(category, DseWarning) else \
        warnings.formatwarning(message, category, filename, lineno, line)
    (file or sys.stderr).write(text)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status."""
    warnings.showwarning = _show_warning
    try:
        args = build_parser().parse_args(argv)
        func: Callable[[argparse.Namespace], int | None] = args.func
        status = func(args)
    except DseError as exc:
        print(f"dse: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `dse cost ... --json | head`: the reader left, fine
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        return 0
    except KeyboardInterrupt:
        print("dse: interrupted; finished trials are saved, rerun the same command to resume",
              file=sys.stderr)
        return 130
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
