"""Experiments rerun to identical results, and verify says why when they do not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dse.config import DEFAULT_TRAIN_SEEDS
from dse.errors import DseError
from dse.experiment import load_experiment

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"


def make_data(path: Path, seed: int = 0) -> None:
    """A small two-class sequence task: the class sets the sign of a slow drift."""
    rng = np.random.default_rng(seed)
    y = np.arange(120) % 2
    drift = np.linspace(0, 1, 12)[None, :, None] * (2 * y - 1)[:, None, None]
    X = (drift + rng.normal(0, 0.8, size=(120, 12, 2))).astype(np.float32)
    np.savez(path, X_train=X, y_train=y)


def write_experiment(folder: Path) -> Path:
    (folder / "space.toml").write_text(
        'layers = [1, 1]\ncells = [4, 8]\ncell_types = ["lstm", "gru"]\ndtypes = ["int8"]\n')
    path = folder / "tiny.toml"
    path.write_text(
        'name = "tiny"\nprofiles = ["stm32l4"]\nspace = "space.toml"\ndata = "data.npz"\n'
        'sampler = "tpe"\ntrainings = 4\nseed = 1\nepochs = 1\n')
    return path


def dse(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dse.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


@pytest.mark.slow
def test_experiment_reruns_identically_and_verify_reports_data_change(tmp_path) -> None:
    make_data(tmp_path / "data.npz")
    path = write_experiment(tmp_path)
    first = dse("experiment", "run", str(path), "--out", "a", "--no-progress", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    second = dse("experiment", "run", str(path), "--out", "b", "--no-progress", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    study = "stm32l4-data-space-seed1"
    for name in ("trials.csv", "pareto.csv"):
        a = (tmp_path / "a" / "tiny" / study / name).read_text().splitlines()
        b = (tmp_path / "b" / "tiny" / study / name).read_text().splitlines()
        assert _without_timing(a) == _without_timing(b)
    manifest = json.loads((tmp_path / "a" / "tiny" / "experiment.json").read_text())
    assert len(manifest["data_sha256"]) == 1 and manifest["hash"]
    # the file leaves train_seeds out: both manifests say the default the run used
    assert manifest["resolved"]["studies"][0]["train_seeds"] == DEFAULT_TRAIN_SEEDS
    run_manifest = json.loads((tmp_path / "a" / "tiny" / study / "manifest.json").read_text())
    assert run_manifest["config"]["train_seeds"] == DEFAULT_TRAIN_SEEDS
    assert {"python", "platform", "packages", "blas", "git"} <= set(manifest["environment"])

    verified = dse("experiment", "verify", str(path), "--out", "a", "--no-progress", "--json",
                   cwd=tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["identical"] is True

    make_data(tmp_path / "data.npz", seed=2)  # the data changes under the stored results
    changed = dse("experiment", "verify", str(path), "--out", "a", "--no-progress", "--json",
                  cwd=tmp_path)
    assert changed.returncode == 3
    report = json.loads(changed.stdout)
    assert report["identical"] is False
    assert any("data file" in cause and "changed (sha256" in cause
               for cause in report["likely_causes"])

    # Results stored on a machine whose BLAS picked other kernels: verify names that cause.
    manifest_path = tmp_path / "a" / "tiny" / "experiment.json"
    manifest["environment"]["blas"] = "openblas 0.3.31 OtherKernels"
    manifest_path.write_text(json.dumps(manifest))
    other = dse("experiment", "verify", str(path), "--out", "a", "--no-progress", "--json",
                cwd=tmp_path)
    assert other.returncode == 3
    assert any(cause.startswith("numpy's BLAS kernels changed (openblas 0.3.31 OtherKernels ->")
               for cause in json.loads(other.stdout)["likely_causes"])


def _without_timing(lines: list[str]) -> list[list[str]]:
    header = lines[0].split(",")
    drop = {header.index(c) for c in ("train_seconds", "worker") if c in header}
    return [[v for i, v in enumerate(line.split(",")) if i not in drop] for line in lines]


def test_shipped_experiments_load() -> None:
    files = sorted(EXPERIMENTS.glob("*.toml"))
    assert len(files) >= 3
    for path in files:
        experiment = load_experiment(path)
        assert experiment.configs and len(experiment.hash) == 16


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('profiles = ["stm32l4"]\ntrainings = 3', "missing the field 'name'"),
        ('name = "x"\nprofiles = ["stm32l4"]\ntrainings = "3"',
         "'trainings' value .* must be a whole number"),
        ('name = "x"\nprofiles = ["stm32l4"]\ntrainings = 3\nseeds = 1', "Unknown field 'seeds'"),
        ('name = "x"\nprofiles = ["stm32l4"]\ntrainings = 3\nsampler = "cma"',
         "'sampler' value .* must be one of: auto, ehvi, tpe"),
        ('name = "x"\nprofiles = ["stm32l4"]\ntrainings = 3\nepochs = 100001',
         r"'epochs' value .* must be a whole number in the range \[1, 100,000\]"),
        ('name = "x"\nprofiles = ["stm32l4"]\ntrainings = 3\nworkers = 0',
         r"'workers' value .* must be a whole number in the range \[1, 256\]"),
        ('name = "x"\nprofiles = ["stm32l4"]\ntrainings = 3\ntask = "motion"\ndata = "d.npz"',
         "In experiment file .*bad.toml: Give either a built-in task"),
    ],
)
def test_bad_experiment_files(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(DseError, match=message):
        load_experiment(path)
