"""Plain-text rendering for the terminal: aligned tables and human numbers. No logic."""

from __future__ import annotations

import re
from collections.abc import Sequence


def table(headers: Sequence[str], rows: Sequence[Sequence[object]],
          formats: Sequence[str] | None = None) -> str:
    """An aligned text table; text columns align left, numbers right. ``formats`` gives a
    format spec per column (``",.2f"``; empty for the default) so a column reads evenly."""
    specs = list(formats) if formats else [""] * len(headers)
    cells = [[str(h) for h in headers]] + [
        [_cell(v, spec) for v, spec in zip(row, specs)] for row in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [
        any(_is_number(row[i]) for row in rows)
        and all(_is_number(row[i]) or row[i] == "" for row in rows)
        for i in range(len(headers))
    ]
    lines = []
    for row in cells:
        parts = [
            value.rjust(width) if is_num else value.ljust(width)
            for value, width, is_num in zip(row, widths, numeric)
        ]
        lines.append("  ".join(parts).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _is_number(value: object) -> bool:
    """A number, or a number already formatted (``"1,234.5"``): both align right."""
    if isinstance(value, str):
        return bool(_FORMATTED.fullmatch(value))
    return isinstance(value, int | float) and not isinstance(value, bool)


_FORMATTED = re.compile(r"[-+]?[\d,]*\.?\d+")


def _cell(value: object, spec: str = "") -> str:
    if spec and _is_number(value) and not isinstance(value, str) and value == value:
        return format(value, spec)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:  # NaN: not measured
            return "-"
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.1f}"
    return str(value)


def kib(n_bytes: float) -> str:
    """Bytes as KiB with one decimal, e.g. ``97.7 KiB``."""
    return f"{n_bytes / 1024:,.1f} KiB"


def priced_by(runtime: str, basis: str) -> str:
    """What a cost figure is: ``dse-c, fitted to emulation`` or ``tflm-cmsis-nn, estimate``
    (a runtime dse neither generates nor runs; its constants are engineering estimates)."""
    return f"{runtime}, {basis}"


def basis_note(runtime: str, basis: str) -> str:
    """One sentence saying where a runtime's figures come from."""
    if basis == "estimate":
        return (f"{runtime} is an estimate: dse neither generates nor runs it, and its "
                f"constants are engineering estimates; 'dse export' writes dse-c")
    return (f"{runtime} is the C 'dse export' writes; its constants are {basis} of it "
            f"(dse calibrate; an instruction-accurate emulation, not a board measurement)")
