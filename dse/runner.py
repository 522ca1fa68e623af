"""One run end to end, shared by ``dse run``, ``dse worker`` and ``dse experiment``:
resolve the config, search with a progress bar, then write the outputs from the storage.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import optuna
import pandas as pd
from tqdm import tqdm

from dse import dashboard, results
from dse.config import SearchConfig
from dse.hardware import load_profile
from dse.search import CONFIG_ATTR, Progress, open_study, resolve, run_study


@dataclass(frozen=True)
class RunOutputs:
    """Where a run's results are, and the tables themselves."""

    study_name: str
    storage: str
    out_dir: Path
    trials: pd.DataFrame
    pareto: pd.DataFrame
    interrupted: bool = False


def default_study_name(config: SearchConfig) -> str:
    source = config.task if config.task else Path(str(config.data)).stem
    return f"{Path(config.profile).stem}-{source}-{Path(config.space).stem}-seed{config.seed}"


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


def run(
    config: SearchConfig,
    *,
    study_name: str | None = None,
    storage: str | None = None,
    out_root: Path = Path("runs"),
    workers: int = 1,
    show_progress: bool = True,
    create: bool = True,
) -> RunOutputs:
    """Search (or resume, or join) a study and write ``trials.csv``, ``pareto.csv``,
    ``manifest.json`` and ``dashboard.html`` into ``out_root/<study>/``.

    Ctrl-C stops the search cleanly: the finished trials stay in the storage and the
    outputs are written before the KeyboardInterrupt goes on up.
    """
    inputs = resolve(config)
    name = study_name or default_study_name(config)
    out_dir = out_root / name
    out_dir.mkdir(parents=True, exist_ok=True)
    storage = storage or sqlite_url(out_dir / "study.db")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(config, storage, name, create=create)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    start = time.perf_counter()
    bar = tqdm(total=config.trials, desc=name, unit="trial", disable=not show_progress,
               dynamic_ncols=True)

    def on_progress(progress: Progress) -> None:
        bar.n = min(progress.finished, config.trials)
        bar.set_postfix(feasible=progress.feasible, trained=progress.trained,
                        front=progress.front, refresh=False)
        bar.refresh()

    interrupted = False
    try:
        run_study(inputs, study, workers=workers, on_progress=on_progress)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
    outputs = write_outputs(study, storage, out_dir, interrupted=interrupted)
    results.write_manifest(out_dir, {
        "study": name,
        "storage": storage,
        "config": dict(study.user_attrs[CONFIG_ATTR], trials=config.trials,
                       timeout_s=config.timeout_s),
        "seed": config.seed,
        "workers": workers,
        "started": started,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - start, 3),
        "interrupted": interrupted,
        "trials": len(outputs.trials),
        "environment": results.environment(),
    })
    if interrupted:
        raise KeyboardInterrupt
    return outputs


def write_outputs(study: optuna.Study, storage: str, out_dir: Path, *,
                  interrupted: bool = False) -> RunOutputs:
    """Tables and dashboard from what the storage holds now."""
    frame = results.trials_frame(study)
    results.write_tables(frame, out_dir)
    dashboard.build_dashboard([study_view(study, frame)], out_dir / "dashboard.html")
    return RunOutputs(study.study_name, storage, out_dir, frame, results.pareto_frame(frame),
                      interrupted)


def study_view(study: optuna.Study, trials: pd.DataFrame | None = None) -> dashboard.StudyView:
    """What the dashboard needs of a study: its config, profile limits and trials."""
    config = SearchConfig.from_identity(study.user_attrs[CONFIG_ATTR])
    profile = load_profile(config.profile)
    return dashboard.StudyView(
        name=study.study_name,
        profile=profile.name,
        task=config.task or Path(str(config.data)).name,
        flash_limit_bytes=profile.flash_bytes,
        ram_limit_bytes=profile.ram_bytes,
        max_latency_ms=config.max_latency_ms or profile.max_latency_ms,
        objectives=config.objectives,
        trials=results.trials_frame(study) if trials is None else trials,
    )


def study_views(studies: list[optuna.Study]) -> list[dashboard.StudyView]:
    return [study_view(study) for study in studies]


def write_dashboard(studies: list[optuna.Study], path: Path) -> Path:
    """The plotly dashboard of one or more studies, as one self-contained HTML file."""
    return dashboard.build_dashboard(study_views(studies), path)
