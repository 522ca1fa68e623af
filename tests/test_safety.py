"""Hostile and careless input, one class at a time: every case is exit 2 with one line naming
the file, field or value, no traceback, nothing written outside the output folder, no secret
echoed, nothing computed lost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import refused

from dse.errors import DseError
from dse.experiment import load_experiment
from dse.paths import check_name, child_dir
from dse.search.storage import masked_url, scrub

FAST = ["--space", "small", "--trainings", "2", "--epochs", "1", "--no-progress"]


def dse(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dse.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout)


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
        path.write_text(f'name = "{name}"\nprofiles = ["stm32l4"]\ntrainings = 2\n')
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


@pytest.mark.slow
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
    path.write_text(f'name = "x"\nprofiles = ["stm32l4"]\ntrainings = 2\n{line}\n')
    with pytest.raises(DseError, match=r"In experiment file .*exp.toml: ") as info:
        load_experiment(path)
    assert message in str(info.value)


COMMANDS = {  # a command that takes the setting's option, before the option
    "run": ["run", "--profile", "stm32l4"],
    "worker": ["worker", "--storage", "sqlite:///s.db", "--study", "s"],
    "evaluate": ["evaluate", "--arch", "gru:4", "--task", "motion"],
    "export": ["export", "--arch", "gru:4", "--task", "motion", "--out", "x"],
    "cost": ["cost", "-p", "stm32l4", "-a", "gru:4", "-F", "3", "-T", "5", "-K", "2"],
}


@pytest.mark.parametrize(("verb", "name"), [
    *[("run", name) for name in ("epochs", "batch_size", "seed", "trainings", "timeout_s",
                                 "train_seeds", "max_latency_ms", "max_energy_uj",
                                 "max_flash_kb", "max_ram_kb")],
    ("worker", "trainings"), ("worker", "timeout_s"),
    ("evaluate", "epochs"), ("evaluate", "batch_size"), ("evaluate", "seed"),
    ("export", "epochs"), ("export", "seed"), ("cost", "max_latency_ms"),
])
def test_cli_options_take_the_bounds_the_config_declares(verb: str, name: str) -> None:
    from dse.cli import build_parser
    from dse.config import SETTINGS, SearchConfig

    setting = SETTINGS[name]
    flag = "--timeout" if name == "timeout_s" else "--" + name.replace("_", "-")
    edges = ([(setting.low, True), (int(setting.high), True), (setting.low - 1, False),
              (int(setting.high) + 1, False)] if setting.kind == "whole"
             else [(setting.high, True), (setting.high * 10, False), (0, False)])
    for value, valid in edges:
        argv = [*COMMANDS[verb], flag, str(value)]
        if valid:
            parsed = getattr(build_parser().parse_args(argv), flag[2:].replace("-", "_"))
            assert parsed == value
            SearchConfig(**{name: value})
        else:
            with pytest.raises(DseError, match=f"argument {flag}: expected a"):
                build_parser().parse_args(argv)
            with pytest.raises(DseError, match=f"The '{name}' value of the search config"):
                SearchConfig(**{name: value})


def test_an_experiment_with_no_profiles_is_refused(tmp_path) -> None:
    path = tmp_path / "exp.toml"
    path.write_text('name = "x"\nprofiles = []\ntrainings = 2\n')
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


# --- 3. memory and time bombs -------------------------------------------------------------

def save_npz(path: Path, **arrays) -> str:
    import numpy as np

    np.savez(path, **arrays)
    return str(path)


def good_arrays(n: int = 20):
    import numpy as np

    return {"X_train": np.zeros((n, 5, 2)), "y_train": np.arange(n) % 2}


def test_a_device_or_a_huge_file_is_refused_before_reading(tmp_path) -> None:
    refused(dse("evaluate", "--arch", "gru:4", "--data", "/dev/zero", cwd=tmp_path, timeout=30),
            "/dev/zero is not a regular file")
    huge = tmp_path / "huge.npz"
    with huge.open("wb") as handle:  # sparse: 5 GiB of nothing, written in no time
        handle.truncate(5 << 30)
    for verb in (["evaluate", "--arch", "gru:4"], ["run", "--profile", "stm32l4", *FAST]):
        refused(dse(*verb, "--data", str(huge), cwd=tmp_path, timeout=30),
                "huge.npz is 5.0 GiB; the limit is 4 GiB")


def test_a_huge_label_or_declared_shape_allocates_nothing(tmp_path) -> None:
    import io
    import zipfile

    import numpy as np

    arrays = good_arrays()
    arrays["y_train"] = arrays["y_train"] * 2**40
    refused(dse("evaluate", "--arch", "gru:4", "--data", save_npz(tmp_path / "l.npz", **arrays),
                cwd=tmp_path, timeout=30), "has label 1.09951e+12", "at most 65,536 classes")
    header = io.BytesIO()  # an .npy header that claims 400 GB, followed by no data
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (10**9, 100, 1)})
    with zipfile.ZipFile(tmp_path / "claims.npz", "w") as archive:
        archive.writestr("X_train.npy", b"\x93NUMPY\x01\x00" + header.getvalue()[8:])
        archive.writestr("y_train.npy", b"")
    refused(dse("evaluate", "--arch", "gru:4", "--data", str(tmp_path / "claims.npz"),
                cwd=tmp_path, timeout=30), "claims.npz")


@pytest.mark.slow
def test_a_grid_is_enumerated_lazily_and_an_endless_one_refused(tmp_path) -> None:
    import optuna

    big = tmp_path / "big.toml"
    big.write_text("layers = [1, 3]\ncells = [" + ", ".join(str(8 + k) for k in range(40)) + "]\n")
    result = dse("run", "--profile", "stm32l4", "--space", str(big), "--sampler", "grid",
                 "--trainings", "4", "--epochs", "1", "--no-progress", "--study", "g",
                 "--train-seeds", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr  # 393,840 candidates: none queued up front
    trials = optuna.load_study(study_name="g", storage=f"sqlite:///{tmp_path}/runs/g/study.db").trials
    trained = [t for t in trials if t.user_attrs.get("trained")]
    assert len(trained) == 4 and len({t.user_attrs["arch"] for t in trained}) == 4
    huge = tmp_path / "huge.toml"
    huge.write_text("layers = [1, 6]\ncells = [" + ", ".join(str(8 + k) for k in range(40)) + "]\n")
    refused(dse("run", "--profile", "stm32l4", "--space", str(huge), "--sampler", "grid",
                *FAST[2:], cwd=tmp_path), "--sampler grid would enumerate all 8,402,051,280 networks",
            "the limit is 1,000,000")


def test_a_network_too_large_to_train_is_refused_before_allocating(tmp_path) -> None:
    arch = "lstm:" + ",".join(["4096"] * 16)
    refused(dse("evaluate", "--arch", arch, "--task", "motion", cwd=tmp_path, timeout=60),
            "would need about", "GiB to train (the limit is 4 GiB)")


# --- 4. silent wrong answers: the data ----------------------------------------------------

def test_complex_features_are_refused(tmp_path) -> None:
    arrays = good_arrays()
    arrays["X_train"] = arrays["X_train"] + 1j
    refused(dse("evaluate", "--arch", "gru:4", "--data", save_npz(tmp_path / "c.npz", **arrays),
                cwd=tmp_path), "'X_train' holds complex values")


@pytest.mark.parametrize("scale", [1e30, 1e-30])
def test_the_scale_of_the_data_does_not_matter(tmp_path, scale: float) -> None:
    import numpy as np

    from dse.userdata import load_npz

    rng = np.random.default_rng(0)
    X = rng.normal(3, 2, size=(60, 8, 3))
    y = np.arange(60) % 3
    plain = load_npz(save_npz(tmp_path / "a.npz", X_train=X, y_train=y))
    scaled = load_npz(save_npz(tmp_path / "b.npz", X_train=X * scale, y_train=y))
    np.testing.assert_allclose(scaled.X_train, plain.X_train, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(plain.X_train.std(axis=(0, 1)), 1, atol=1e-3)


def test_json_never_prints_a_non_number(capsys) -> None:
    from dse.cli.common import print_json

    print_json({"latency_ms": float("inf"), "accuracy": float("nan"), "ok": [1.5]})
    assert json.loads(capsys.readouterr().out) == {"accuracy": None, "latency_ms": None,
                                                   "ok": [1.5]}


# --- 5. resume after the inputs changed ---------------------------------------------------

@pytest.mark.slow
def test_resume_after_the_profile_or_space_changed_is_refused(tmp_path) -> None:
    from dse.resources import data_dir

    profile, space = tmp_path / "board.toml", tmp_path / "space.toml"
    profile.write_text((data_dir("hardware_profiles") / "stm32l4.toml").read_text())
    space.write_text((data_dir("search_spaces") / "small.toml").read_text())
    args = ["run", "--profile", str(profile), "--space", str(space), "--study", "r",
            "--trainings", "2", "--epochs", "1", "--no-progress"]
    assert dse(*args, cwd=tmp_path).returncode == 0
    profile.write_text(profile.read_text().replace("ram_bytes = 131_072", "ram_bytes = 65_536"))
    refused(dse(*args, cwd=tmp_path), "Study 'r' was made with other inputs: the profile",
            "changed since (ram_bytes: 131072 -> 65536)", "--study NEW_NAME")
    profile.write_text(profile.read_text().replace("ram_bytes = 65_536", "ram_bytes = 131_072"))
    space.write_text(space.read_text().replace("cells = [8, 16, 32, 64]", "cells = [8, 16, 32]"))
    refused(dse(*args, cwd=tmp_path), "the search space", "cells: [8, 16, 32, 64] -> [8, 16, 32]")


# --- 6. finished work lost -----------------------------------------------------------------

@pytest.mark.slow
def test_a_seed_near_the_top_of_32_bits_runs(tmp_path) -> None:
    result = dse("run", "--profile", "stm32l4", "--seed", "4294967290", "--space", "small",
                 "--trainings", "4", "--epochs", "1", "--no-progress", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["trained"] == 4


def test_an_output_path_that_is_a_folder_is_refused_before_training(tmp_path) -> None:
    (tmp_path / "runs" / "s" / "trials.csv").mkdir(parents=True)
    refused(dse("run", "--profile", "stm32l4", "--study", "s", *FAST, cwd=tmp_path),
            "trials.csv is a folder")
    assert not (tmp_path / "runs" / "s" / "study.db").exists()  # no study, nothing trained


def test_a_typo_in_the_profile_is_reported_before_training(tmp_path) -> None:
    refused(dse("evaluate", "--arch", "lstm:64", "--task", "motion", "--epochs", "100000",
                "--profile", "stm32l44", cwd=tmp_path, timeout=60),
            "Unknown profile 'stm32l44'")


@pytest.mark.slow
def test_a_failed_write_names_the_file_and_keeps_the_trials(tmp_path, monkeypatch) -> None:
    import errno

    import optuna

    from dse import results
    from dse.config import SearchConfig
    from dse.runner import run

    def disk_full(frame, out_dir):
        raise OSError(errno.ENOSPC, "No space left on device", str(out_dir / "trials.csv"))

    monkeypatch.setattr(results, "write_tables", disk_full)
    with pytest.raises(DseError, match=r"Could not write .*trials.csv: No space left on device. "
                                       r"The finished trials are safe in the storage"):
        run(SearchConfig(space="small", trainings=3, epochs=1, train_seeds=1), study_name="w",
            out_root=tmp_path, show_progress=False)
    study = optuna.load_study(study_name="w", storage=f"sqlite:///{tmp_path}/w/study.db")
    assert sum(bool(t.user_attrs.get("trained")) for t in study.trials) == 3


# --- 7. tracebacks where one line is due ----------------------------------------------------

def test_pickles_are_refused_and_never_executed(tmp_path) -> None:
    import numpy as np

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    arrays = good_arrays()
    arrays["y_train"] = np.array([Payload()] * 20, dtype=object)
    np.savez(tmp_path / "p.npz", **arrays, allow_pickle=True)
    refused(dse("evaluate", "--arch", "gru:4", "--data", str(tmp_path / "p.npz"), cwd=tmp_path),
            "'y_train' holds object/pickled values")
    assert not marker.exists()


def test_damaged_archives_and_other_files_are_one_line(tmp_path) -> None:
    import numpy as np

    good = Path(save_npz(tmp_path / "good.npz", **good_arrays()))
    raw = good.read_bytes()
    (tmp_path / "cut.npz").write_bytes(raw[: len(raw) // 2])
    corrupt = bytearray(raw)
    corrupt[200] ^= 0xFF  # inside X_train's data: the CRC no longer matches
    (tmp_path / "crc.npz").write_bytes(bytes(corrupt))
    np.save(tmp_path / "plain.npy", np.zeros((4, 5, 2)))
    cases = {"cut.npz": "not a readable .npz archive", "crc.npz": "not a readable .npz archive",
             "plain.npy": "is a single .npy array"}
    for name, message in cases.items():
        refused(dse("evaluate", "--arch", "gru:4", "--data", str(tmp_path / name), cwd=tmp_path),
                name, message)


@pytest.mark.parametrize(("arrays", "message"), [
    ({"X_train": "empty", "y_train": "empty"}, "it needs at least one sample"),
    ({"X_train": "no-steps", "y_train": "ok"}, "has shape (20, 0, 2)"),
    ({"X_train": "ok", "y_train": "huge-float"}, "has label 1e+40"),
])
def test_degenerate_arrays_are_one_line(tmp_path, arrays: dict, message: str) -> None:
    import numpy as np

    made = {"empty": np.zeros((0, 5, 2)), "no-steps": np.zeros((20, 0, 2)),
            "ok": np.zeros((20, 5, 2)), "huge-float": np.full(20, 1e40)}
    values = {"X_train": made[arrays["X_train"]],
              "y_train": np.zeros(0) if arrays["y_train"] == "empty" else
              (np.arange(20) % 2 if arrays["y_train"] == "ok" else made["huge-float"])}
    result = dse("evaluate", "--arch", "gru:4", "--data", save_npz(tmp_path / "d.npz", **values),
                 cwd=tmp_path)
    refused(result, message)  # one line: no RuntimeWarnings either


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_no_warning_for_any_float_width(tmp_path, dtype: str) -> None:
    """Features in any float width: a good file runs with nothing on stderr, a bad one is
    one line (a bound compared in the array's own dtype used to print an overflow warning)."""
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5, 2)).astype(dtype)
    y = np.arange(40) % 2
    good = dse("evaluate", "--arch", "gru:4", "--epochs", "1", "--data",
               save_npz(tmp_path / "good.npz", X_train=X, y_train=y), cwd=tmp_path)
    assert good.returncode == 0 and good.stderr == "", good.stderr
    refused(dse("evaluate", "--arch", "gru:4", "--data",
                save_npz(tmp_path / "bad.npz", X_train=X, y_train=y - 1), cwd=tmp_path),
            "bad.npz", "'y_train' has label -1")


