"""Imports point one way (FORBIDDEN below is the rule): the numeric core never imports the search,
optuna or plotly; the dashboard never imports the search; the export and measure packages never
import optuna (``dse.handoff`` reads the study for them); nothing but the CLI imports the CLI."""

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


@pytest.mark.parametrize("module", sorted(FORBIDDEN))
def test_imports_point_one_way(module: str) -> None:
    path = PACKAGE / f"{module}.py"
    if not path.exists():
        pytest.fail(f"dse/{module}.py is part of the documented layout but missing")
    imported = imported_modules(path)
    bad = {name for name in imported for banned in FORBIDDEN[module]
           if name == banned or name.startswith(banned + ".")}
    assert not bad, f"dse/{module}.py imports {sorted(bad)}"


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
