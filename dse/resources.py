"""Where the shipped TOML files live, in a wheel install and in a source checkout alike."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """The folder ``name`` (``hardware_profiles`` or ``search_spaces``).

    A wheel install puts it inside the package (pyproject maps it to ``dse/<name>``);
    a source checkout, editable or not, keeps it beside the package.
    """
    installed = _PACKAGE / name
    return installed if installed.is_dir() else _PACKAGE.parent / name
