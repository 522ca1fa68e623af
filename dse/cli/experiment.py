"""``dse experiment run|verify FILE``: run an experiment file, or rerun it from scratch and
compare with the stored results (exit status 3 when they differ)."""

from __future__ import annotations

import argparse
import json

from dse.cli.common import Verbs, print_json, workers

EXIT_DIFFERS = 3  # dse experiment verify: the rerun differs from the stored results


def add_parsers(verbs: Verbs) -> None:
    exp = verbs.add_parser("experiment", help="run or verify a reproducible experiment file")
    exp.add_argument("action", choices=["run", "verify"],
                     help="run: run or resume it; verify: rerun from scratch and compare")
    exp.add_argument("file", help="experiment .toml file (see experiments/)")
    exp.add_argument("--out", default="runs/experiments",
                     help="the parent folder: the results go to OUT/<name>/, <name> the "
                          "experiment's (default runs/experiments)")
    exp.add_argument("--workers", type=workers, help="local processes (results unchanged)")
    exp.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    exp.add_argument("--json", action="store_true", help="print the result as JSON")
    exp.set_defaults(func=_cmd_experiment)


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
            print_json(json.loads((out_dir / "experiment.json").read_text()))
        else:
            print(f"experiment {exp.name} (hash {exp.hash}): results in {out_dir}/")
        return 0
    verdict = experiment.verify_experiment(exp, out_root=out_root, show_progress=show)
    if args.json:
        print_json({"experiment": exp.name, "identical": verdict.identical,
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
