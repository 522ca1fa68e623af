"""Names and output folders: the one place that turns a study or experiment name into a path.

A name is a name, never a path: it may come from another person (a study in a shared
PostgreSQL storage), so it is checked against a small alphabet before any folder is made,
and every output folder is checked to lie under the output root the user chose.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from dse.errors import DseError

MAX_NAME = 100
_NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_NAME - 1}}}")
_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def check_name(name: object, what: str = "study") -> str:
    """``name`` if it is 1-100 letters, digits, '.', '_' or '-' starting with a letter or
    digit; otherwise a DseError that says so."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        shown = repr(name) if not isinstance(name, str) or len(name) <= 40 else \
            f"{name[:40]!r}... ({len(name)} characters)"
        raise DseError(
            f"The {what} name {shown} is not allowed: use 1-{MAX_NAME} letters, digits, '.', "
            f"'_' or '-', starting with a letter or digit (a name is never a path)."
        )
    return name


def shown_name(name: str) -> str:
    """A name read from a storage, safe to print: as is if valid, else quoted and escaped."""
    return name if _NAME.fullmatch(name) else repr(name)


def name_from(text: str) -> str:
    """A valid name made from free text (a file stem): other characters become '-'."""
    name = _NOT_IN_NAME.sub("-", text).lstrip("._-")[:MAX_NAME].rstrip("-")
    return name or "study"


def child_dir(root: Path, name: str, what: str = "study") -> Path:
    """The folder ``root/name`` for a checked ``name``, guaranteed to lie under ``root``
    (also when ``root/name`` exists as a symbolic link)."""
    path = root / check_name(name, what)
    if not path.resolve().is_relative_to(root.resolve()):
        raise DseError(f"The {what} folder {path} leads outside {root} (a symbolic link?); "
                       f"remove it or choose another --out.")
    return path


def prepare_dir(path: Path, what: str = "output folder") -> Path:
    """Create ``path`` (and its parents) if needed and check that files can be written in it,
    before any work is done that would be lost if writing failed."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise DseError(f"The {what} {path} exists and is not a folder; choose another "
                       f"--out.") from None
    except OSError as exc:
        raise DseError(f"Cannot create the {what} {path}: {exc.strerror}.") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise DseError(f"Cannot write into the {what} {path}: permission denied.")
    return path


def writable_file(path: Path, what: str = "output file") -> Path:
    """``path`` if a file can be written there: not a folder, its folder writable."""
    if path.is_dir():
        raise DseError(f"The {what} {path} is a folder; give a file name, e.g. "
                       f"{path / 'dashboard.html'}.")
    prepare_dir(path.parent if str(path.parent) else Path("."), "folder of " + what)
    if path.exists() and not os.access(path, os.W_OK):
        raise DseError(f"Cannot write the {what} {path}: permission denied.")
    return path
