"""``dse run`` (search a profile), ``dse worker`` (join a shared study) and ``dse dashboard``
(the HTML dashboard of stored studies)."""

from __future__ import annotations

import argparse
import os

from dse.cli.common import Verbs, add_budget_options, print_json, seed, typed, workers
from dse.config import (
    BUDGETS,
    DEFAULT_TRAININGS,
    OBJECTIVES,
    SAMPLERS,
    SETTINGS,
    WORKERS,
)
from dse.report import basis_note, kib, priced_by, table

OUT_HELP = "the parent folder: the outputs go to OUT/<study>/ (default runs)"


def add_parsers(verbs: Verbs) -> None:
    run = verbs.add_parser("run", help="search for the Pareto-optimal networks on a profile")
    run.add_argument("--profile", "-p", required=True, help="profile name or .toml path")
    _add_search_options(run)
    _add_run_options(run)
    run.set_defaults(func=_cmd_run)

    worker = verbs.add_parser("worker", help="join a shared study (e.g. on PostgreSQL)")
    worker.add_argument("--storage", required=True, help="storage URL of the shared study")
    worker.add_argument("--study", required=True, help="study name")
    _add_training_options(worker, new_study=False)
    worker.add_argument("--workers", type=workers, default=WORKERS.default,
                        help=f"local processes (default: {WORKERS.default})")
    worker.add_argument("--out", default="runs", help=OUT_HELP)
    worker.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    worker.add_argument("--json", action="store_true", help="print the result as JSON")
    worker.set_defaults(func=_cmd_worker)

    dash = verbs.add_parser(
        "dashboard", help="build the HTML dashboard of one or more studies",
        description="Build one HTML dashboard of studies from one or more storages. Every "
                    "--study is looked up in every --storage, and each storage that holds it "
                    "adds it (a name that several storages hold is labelled with its storage), "
                    "so the runs of several 'dse run's, each with its own runs/<study>/study.db, "
                    "compare in one page. A name that no storage holds is refused, and so is a "
                    "storage that holds none of the names.")
    dash.add_argument("--storage", required=True, action="append", metavar="URL",
                      help="storage URL to read studies from, e.g. sqlite:///runs/x/study.db "
                           "(repeatable)")
    dash.add_argument("--study", required=True, action="append", metavar="NAME",
                      help="study name, looked up in every --storage (repeatable)")
    dash.add_argument("--output", "-o", default="dashboard.html",
                      help="the HTML file to write (a file, not a folder; default dashboard.html)")
    dash.add_argument("--image", help="also export the main plot as PNG or SVG (needs kaleido)")
    dash.set_defaults(func=_cmd_dashboard)


def _add_search_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", default=SETTINGS["space"].default,
                        help=f"search space name or .toml path (default: "
                             f"{SETTINGS['space'].default})")
    parser.add_argument("--runtime", help="one of the profile's runtimes (default: its own; "
                                          "see dse profiles show P)")
    parser.add_argument("--task", help=f"built-in task (see 'dse tasks'; default: "
                                       f"{SETTINGS['task'].default})")
    parser.add_argument("--data", help="your own data: .npz with X_train [N,T,F], y_train [N]")
    parser.add_argument("--sampler", choices=SAMPLERS, default=SETTINGS["sampler"].default,
                        help="auto (ehvi; tpe for objectives it cannot model), ehvi, tpe, "
                             "nsga2, gp, random, grid (exhaustive)")
    parser.add_argument("--objectives", nargs="+", choices=list(OBJECTIVES),
                        default=list(SETTINGS["objectives"].default), metavar="OBJ",
                        help=f"two or more of: {', '.join(OBJECTIVES)} (default: "
                             f"{' '.join(SETTINGS['objectives'].default)})")
    add_budget_options(parser)
    parser.add_argument("--epochs", type=typed(SETTINGS["epochs"]), help="proxy training epochs")
    parser.add_argument("--batch-size", type=typed(SETTINGS["batch_size"]), help="proxy batch size")
    parser.add_argument("--train-seeds", type=typed(SETTINGS["train_seeds"]), metavar="K",
                        default=SETTINGS["train_seeds"].default,
                        help=f"train every network with K seeds and rank it by the mean "
                             f"(default: {SETTINGS['train_seeds'].default})")
    parser.add_argument("--seed", type=seed, default=SETTINGS["seed"].default,
                        help=f"seed of sampler, data and proxy (default: {SETTINGS['seed'].default})")


