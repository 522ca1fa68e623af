"""Reproducible experiments: a TOML file that names a whole search, run and verified.

An experiment resolves to one :class:`~dse.config.SearchConfig` per profile and runs each
through the same code path as ``dse run``. Its results live in ``<out>/<name>/``: one
folder per study plus ``experiment.json`` (resolved config and its hash, versions, Python,
platform, git commit and dirty flag, data checksums, start and end times) and a dashboard
comparing the profiles. ``verify`` reruns from scratch in a temporary folder and compares.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from dse import checks, results, runner
from dse.config import SETTINGS, WORKERS, SearchConfig
from dse.errors import DseError
from dse.paths import check_name, child_dir, prepare_dir
from dse.resources import read_toml
from dse.userdata import file_sha256

# The search settings a file may give, with SearchConfig's defaults and checks: not one
# 'profile' (the file's 'profiles' makes one study each) nor a timeout (a rerun must match).
CONFIG_FIELDS = tuple(name for name in SETTINGS if name not in ("profile", "timeout_s"))
_FIELDS = {  # key -> required
    "name": True, "description": False, "profiles": True,
    **{name: name == "trainings" for name in CONFIG_FIELDS}, "workers": False,
}
COMPARED_OUT = set(results.TIMING_COLUMNS) | {"worker"}


@dataclass(frozen=True)
class Experiment:
    """A parsed experiment file: its name, where it is, and one config per profile."""

    name: str
    path: Path
    description: str
    configs: tuple[SearchConfig, ...]
    workers: int

    def resolved(self) -> dict[str, Any]:
        """The resolved configs, as plain data: what the hash covers."""
        return {"name": self.name,
                "studies": [c.identity() | {"trainings": c.trainings, "timeout_s": c.timeout_s}
                            for c in self.configs]}

    @property
    def hash(self) -> str:
        canonical = json.dumps(self.resolved(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def load_experiment(path: str | Path) -> Experiment:
    """Parse and check an experiment file; relative data/space paths are from its folder.
    Its values go through the same checks as the CLI's (:class:`SearchConfig`)."""
    path = Path(path)
    data, _ = read_toml(path, "experiment file")
    where = f"experiment file {path}"
    unknown = sorted(set(data) - set(_FIELDS))
    if "trials" in data:
        raise DseError(f"The field 'trials' of {where} is now 'trainings': the budget counts "
                       f"networks trained (one training scores every dtype of a network). "
                       f"Rename it.")
    if unknown:
        raise DseError(f"Unknown field {unknown[0]!r} in {where}. "
                       f"Known fields: {', '.join(_FIELDS)}.")
    for key, required in _FIELDS.items():
        if required and key not in data:
            raise DseError(f"The {where} is missing the field {key!r}.")
    name = check_name(data["name"], "experiment")
    profiles = checks.strings("profiles", data["profiles"], where)
    workers = data.get("workers", WORKERS.default)
    WORKERS.check("workers", workers, where)
    here = path.resolve().parent

    def local(value: Any) -> Any:
        if not isinstance(value, str) or not value.endswith((".toml", ".npz")):
            return value
        return str((here / Path(value).expanduser()).resolve())

    settings = {name: data[name] for name in CONFIG_FIELDS if name in data}
    settings.update({name: local(settings[name]) for name in ("space", "data") if name in settings})
    if "objectives" in settings:
        settings["objectives"] = checks.strings("objectives", settings["objectives"], where)
    if "data" in settings:  # a data file instead of the default task
        settings.setdefault("task", None)
    try:
        configs = tuple(SearchConfig(profile=local(profile), **settings)
                        for profile in profiles)
    except DseError as exc:
        raise DseError(f"In {where}: {exc}") from None
    description = checks.text("description", data["description"], where) \
        if "description" in data else ""
    return Experiment(name, path, description, configs, workers)


