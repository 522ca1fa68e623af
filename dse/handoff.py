"""From the search to the export: the network ``dse export`` trains, as an
:class:`~dse.export.bundle.ExportRequest`. Either a study's (a row of its Pareto front, or an
architecture and dtype it trained: its task or data, seed, profile and RAM mode come along)
or one named directly with a task or data file.

It reads the study (optuna), so it sits beside the search, not in ``dse/export``, which
never imports optuna.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from dse import proxy, results
from dse.architecture import parse_arch
from dse.config import SearchConfig
from dse.errors import DseError
from dse.export.bundle import ExportRequest
from dse.export.final import final_budget
from dse.hardware import load_profile
from dse.search import CONFIG_ATTR, resolve
from dse.search.study import load_studies
from dse.tasks import Dataset


def request_from_study(study_name: str, storage: str, *, row: int | None = None,
                       arch: str | None = None, dtype: str | None = None,
                       profile: str | None = None, epochs: int | None = None,
                       **options: Any) -> ExportRequest:
    """The ``row``-th row (from 1) of the study's Pareto front, or ``arch`` in ``dtype``
    (default int8) as the study trained it. ``profile`` prices it (default: the study's, with
    the study's runtime and budgets); the final training takes the study's batch size and
    ``epochs`` (default the final budget's); ``options`` are the request's own (formats,
    prefix, seeds, runtime)."""
    if (row is None) == (arch is None):
        raise DseError("dse export --study: give either --row N (the N-th row of its "
                       "pareto.csv) or --arch A with --dtype D.")
    [study] = load_studies(storage, [study_name])
    config = SearchConfig.from_identity(study.user_attrs[CONFIG_ATTR])
    inputs = resolve(config)
    frame = results.trials_frame(study)
    if row is not None:
        chosen = _pareto_row(study_name, frame, row)
    else:
        chosen = _trained_row(study_name, frame, str(arch), dtype or "int8", inputs.space.dtypes)
    data = inputs.data
    network = parse_arch(chosen["arch"], dtype=chosen["dtype"], features=data.features,
                         timesteps=data.timesteps, classes=data.classes)
    score = {"accuracy": float(chosen["accuracy"]),
             "accuracy_quantized": float(chosen["accuracy_quantized"]),
             "accuracy_mean": float(chosen["accuracy_mean"]),
             "accuracy_quantized_mean": float(chosen["accuracy_quantized_mean"]),
             "seeds": int(chosen["seeds"]),
             "trial": int(chosen["number"]), "study": study_name}
    pricing = load_profile(profile) if profile else inputs.profile
    if options.get("runtime") is None and pricing.name == inputs.profile.name:
        options["runtime"] = config.runtime  # priced as the study priced it
    return ExportRequest(
        arch=network, data=data, data_label=config.task or Path(str(config.data)).name,
        seed=config.seed, search_score=score, profile=pricing, budgets=config.budgets,
        budget=final_budget(data, epochs=epochs, batch_size=config.batch_size),
        ram_mode=inputs.space.ram_mode,
        source={"study": study_name, "trial": int(chosen["number"]), "row": row}, **options)


def _pareto_row(study_name: str, frame: pd.DataFrame, row: int) -> pd.Series:
    """The ``row``-th row of the study's pareto.csv."""
    front = results.pareto_frame(frame)
    if not 1 <= row <= len(front):
        raise DseError(f"Study {study_name!r} has {len(front)} rows in its pareto.csv; "
                       f"--row must be 1..{len(front)}.")
    return front.iloc[row - 1]


def _trained_row(study_name: str, frame: pd.DataFrame, arch: str, dtype: str,
                 dtypes: tuple[str, ...]) -> pd.Series:
    """The study's first scored trial of ``arch`` in ``dtype``."""
    if dtype not in dtypes:
        raise DseError(f"The dtype {dtype!r} is not in study {study_name!r}'s space "
                       f"(dtypes: {', '.join(dtypes)}).")
    text = parse_arch(arch).text
    rows = frame[(frame["arch"] == text) & (frame["dtype"] == dtype)
                 & (frame["state"] == "COMPLETE") & frame["accuracy"].notna()]
    if rows.empty:
        raise DseError(f"{text} ({dtype}) is not among the trained networks of study "
                       f"{study_name!r}; pick a row of its pareto.csv with --row N, or "
                       f"export it directly with --task/--data.")
    return rows.iloc[0]


def request_from_task(arch: str, data: Dataset, *, dtype: str = "int8", seed: int = 0,
                      profile: str | None = None, epochs: int | None = None,
                      **options: Any) -> ExportRequest:
    """``arch`` in ``dtype`` on a task's or data file's ``data``, without a study: one proxy
    training with ``seed`` gives the score a search would have shown."""
    pricing = load_profile(profile) if profile else None  # refused before any training
    network = parse_arch(arch, dtype=dtype, features=data.features, timesteps=data.timesteps,
                         classes=data.classes)
    proxy_score = proxy.evaluate(network, data, seed=seed)
    score = {"accuracy": proxy_score.accuracy, "accuracy_quantized": proxy_score.accuracy_quantized,
             "trial": None, "study": None}
    return ExportRequest(arch=network, data=data, data_label=data.name, seed=seed,
                         search_score=score, profile=pricing, source={"direct": True},
                         budget=final_budget(data, epochs=epochs), **options)
