"""Small real data files for the tests of dse.data: a CSV of recordings, .ts files."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def har_csv(path: Path, *, subjects: int = 8, rows: int = 60, gap: tuple[int, int] | None = None,
            blank_line: bool = False) -> Path:
    """Rows of a fake activity recording: per subject, runs of 'walk', 'run', 'sit'; column
    'who' holds the subject's number and 'step' the row's index within the subject, so every
    window can be traced back to its rows."""
    lines = ["subject,activity,who,step,acc"]
    rng = np.random.default_rng(0)
    for s in range(subjects):
        for a, activity in enumerate(["walk", "run", "sit"]):
            for t in range(rows):
                step = a * rows + t
                lines.append(f"s{s},{activity},{s},{step},{rng.normal() + a:.4f}")
    if gap:
        row, column = gap
        cells = lines[row].split(",")
        cells[column] = "?"
        lines[row] = ",".join(cells)
    if blank_line:
        lines.insert(3, "")
    path.write_text("\n".join(lines) + "\n")
    return path


TS_HEADER = ["# a test file", "@problemName Toy", "@timeStamps false", "@missing true",
             "@univariate {univariate}", "@equalLength false", "@classLabel true a b c", "@data"]


def ts_file(path: Path, cases: list[tuple[list[list[str]], str]], *, univariate: bool = True,
            header: list[str] | None = None) -> Path:
    """A .ts file of ``cases``: each a list of dimensions (each a list of value texts) and a
    label."""
    head = header or [line.format(univariate=str(univariate).lower()) for line in TS_HEADER]
    body = [":".join(",".join(values) for values in dims) + f":{label}" for dims, label in cases]
    path.write_text("\n".join(head + body) + "\n")
    return path


def toy_cases(n: int = 30, dims: int = 1) -> list[tuple[list[list[str]], str]]:
    """``n`` cases of lengths 8..12; case k holds k*100 + step, so each value says where it
    came from; labels a, b, c in turn."""
    return [([[str(k * 100 + t + 1000 * d) for t in range(8 + k % 5)] for d in range(dims)],
             "abc"[k % 3]) for k in range(n)]
