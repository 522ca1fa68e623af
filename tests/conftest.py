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


SLOW_MODULES = ("test_search.py",)  # every test there runs a search (trainings, workers, servers)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Whole modules marked ``slow`` (``pytest -m "not slow"`` is the quick subset); other
    modules mark their slow tests themselves."""
    for item in items:
        if item.path.name in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def motion():
    """The built-in motion task (seed 0), loaded once: tests read it, never change it."""
    from dse.tasks import load_task

    return load_task("motion")


def trained_networks(url: str, study_name: str) -> int:
    """Networks a study has trained (each with a complete trial of its own)."""
    import optuna

    study = optuna.load_study(study_name=study_name, storage=url)
    return sum(t.state == optuna.trial.TrialState.COMPLETE and bool(t.user_attrs.get("trained"))
               for t in study.trials)


@pytest.fixture(scope="session")
def small_study(tmp_path_factory) -> Path:
    """One small search, run once for the session: the folder ``dse run`` ran in (the study
    ``s`` is in ``runs/s/``). The tests that take it only read it (export, dashboard)."""
    folder = tmp_path_factory.mktemp("small-study")
    done = run_dse("run", "--profile", "stm32l4", "--space", "small", "--trainings", "6",
                   "--epochs", "1", "--study", "s", "--no-progress", cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder


def refused(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit 2, one line on stderr holding every fragment, no traceback."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def need(package: str):
    """``package``, imported; a skip where it is missing, but a failure in CI, which
    installs every test dependency (a test that hides is a defect)."""
    import importlib
    import os

    try:
        return importlib.import_module(package)
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail(f"{package} is not installed: .ci/run must install it")
        pytest.skip(f"{package} is not installed", allow_module_level=True)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL server on loopback, started for the test session and stopped after.

    Uses Debian's ``postgresql`` package (installed by .ci/run). PostgreSQL refuses to run
    as root, so as root the server runs as the ``postgres`` user.
    """
    import glob
    import os
    import shutil
    import tempfile

    pytest.importorskip("psycopg2")
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not bins:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed: .ci/run must apt-get install postgresql")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    bindir = Path(bins[-1]).parent
    base = Path(tempfile.mkdtemp(prefix="dse-postgres-"))  # not under pytest's 0700 root dirs
    data, sockets = base / "data", base / "sockets"
    sockets.mkdir()
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(base, "postgres")
        shutil.chown(sockets, "postgres")
    port = _free_port()

    def call(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, timeout=120)

    call(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    call(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(base / "server.log"), "-w", "start",
         "-o", f"-h 127.0.0.1 -p {port} -k {sockets} -c max_connections=100")
    try:
        call(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "dse")
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/dse"
    finally:
        call(str(bindir / "pg_ctl"), "-D", str(data), "-w", "-m", "fast", "stop")
        shutil.rmtree(base, ignore_errors=True)
