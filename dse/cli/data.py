"""``dse data build|describe``: make the .npz a search reads from a CSV or UCR/UEA .ts file,
and describe a data file before a search (the work is in :mod:`dse.data`)."""

from __future__ import annotations

import argparse

from dse.cli.common import Parser, Verbs, positive, positive_int, print_json, seed


def add_parsers(verbs: Verbs) -> None:
    data = verbs.add_parser("data", help="build an .npz from a CSV or .ts file; describe one")
    actions = data.add_subparsers(dest="action", required=True, parser_class=Parser)
    build = actions.add_parser("build", help="an .npz for dse run from a CSV file (one row per "
                                             "time step) or a UCR/UEA .ts file")
    build.add_argument("input", help=".csv or .ts file")
    build.add_argument("--out", "-o", required=True, help="the .npz file to write (a file, not a folder)")
    build.add_argument("--test", help="a test file of the same kind (default: split the input)")
    build.add_argument("--label", help="CSV: the label column (default: label)")
    build.add_argument("--recording", help="CSV: the column naming each row's recording; the "
                                           "split keeps a recording's windows on one side")
    build.add_argument("--features", type=lambda text: text.split(","),
                       help="CSV: feature columns, a,b,c (default: all the others)")
    build.add_argument("--window", type=positive_int, help="CSV: rows per window, T")
    build.add_argument("--stride", type=positive_int, help="CSV: rows from one window to "
                                                           "the next (default: --window)")
    build.add_argument("--length", type=positive_int, help=".ts: timesteps T; shorter series "
                       "are padded at the start, longer ones keep their last T (default: the "
                       "longest)")
    build.add_argument("--test-fraction", type=positive(1.0), default=0.25,
                       help="share of each class held out for testing (default 0.25)")
    build.add_argument("--seed", type=seed, default=0, help="seed of the split")
    build.add_argument("--json", action="store_true", help="print the summary as JSON")
    build.set_defaults(func=_cmd_build)
    describe = actions.add_parser("describe", help="sizes, shape, classes, balance and scale "
                                                   "of an .npz data file")
    describe.add_argument("file", help=".npz data file")
    describe.add_argument("--seed", type=seed, default=0, help="seed of the split, as dse run's")
    describe.add_argument("--json", action="store_true", help="print one JSON object")
    describe.set_defaults(func=_cmd_describe)


def _cmd_build(args: argparse.Namespace) -> None:
    from dse import data

    options = {k: getattr(args, k) for k in ("test", "label", "recording", "features", "window",
                                             "stride", "length", "test_fraction", "seed")}
    built = data.build(args.input, **options)
    summary = data.summary(built, data.save(built, args.out))
    if args.json:
        print_json(summary)
    else:
        print(data.summary_text(summary))


def _cmd_describe(args: argparse.Namespace) -> None:
    from dse import data

    info = data.describe(args.file, seed=args.seed)
    if args.json:
        print_json(info)
    else:
        print(data.describe_text(info))
