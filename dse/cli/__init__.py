"""The ``dse`` command line: argument parsing and printing only; the modules do the work.

One module per command group, each holding its parsers beside its handlers: ``profiles``,
``cost`` (cost, tasks, evaluate), ``search`` (run, worker, dashboard), ``export`` (export,
measure, calibrate), ``experiment`` and ``data``; ``common`` holds what they share.

Exit status: 0 success, 2 bad input (one line on stderr), 1 internal error,
130 interrupted, 3 ``dse experiment verify`` found differences.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable, Sequence

from dse.cli import cost, data, experiment, export, profiles, search
from dse.cli.common import Parser
from dse.cli.cost import format_cost
from dse.cli.export import format_measurement
from dse.errors import DseError, DseWarning

__all__ = ["build_parser", "format_cost", "format_measurement", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="dse", description="Find the LSTM/GRU networks that fit a microcontroller.")
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=Parser)
    for group in (profiles, cost, search, export, experiment, data):  # 'dse --help' order
        group.add_parsers(verbs)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
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