@pytest.mark.parametrize("kind", ["profile", "space", "experiment"])
def test_files_that_are_not_utf8_are_one_line(tmp_path, kind: str) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    args = {"profile": ["cost", "--profile", str(path), "--arch", "lstm:8", "-F", "2", "-T", "3",
                        "-K", "2"],
            "space": ["run", "--profile", "stm32l4", "--space", str(path), *FAST[2:]],
            "experiment": ["experiment", "run", str(path)]}[kind]
    refused(dse(*args, cwd=tmp_path), "latin1.toml is not UTF-8 text")


@pytest.mark.slow
def test_output_folders_and_files_that_cannot_be_written(tmp_path) -> None:
    (tmp_path / "afile").write_text("x")
    refused(dse("run", "--profile", "stm32l4", "--out", "afile", *FAST, cwd=tmp_path),
            "afile exists and is not a folder")
    refused(dse("run", "--profile", "stm32l4", "--out", "/dev/null/x", *FAST, cwd=tmp_path),
            "Cannot create the output folder /dev/null/x")
    run = dse("run", "--profile", "stm32l4", "--study", "d", *FAST, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    refused(dse("dashboard", "--storage", f"sqlite:///{tmp_path}/runs/d/study.db", "--study", "d",
                "-o", str(tmp_path), cwd=tmp_path), "is a folder; give a file name")


# --- 8. workers end with their parent ---------------------------------------------------------

@pytest.mark.slow
def test_kill_9_of_a_run_ends_its_worker_processes(tmp_path) -> None:
    import os
    import signal
    import time

    process = subprocess.Popen([sys.executable, "-m", "dse.cli", "run", "--profile", "stm32l4",
                                "--space", "small", "--trainings", "40", "--epochs", "3",
                                "--workers", "2", "--no-progress"], cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def children() -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            try:
                stat = (entry / "stat").read_text()
            except (OSError, ValueError):
                continue
            if entry.name.isdigit() and int(stat.rsplit(")", 1)[1].split()[1]) == process.pid:
                found.append(int(entry.name))
        return found

    deadline = time.monotonic() + 60
    while len(children()) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    workers = children()
    assert len(workers) >= 2  # the two trainers (and the resource tracker)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 15
    alive = workers
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [pid for pid in workers if Path(f"/proc/{pid}").exists()
                 and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()]
    assert alive == [], f"still running after the parent was killed: {alive}"
