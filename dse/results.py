"""From an optuna storage to pandas: the trials table, the Pareto set, CSV and manifest files.

Reads finished studies only; knows nothing of the running search.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from threadpoolctl import threadpool_info

from dse.pareto import non_dominated
from dse.seeds import seed_scores

COLUMNS = [  # the file-format spec (docs/file-formats.md), then the extras
    "number", "arch", "dtype", "state", "accuracy", "accuracy_quantized", "latency_ms",
    "flash_bytes", "ram_bytes", "energy_uj", "feasible", "violations",
    "cell", "layers", "cells", "params", "macc", "trained", "reused_from", "variant_of",
    "diverged", "train_seconds", "worker", "runtime", "cost_basis",
]
SEED_COLUMNS = ["accuracy_mean", "accuracy_std", "accuracy_quantized_mean",
                "accuracy_quantized_std", "seeds"]  # over the training seeds
TIMING_COLUMNS = ("train_seconds",)
MAXIMIZED = ("accuracy", "accuracy_quantized")
PARETO_TABLE = ["arch", "dtype", "accuracy", "accuracy_quantized", "accuracy_mean",
                "accuracy_quantized_mean",
                "accuracy_quantized_std", "seeds", "latency_ms", "flash_bytes", "ram_bytes",
                "energy_uj"]


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial with its architecture, cost and scores (NaN where never trained);
    the ``_mean`` and ``_std`` columns are over the training seeds."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        attrs = trial.user_attrs
        if trial.state != optuna.trial.TrialState.COMPLETE:  # asked, not (yet) told: a
            continue  # process sharing the study may be writing its attributes right now
        row: dict[str, Any] = {name: attrs.get(name) for name in COLUMNS}
        row["number"], row["state"] = trial.number, trial.state.name
        row["reused_from"] = attrs.get("reused_from", -1)
        row["variant_of"] = attrs.get("variant_of", -1)
        row.update(_seed_columns(attrs))
        rows.append(row)
    frame = pd.DataFrame(rows, columns=COLUMNS + SEED_COLUMNS)
    for name in ("accuracy", "accuracy_quantized", "latency_ms", "energy_uj", "train_seconds",
                 *SEED_COLUMNS[:-1]):
        frame[name] = frame[name].astype(float)
    for name in ("number", "flash_bytes", "ram_bytes", "layers", "params", "macc", "reused_from",
                 "variant_of", "seeds"):
        frame[name] = frame[name].astype("int64")
    frame["feasible"] = frame["feasible"].astype(bool)
    frame["trained"] = frame["trained"].fillna(False).astype(bool)
    frame["pareto"] = pareto_mask(frame, objectives_of(study))
    return frame


def _seed_columns(attrs: dict[str, Any]) -> dict[str, float]:
    """Mean, spread (sample standard deviation; NaN from one seed) and number of seeds."""
    if attrs.get("accuracy") is None or np.isnan(attrs["accuracy"]):
        return {name: np.nan for name in SEED_COLUMNS[:-1]} | {"seeds": 0}
    scores = seed_scores(attrs)
    row: dict[str, float] = {"seeds": len(scores["accuracy"])}
    for name, values in scores.items():
        row[f"{name}_mean"] = float(values.mean())
        row[f"{name}_std"] = float(values.std(ddof=1)) if len(values) > 1 else np.nan
    return row


def objectives_of(study: optuna.Study) -> tuple[str, ...]:
    config = study.user_attrs.get("dse_config", {})
    return tuple(config.get("objectives", ("accuracy_quantized", "latency_ms")))


def pareto_mask(frame: pd.DataFrame, objectives: tuple[str, ...]) -> np.ndarray:
    """True for the rows on the Pareto front of ``objectives`` (accuracies as their mean over
    seeds): feasible, complete, scored, not dominated by any other such row, and the first
    of any identical architectures."""
    columns = [f"{name}_mean" if name in MAXIMIZED else name for name in objectives]
    eligible = (
        (frame["state"] == "COMPLETE").to_numpy()
        & frame["feasible"].to_numpy(dtype=bool)
        & frame[columns].notna().all(axis=1).to_numpy()
        & ~frame.duplicated(subset=["arch", "dtype"]).to_numpy()
    )
    signs = np.array([-1.0 if name in MAXIMIZED else 1.0 for name in objectives])
    points = frame[columns].to_numpy(dtype=float) * signs  # all minimized now
    mask = np.zeros(len(frame), dtype=bool)
    mask[eligible] = non_dominated(points[eligible])
    return mask


def pareto_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The Pareto rows, best accuracy first."""
    front = frame[frame["pareto"]]
    sort_by = ("accuracy_quantized_mean" if front["accuracy_quantized_mean"].notna().any()
               else "accuracy_mean")
    return front.sort_values([sort_by, "latency_ms"], ascending=[False, True])


def write_tables(frame: pd.DataFrame, out_dir: Path) -> None:
    """``trials.csv`` and ``pareto.csv`` (same columns)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out_dir / "trials.csv", index=False)
    pareto_frame(frame).to_csv(out_dir / "pareto.csv", index=False)


def environment() -> dict[str, Any]:
    """Versions and source state that a rerun should match."""
    versions: dict[str, str | None] = {}
    for package in ("dse", "optuna", "numpy", "pandas", "plotly"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": versions,
        "blas": blas_kernels(),
        "git": _git_state(),
    }


def blas_kernels() -> str:
    """numpy's BLAS and the kernels it picked for this CPU (e.g. 'openblas 0.3.31 Haswell'):
    other kernels round matrix products differently, which changes proxy scores."""
    for library in threadpool_info():
        if library["user_api"] == "blas":
            kernels = library.get("architecture") or "unknown kernels"
            return f"{library['internal_api']} {library['version']} {kernels}"
    return "unknown"


def _git_state() -> dict[str, Any]:
    source = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(source), *args], capture_output=True,
                                  text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": bool(status) if commit else None}


def write_manifest(out_dir: Path, manifest: dict[str, Any]) -> Path:
    path = out_dir / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
    return path
