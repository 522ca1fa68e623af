"""Where the shipped TOML files live, and the one way any TOML file (profile, space,
experiment) is read: bounded in size, UTF-8, with a one-line error naming the file."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from dse.errors import DseError

_PACKAGE = Path(__file__).resolve().parent
MAX_TOML_BYTES = 1 << 20  # a profile, space or experiment file is a few KiB


def data_dir(name: str) -> Path:
    """The folder ``name`` (``hardware_profiles`` or ``search_spaces``).

    A wheel install puts it inside the package (pyproject maps it to ``dse/<name>``);
    a source checkout, editable or not, keeps it beside the package.
    """
    installed = _PACKAGE / name
    return installed if installed.is_dir() else _PACKAGE.parent / name


def available(folder: str) -> list[str]:
    """Names of the shipped TOML files in ``folder``, sorted."""
    return sorted(p.stem for p in data_dir(folder).glob("*.toml"))


def find_toml(name: str, folder: str, what: str) -> Path:
    """A shipped TOML file by name, or the user's own by path (``~`` expanded). ``what``
    names the kind in messages: "profile", "search space"."""
    if name.endswith(".toml") or "/" in name or "\\" in name:
        path = Path(name).expanduser()
        if not path.is_file():
            raise DseError(f"{what.capitalize()} file {name!r} does not exist.")
        return path
    path = data_dir(folder) / f"{name}.toml"
    if not path.is_file():
        raise DseError(f"Unknown {what} {name!r}. Available: {', '.join(available(folder))}; "
                       f"or pass the path to your own .toml file.")
    return path


def read_toml(path: Path, what: str) -> tuple[dict[str, Any], str]:
    """The parsed table and the text of a TOML file; ``what`` names it in messages
    ("profile file", "experiment file")."""
    if not path.is_file():
        raise DseError(f"The {what} {path} does not exist or is not a regular file.")
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_TOML_BYTES + 1)
    except OSError as exc:
        raise DseError(f"Cannot read the {what} {path}: {exc.strerror}.") from None
    if len(raw) > MAX_TOML_BYTES:
        raise DseError(f"The {what} {path} is larger than {MAX_TOML_BYTES >> 10} KiB; a "
                       f"{what} is a short text file.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DseError(f"The {what} {path} is not UTF-8 text (byte {exc.start}); save it as "
                       f"UTF-8.") from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        raise DseError(f"The {what} {path} is not valid TOML: {exc}.") from None