def run_experiment(experiment: Experiment, *, out_root: Path = Path("runs/experiments"),
                   workers: int | None = None, show_progress: bool = True) -> Path:
    """Run (or resume) every study of the experiment; write ``experiment.json``."""
    out_dir = prepare_dir(child_dir(prepare_dir(out_root), experiment.name, "experiment"))
    started = datetime.now(UTC).isoformat(timespec="seconds")
    studies = []
    for config in experiment.configs:
        outputs = runner.run(config, out_root=out_dir, workers=workers or experiment.workers,
                             show_progress=show_progress)
        studies.append(optuna.load_study(study_name=outputs.study_name, storage=outputs.storage))
    if len(studies) > 1:
        runner.write_dashboard(studies, out_dir / "dashboard.html")
    manifest = {
        "experiment": experiment.name,
        "file": str(experiment.path),
        "hash": experiment.hash,
        "resolved": experiment.resolved(),
        "data_sha256": {c.data: file_sha256(c.data) for c in experiment.configs if c.data},
        "studies": [runner.default_study_name(c) for c in experiment.configs],
        "started": started,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "environment": results.environment(),
    }
    (out_dir / "experiment.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return out_dir


@dataclass(frozen=True)
class Verdict:
    """What ``verify`` found: identical, or the differences and their likely causes."""

    identical: bool
    differences: tuple[str, ...]
    causes: tuple[str, ...]


def verify_experiment(experiment: Experiment, *, out_root: Path = Path("runs/experiments"),
                      show_progress: bool = True) -> Verdict:
    """Rerun from scratch in a temporary folder and compare with the stored results."""
    stored_dir = out_root / experiment.name
    manifest_path = stored_dir / "experiment.json"
    if not manifest_path.is_file():
        raise DseError(f"No stored results for experiment {experiment.name!r} in {stored_dir}: "
                       f"run 'dse experiment run {experiment.path}' first.")
    stored = json.loads(manifest_path.read_text())
    causes = _likely_causes(stored, experiment)
    differences = [cause for cause in causes if cause.startswith("data file")]  # not the same run
    with tempfile.TemporaryDirectory(prefix="dse-verify-") as folder:
        try:
            fresh_dir = run_experiment(experiment, out_root=Path(folder),
                                       show_progress=show_progress)
        except DseError as exc:
            return Verdict(False, (f"the rerun could not start: {exc}",), tuple(causes))
        for config in experiment.configs:
            name = runner.default_study_name(config)
            differences += _compare_study(name, stored_dir / name, fresh_dir / name)
    return Verdict(not differences, tuple(differences), tuple(causes) if differences else ())


def _compare_study(name: str, stored: Path, fresh: Path) -> list[str]:
    if not (stored / "trials.csv").is_file():
        return [f"{name}: no stored trials.csv in {stored}"]
    old, new = (_comparable(pd.read_csv(d / "trials.csv")) for d in (stored, fresh))
    if old.equals(new):
        old_front, new_front = (_comparable(pd.read_csv(d / "pareto.csv")) for d in (stored, fresh))
        return [] if old_front.equals(new_front) else [f"{name}: the Pareto sets differ"]
    # Trials from asynchronous workers come in another order: compare scores per architecture.
    scores_old, scores_new = (_scores_by_arch(frame) for frame in (old, new))
    common = scores_old.index.intersection(scores_new.index)
    changed = [key for key in common if not scores_old.loc[key].equals(scores_new.loc[key])]
    if changed:
        key = changed[0]
        return [f"{name}: {len(changed)} of {len(common)} architectures scored differently, "
                f"e.g. {key}: stored {scores_old.loc[key].to_dict()}, "
                f"rerun {scores_new.loc[key].to_dict()}"]
    if len(old) != len(new):
        return [f"{name}: {len(old)} stored trials, {len(new)} in the rerun"]
    return [f"{name}: the same architectures scored the same, but the trials came in another "
            f"order (a study shared by asynchronous workers is not bit-identical)"]


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in frame.columns if c in COMPARED_OUT]).reset_index(drop=True)


def _scores_by_arch(frame: pd.DataFrame) -> pd.DataFrame:
    scored = frame[frame["state"] == "COMPLETE"].copy()
    scored["key"] = scored["arch"] + "|" + scored["dtype"]
    return scored.drop_duplicates("key").set_index("key")[["accuracy", "accuracy_quantized",
                                                           "latency_ms", "flash_bytes",
                                                           "ram_bytes"]].sort_index()


def _likely_causes(stored: dict[str, Any], experiment: Experiment) -> list[str]:
    causes = []
    if stored.get("hash") != experiment.hash:
        causes.append(f"the experiment file changed (config hash {stored.get('hash')} -> "
                      f"{experiment.hash})")
    for path, digest in stored.get("data_sha256", {}).items():
        current = file_sha256(path) if Path(path).is_file() else "missing"
        if current != digest:
            causes.append(f"data file {path} changed (sha256 {digest[:12]}... -> "
                          f"{current[:12]}...)")
    then, now = stored.get("environment", {}), results.environment()
    for package, version in then.get("packages", {}).items():
        if now["packages"].get(package) != version:
            causes.append(f"{package} version changed ({version} -> {now['packages'].get(package)})")
    if then.get("python") != now["python"]:
        causes.append(f"Python changed ({then.get('python')} -> {now['python']})")
    if then.get("blas", now["blas"]) != now["blas"]:
        causes.append(f"numpy's BLAS kernels changed ({then['blas']} -> {now['blas']}): they "
                      f"round matrix products differently")
    if then.get("git", {}).get("commit") != now["git"]["commit"] or now["git"]["dirty"]:
        causes.append(f"dse source changed (commit {then.get('git', {}).get('commit')} -> "
                      f"{now['git']['commit']}{', uncommitted changes' if now['git']['dirty'] else ''})")
    return causes
