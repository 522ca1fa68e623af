"""Where the shipped TOML files live, in a wheel install and in a source checkout alike."""

from __future__ import annotations

from pathlib import Path

from dse.errors import DseError

_PACKAGE = Path(__file__).resolve().parent


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