def _add_training_options(parser: argparse.ArgumentParser, *, new_study: bool) -> None:
    default = (f"a new study: default {DEFAULT_TRAININGS}; an existing one keeps its target"
               if new_study else "default: the target the study holds")
    parser.add_argument("--trainings", type=typed(SETTINGS["trainings"]),
                        help=f"networks to train: each training scores every dtype of its "
                             f"network that fits, one trial each ({default}; rerunning resumes "
                             f"to it)")
    parser.add_argument("--trials", type=_renamed_trials, help=argparse.SUPPRESS)
    parser.add_argument("--confirm-seeds", type=_renamed_confirm_seeds, help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=typed(SETTINGS["timeout_s"]), metavar="S",
                        help="stop asking after S seconds")


def _renamed_trials(text: str) -> int:
    raise argparse.ArgumentTypeError(
        "the search budget counts trainings now (one training scores every dtype of a "
        f"network, one trial each): use --trainings {text}")


def _renamed_confirm_seeds(text: str) -> int:
    raise argparse.ArgumentTypeError(
        "every network now trains with several seeds from the start, so there is no separate "
        "confirmation: use --train-seeds K on a new study (the default 3: a mean over 3 seeds)")


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    _add_training_options(parser, new_study=True)
    parser.add_argument("--storage", help="optuna storage URL (default: runs/<study>/study.db)")
    parser.add_argument("--study", help="study name (default: <profile>-<task>-<space>-seed<S>)")
    parser.add_argument("--out", default="runs", help=OUT_HELP)
    parser.add_argument("--workers", type=workers, default=os.cpu_count() or 1,
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
        train_seeds=args.train_seeds, trainings=args.trainings, timeout_s=args.timeout,
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
                                                 ("timeout_s", args.timeout)) if value is not None}
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
        "front_seeds": int(outputs.pareto["seeds"].min()) if len(outputs.pareto) else 0,
        "runtime": outputs.runtime.name,
        "cost_basis": outputs.runtime.basis,
        "pareto": outputs.pareto[PARETO_TABLE].to_dict(orient="records"),
    }
    if as_json:
        print_json(summary)
        return
    print(f"study {summary['study']}: {summary['trained']} networks trained, "
          f"{summary['complete']} trials ({summary['feasible']} feasible); outputs in "
          f"{summary['out_dir']}/")
    rows = [[r["arch"], r["dtype"], r["accuracy_mean"], r["accuracy_quantized_mean"],
             r["accuracy_quantized_std"], r["seeds"], r["latency_ms"], kib(r["flash_bytes"]),
             kib(r["ram_bytes"]), r["energy_uj"]] for r in summary["pareto"]]
    print(f"Pareto front ({len(rows)} candidates; accuracies are means over the seeds, +- their "
          f"standard deviation; latency, flash, RAM and energy from the cost model of "
          f"{priced_by(summary['runtime'], summary['cost_basis'])}):")
    print(f"({basis_note(summary['runtime'], summary['cost_basis'])})")
    print(table(["arch", "dtype", "accuracy", "acc (quant)", "+-", "seeds", "latency ms",
                 "flash", "RAM", "energy uJ"], rows,
                formats=["", "", ".3f", ".3f", ".3f", "", ",.2f", "", "", ",.1f"]))


def _cmd_dashboard(args: argparse.Namespace) -> None:
    from pathlib import Path

    from dse import dashboard, runner
    from dse.paths import writable_file
    from dse.search.study import find_studies

    output = writable_file(Path(args.output), "dashboard file")
    image = writable_file(Path(args.image), "image file") if args.image else None
    views = runner.storage_views(find_studies(args.storage, args.study))
    print(f"wrote {dashboard.build_dashboard(views, output)}")
    if image:
        print(f"wrote {dashboard.export_image(views, image)}")
