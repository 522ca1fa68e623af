"""One run end to end, shared by ``dse run``, ``dse worker`` and ``dse experiment``:
check every input, search with a progress bar, then write the outputs from the storage.

Everything that can be refused is refused before the first training (names, folders, the
profile, space, data and sampler), and whatever stops the search (Ctrl-C, a failure inside the
loop) the finished trials are written out before the error is reported.
"""

from __future__ import annotations

import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import optuna
import pandas as pd
from tqdm import tqdm

from dse import dashboard, proxy, results
from dse.config import SearchConfig
from dse.errors import DseError, DseWarning
from dse.hardware import Runtime, load_profile
from dse.paths import child_dir, name_from, prepare_dir, writable_file
from dse.report import priced_by
from dse.search import CONFIG_ATTR, Progress, open_study, resolve, run_study
from dse.search.samplers import check_sampler
from dse.search.storage import masked_url
from dse.search.study import training_target

OUTPUT_FILES = ("trials.csv", "pareto.csv", "manifest.json", "dashboard.html")


@dataclass(frozen=True)
class RunOutputs:
    """Where a run's results are, and the tables themselves."""

    study_name: str
    storage: str
    out_dir: Path
    trials: pd.DataFrame
    pareto: pd.DataFrame
    runtime: Runtime  # the runtime the costs were priced for
    interrupted: bool = False


def default_study_name(config: SearchConfig) -> str:
    source = config.task if config.task else Path(str(config.data)).stem
    runtime = f"-{config.runtime}" if config.runtime else ""
    return name_from(f"{Path(config.profile).stem}{runtime}-{source}-{Path(config.space).stem}"
                     f"-seed{config.seed}")


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
    name = default_study_name(config) if study_name is None else study_name
    out_dir = prepare_dir(child_dir(prepare_dir(out_root), name))
    for file_name in OUTPUT_FILES:
        writable_file(out_dir / file_name)
    inputs = resolve(config)
    small = proxy.too_small_to_rank(inputs.data, f"Data file {config.data}" if config.data else "")
    if small:
        warnings.warn(small, DseWarning, stacklevel=2)
    check_sampler(config, inputs.space)  # before the storage is opened: nothing is created
    storage = storage or sqlite_url(out_dir / "study.db")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(inputs, storage, name, create=create)
    target = training_target(study)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    start = time.perf_counter()
    bar = tqdm(total=target, desc=name, unit="training", disable=not show_progress,
               dynamic_ncols=True)

    def on_progress(progress: Progress) -> None:
        bar.total = min(target, progress.target)
        bar.n = min(progress.trainings, bar.total)
        bar.initial = min(progress.stored, bar.total)  # a resumed study's rate: this run's
        bar.set_postfix(trials=progress.trials, front=progress.front, refresh=False)
        bar.refresh()

    interrupted, failure = False, None
    try:
        run_study(inputs, study, workers=workers, on_progress=on_progress)
    except KeyboardInterrupt:
        interrupted = True
    except Exception as exc:  # noqa: BLE001 - written out below, then raised again
        failure = exc
    finally:
        bar.close()
    outputs = write_outputs(study, storage, out_dir, interrupted=interrupted)
    _write(out_dir, lambda: results.write_manifest(out_dir, {
        "study": name,
        "storage": masked_url(storage),
        "config": dict(study.user_attrs[CONFIG_ATTR], trainings=target, timeout_s=config.timeout_s),
        "seed": config.seed,
        "workers": workers,
        "started": started,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - start, 3),
        "interrupted": interrupted,
        "trials": len(outputs.trials),
        "trainings": int(outputs.trials["trained"].sum()),
        "environment": results.environment(),
    }))
    if failure is not None:
        raise failure
    if interrupted:
        raise KeyboardInterrupt
    return outputs


def _write(out_dir: Path, write: Callable[[], object]) -> None:
    """Call ``write()``; an OSError names the file, and the finished trials stay safe."""
    try:
        write()
    except OSError as exc:
        where = exc.filename or out_dir
        raise DseError(f"Could not write {where}: {exc.strerror}. The finished trials are "
                       f"safe in the storage; fix the folder and run the same command again "
                       f"to write the outputs.") from None


def write_outputs(study: optuna.Study, storage: str, out_dir: Path, *,
                  interrupted: bool = False) -> RunOutputs:
    """Tables and dashboard from what the storage holds now."""
    frame = results.trials_frame(study)
    _write(out_dir, lambda: results.write_tables(frame, out_dir))
    _write(out_dir, lambda: dashboard.build_dashboard([study_view(study, frame)],
                                                      out_dir / "dashboard.html"))
    return RunOutputs(study.study_name, storage, out_dir, frame, results.pareto_frame(frame),
                      priced_runtime(study), interrupted)


def priced_runtime(study: optuna.Study) -> Runtime:
    """The runtime a study's costs are priced for (its config's, or its profile's default)."""
    config = SearchConfig.from_identity(study.user_attrs[CONFIG_ATTR])
    return load_profile(config.profile).runtime_named(config.runtime)


def study_view(study: optuna.Study, trials: pd.DataFrame | None = None) -> dashboard.StudyView:
    """What the dashboard needs of a study: its config, budgets and trials."""
    config = SearchConfig.from_identity(study.user_attrs[CONFIG_ATTR])
    profile = load_profile(config.profile)
    limits = config.budgets.over(profile.budgets).limits(profile)
    runtime = profile.runtime_named(config.runtime)
    return dashboard.StudyView(
        name=study.study_name,
        profile=f"{profile.name} ({priced_by(runtime.name, runtime.basis)})",
        task=config.task or Path(str(config.data)).name,
        flash_limit_bytes=int(limits["flash_bytes"] or profile.flash_bytes),
        ram_limit_bytes=int(limits["ram_bytes"] or profile.ram_bytes),
        max_latency_ms=limits["latency_ms"],
        max_energy_uj=limits["energy_uj"],
        objectives=config.objectives,
        trials=results.trials_frame(study) if trials is None else trials,
    )


def study_views(studies: list[optuna.Study]) -> list[dashboard.StudyView]:
    return [study_view(study) for study in studies]


def storage_views(found: list[tuple[str, optuna.Study]]) -> list[dashboard.StudyView]:
    """The views of (storage URL, study) pairs read from several storages: a study name
    that more than one storage holds is told apart by its storage (password masked)."""
    repeated = Counter(study.study_name for _, study in found)
    views = [study_view(study) for _, study in found]
    return [replace(view, name=f"{view.name} ({masked_url(url)})")
            if repeated[view.name] > 1 else view for (url, _), view in zip(found, views)]


def write_dashboard(studies: list[optuna.Study], path: Path) -> Path:
    """The plotly dashboard of one or more studies, as one self-contained HTML file."""
    return dashboard.build_dashboard(study_views(studies), writable_file(path, "dashboard file"))
