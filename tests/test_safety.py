"""Hostile and careless input, one class at a time: every case is exit 2 with one line naming
the file, field or value, no traceback, nothing written outside the output folder, no secret
echoed, nothing computed lost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dse.errors import DseError
from dse.experiment import load_experiment
from dse.paths import check_name, child_dir
from dse.search.storage import masked_url, scrub

FAST = ["--space", "small", "--trials", "2", "--epochs", "1", "--no-progress"]


def dse(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dse.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout)


def refused(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit 2, one line on stderr holding every fragment, no traceback."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


# --- 1. path traversal through names ------------------------------------------------------

@pytest.mark.parametrize("name", ["../../escaped", "/abs/path", "", ".hidden", "a/b", "x" * 101,
                                  "-flag", "tab\tname", "é"])
def test_a_study_name_is_never_a_path(tmp_path, name: str) -> None:
    work = tmp_path / "work"
    work.mkdir()
    result = dse("run", "--profile", "stm32l4", f"--study={name}", *FAST, cwd=work)
    refused(result, "is not allowed: use 1-100 letters, digits")
    assert files_under(tmp_path) == set()  # nothing written anywhere, not even runs/


def test_an_experiment_name_is_never_a_path(tmp_path) -> None:
    for name in ("../../x", ""):
        path = tmp_path / "exp.toml"
        path.write_text(f'name = "{name}"\nprofiles = ["stm32l4"]\ntrials = 2\n')
        with pytest.raises(DseError, match="experiment name .* is not allowed"):
            load_experiment(path)


def test_output_folders_stay_under_the_root(tmp_path) -> None:
    assert child_dir(tmp_path, "ok-name.1") == tmp_path / "ok-name.1"
    (tmp_path / "outside").mkdir()
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(DseError, match="leads outside"):
        child_dir(tmp_path / "root", "link")
    with pytest.raises(DseError, match="300 characters"):
        check_name("y" * 300)


def test_a_name_from_a_shared_storage_is_printed_escaped(tmp_path) -> None:
    import optuna

    url = f"sqlite:///{tmp_path / 's.db'}"
    optuna.create_study(study_name="../../\x1b[31mevil", storage=url)
    result = dse("dashboard", "--storage", url, "--study", "nope", "-o", "d.html", cwd=tmp_path)
    refused(result, "No dse study named 'nope'", r"'../../\x1b[31mevil'")
    assert "\x1b" not in result.stderr


# --- 2. secrets ---------------------------------------------------------------------------

SECRET_URL = "postgresql+psycopg2://dse:hunter2-s3cret@127.0.0.1:1/dse"


def test_passwords_are_masked_wherever_a_url_is_shown() -> None:
    assert masked_url(SECRET_URL) == "postgresql+psycopg2://dse:***@127.0.0.1:1/dse"
    assert masked_url("postgresql://u:p%40ss@h/db") == "postgresql://u:***@h/db"
    assert masked_url("sqlite:///runs/x.db") == "sqlite:///runs/x.db"
    assert masked_url("not a url://u:pw@h") == "not a url://u:***@h"
    assert scrub(f"could not connect to {SECRET_URL} as hunter2-s3cret", SECRET_URL) == \
        "could not connect to postgresql+psycopg2://dse:***@127.0.0.1:1/dse as ***"


@pytest.mark.parametrize("verb", ["run", "worker", "dashboard"])
def test_a_password_is_not_echoed_on_errors(tmp_path, verb: str) -> None:
    args = {"run": ["run", "--profile", "stm32l4", "--storage", SECRET_URL, *FAST],
            "worker": ["worker", "--storage", SECRET_URL, "--study", "s", "--no-progress"],
            "dashboard": ["dashboard", "--storage", SECRET_URL, "--study", "s"]}[verb]
    result = dse(*args, cwd=tmp_path)
    refused(result, "Cannot open storage", "dse:***@127.0.0.1")
    assert "hunter2" not in result.stderr + result.stdout


def test_manifest_and_json_hold_no_password(tmp_path, postgres_url) -> None:
    with_password = postgres_url.replace("postgres@", "postgres:pw-not-needed@")  # trust auth
    result = dse("run", "--profile", "stm32l4", "--storage", with_password, "--study", "m",
                 "--json", *FAST, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["storage"] == postgres_url.replace("postgres@",
                                                                       "postgres:***@")
    written = "".join(p.read_text(errors="replace") for p in files_under(tmp_path)
                      if p.suffix in (".json", ".csv", ".html"))
    assert "pw-not-needed" not in written + result.stdout + result.stderr


# --- 4. silent wrong answers: one validation for the CLI and the files ------------------------

@pytest.mark.parametrize(("line", "message"), [
    ("epochs = 0", "'epochs' value of the search config must be a whole number in the range [1,"),
    ("max_latency_ms = -5", "'max_latency_ms' value of the search config must be a number in the"),
    ("seed = -1", "'seed' value of the search config must be a whole number in the range [0, "),
    ("max_flash_kb = 0", "'max_flash_kb' value"),
])
def test_experiment_files_refuse_what_the_cli_refuses(tmp_path, line: str, message: str) -> None:
    path = tmp_path / "exp.toml"
    path.write_text(f'name = "x"\nprofiles = ["stm32l4"]\ntrials = 2\n{line}\n')
    with pytest.raises(DseError, match=r"In experiment file .*exp.toml: ") as info:
        load_experiment(path)
    assert message in str(info.value)


def test_an_experiment_with_no_profiles_is_refused(tmp_path) -> None:
    path = tmp_path / "exp.toml"
    path.write_text('name = "x"\nprofiles = []\ntrials = 2\n')
    with pytest.raises(DseError, match="'profiles' value .* must be a non-empty list of strings"):
        load_experiment(path)


def test_an_absurd_throughput_is_refused_not_priced(tmp_path) -> None:
    from dse.resources import data_dir

    text = (data_dir("hardware_profiles") / "stm32l4.toml").read_text()
    path = tmp_path / "mine.toml"
    path.write_text(text.replace("int8 = 0.6 ", "int8 = 1e-320 "))
    result = dse("cost", "--profile", str(path), "--arch", "lstm:8", "-F", "3", "-T", "5", "-K",
                 "2", "--json", cwd=tmp_path)
    refused(result, "mine.toml", "'int8' value", "[0.0001, 1000]")


@pytest.mark.parametrize("seed", ["-1", "4294967296"])
def test_seeds_outside_32_bits_are_refused(tmp_path, seed: str) -> None:
    refused(dse("evaluate", "--arch", "gru:4", "--task", "motion", "--seed", seed, cwd=tmp_path),
            "argument --seed: expected a whole number in [0, 4294967295]")


# --- 8. commands that read a study never create storage -----------------------------------

@pytest.mark.parametrize("verb", ["worker", "dashboard"])
def test_reading_a_mistyped_sqlite_url_creates_nothing(tmp_path, verb: str) -> None:
    url = f"sqlite:///{tmp_path / 'typo.db'}"
    args = ["worker", "--storage", url, "--study", "s", "--no-progress"] if verb == "worker" \
        else ["dashboard", "--storage", url, "--study", "s", "-o", str(tmp_path / "d.html")]
    refused(dse(*args, cwd=tmp_path), "no such file", "typo.db", "never creates one")
    assert files_under(tmp_path) == set()


def test_reading_a_database_without_study_tables_adds_none(tmp_path) -> None:
    import sqlite3

    db = tmp_path / "other.db"
    sqlite3.connect(db).execute("CREATE TABLE notes (x)").connection.commit()
    result = dse("dashboard", "--storage", f"sqlite:///{db}", "--study", "s", cwd=tmp_path)
    refused(result, "holds no optuna studies")
    tables = sqlite3.connect(db).execute("SELECT name FROM sqlite_master").fetchall()
    assert tables == [("notes",)]
