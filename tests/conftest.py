"""Shared test helpers: run the real ``dse`` command in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def run_dse(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``python -m dse.cli ARGS`` as a user would; capture text output."""
    return subprocess.run(
        [sys.executable, "-m", "dse.cli", *args],
        capture_output=True, text=True, cwd=cwd, timeout=timeout,
    )


@pytest.fixture
def dse():
    return run_dse
