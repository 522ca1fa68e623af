"""Imports point one way (FORBIDDEN below is the rule): the numeric core never imports the search,
optuna or plotly; the dashboard never imports the search, and computes its data without plotly;
the export and measure packages never import optuna (``dse.handoff`` reads the study for them);
nothing but the CLI imports the CLI; no module imports itself back through others."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "dse"
FORBIDDEN = {
    "architecture": {"optuna", "plotly", "dse.cost", "dse.search", "dse.proxy"},
    "cost": {"optuna", "plotly", "dse.search", "dse.proxy", "dse.cells"},
    "hardware": {"optuna", "plotly", "dse.search", "dse.cost"},
    "cells": {"optuna", "plotly", "dse.search", "dse.cost", "dse.hardware", "torch"},
    "proxy": {"optuna", "plotly", "dse.search", "dse.cost", "dse.hardware", "torch"},
    "tasks": {"optuna", "plotly", "dse.search", "dse.cost", "torch"},
    "userdata": {"optuna", "plotly", "dse.search", "dse.cost", "torch", "dse.data"},
    "data/sequences": {"optuna", "plotly", "dse.search", "dse.cost", "torch", "pandas"},
    "data/csvfile": {"optuna", "plotly", "dse.search", "dse.cost", "torch"},
    "data/tsfile": {"optuna", "plotly", "dse.search", "dse.cost", "torch", "pandas"},
    "data/build": {"optuna", "plotly", "dse.search", "dse.cost", "torch"},
    "data/describe": {"optuna", "plotly", "dse.search", "dse.cost", "torch"},
    "space": {"optuna", "plotly", "dse.search"},
    "results": {"plotly", "dse.search", "dse.dashboard"},
    "seeds": {"optuna", "plotly", "dse.search"},
    "dashboard": {"optuna", "dse.search", "dse.runner", "dse.cli"},
    "dashboard/data": {"plotly", "dse.dashboard.figures", "dse.dashboard.page"},  # compute, then render
    "dashboard/figures": {"dse.dashboard.page"},
    "handoff": {"plotly", "dse.dashboard", "dse.runner", "dse.cli"},
}
NO_OPTUNA_PACKAGES = ("export", "measure")  # the study a network comes from is read by the caller


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def module_files(module: str) -> list[Path]:
    """``dse/<module>.py``, or every file of the package ``dse/<module>/``."""
    path, package = PACKAGE / f"{module}.py", PACKAGE / module
    if path.exists():
        return [path]
    if (package / "__init__.py").exists():
        return sorted(package.rglob("*.py"))
    pytest.fail(f"dse/{module}.py (or the package dse/{module}/) is part of the documented "
                f"layout but missing")


@pytest.mark.parametrize("module", sorted(FORBIDDEN))
def test_imports_point_one_way(module: str) -> None:
    for path in module_files(module):
        imported = imported_modules(path)
        bad = {name for name in imported for banned in FORBIDDEN[module]
               if name == banned or name.startswith(banned + ".")}
        assert not bad, f"{path.relative_to(PACKAGE.parent)} imports {sorted(bad)}"


@pytest.mark.parametrize("package", NO_OPTUNA_PACKAGES)
def test_export_and_measure_never_import_the_search(package: str) -> None:
    for path in sorted((PACKAGE / package).glob("*.py")):
        bad = {name for name in imported_modules(path)
               if name.split(".")[0] == "optuna" or name.startswith(("dse.search", "dse.results",
                                                                     "dse.handoff", "dse.cli"))}
        assert not bad, f"dse/{package}/{path.name} imports {sorted(bad)}"


def test_only_the_cli_imports_the_cli() -> None:
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.parent.name == "cli":
            continue
        bad = {name for name in imported_modules(path) if name.startswith("dse.cli")}
        assert not bad, f"{path.relative_to(PACKAGE.parent)} imports {sorted(bad)}"


@pytest.mark.parametrize("module", ["dse", "dse.cli"])
def test_importing_dse_does_not_load_optuna_or_plotly(module: str) -> None:
    import subprocess
    import sys

    code = f"import sys, {module}; print('optuna' in sys.modules, 'plotly' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def top_level_imports(path: Path) -> set[str]:
    """The dse modules a file imports when it is imported (not those imported inside functions)."""
    names: set[str] = set()
    statements = list(ast.parse(path.read_text()).body)
    while statements:
        node = statements.pop()
        if isinstance(node, (ast.If, ast.Try)):
            statements += [*node.body, *node.orelse, *getattr(node, "finalbody", [])]
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:  # a submodule, or the module's names
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                names.add(full if full in MODULES else node.module)
    return {name for name in names if name in MODULES}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def test_no_import_cycles() -> None:
    graph = {name: top_level_imports(path) - {name} for name, path in MODULES.items()}
    done: set[str] = set()

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if name in trail:
            pytest.fail("import cycle: " + " -> ".join((*trail[trail.index(name):], name)))
        if name in done:
            return
        for imported in sorted(graph[name]):
            visit(imported, (*trail, name))
        done.add(name)

    for name in sorted(graph):
        visit(name, ())
