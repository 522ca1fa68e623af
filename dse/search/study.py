"""Studies: create one with its config stored in it, or load one and check it matches."""

from __future__ import annotations

import json
import random
from typing import Any

import optuna

from dse.config import OBJECTIVES, SearchConfig
from dse.errors import DseError
from dse.search.storage import open_storage
from dse.space import SearchSpace, load_space

CONFIG_ATTR = "dse_config"


def open_study(config: SearchConfig, storage: str | optuna.storages.BaseStorage, study_name: str,
               *, create: bool = True) -> optuna.Study:
    """Create or load the study, checking that an existing one was made with this config."""
    directions: list[Any] = [OBJECTIVES[o] for o in config.objectives]
    if isinstance(storage, str):
        storage = open_storage(storage)
    try:
        study = optuna.load_study(study_name=study_name, storage=storage,
                                  sampler=optuna.samplers.RandomSampler())
    except KeyError:
        if not create:
            raise DseError(f"No study named {study_name!r} in that storage.") from None
        study = optuna.create_study(study_name=study_name, storage=storage, directions=directions,
                                    sampler=optuna.samplers.RandomSampler())
        study.set_user_attr(CONFIG_ATTR, config.identity())
        if config.sampler == "grid":
            _enqueue_grid(study, load_space(config.space), config.seed)
        return study
    stored = study.user_attrs.get(CONFIG_ATTR)
    if stored is not None and stored != json.loads(json.dumps(config.identity())):
        differing = sorted(k for k in set(stored) | set(config.identity())
                           if stored.get(k) != json.loads(json.dumps(config.identity())).get(k))
        raise DseError(
            f"Study {study_name!r} was made with other settings ({', '.join(differing)} differ: "
            f"{', '.join(f'{k}={stored.get(k)!r}' for k in differing)}). "
            f"Use those settings, or a new --study name."
        )
    return study


def stored_config(storage: str, study_name: str, **overrides: Any) -> SearchConfig:
    """The config a study was created with, so a worker needs only storage and study name."""
    summaries = optuna.study.get_all_study_summaries(open_storage(storage),
                                                     include_best_trial=False)
    for summary in summaries:
        if summary.study_name == study_name and CONFIG_ATTR in summary.user_attrs:
            return SearchConfig.from_identity(summary.user_attrs[CONFIG_ATTR], **overrides)
    names = ", ".join(s.study_name for s in summaries) or "none"
    raise DseError(f"No dse study named {study_name!r} in {storage}. Studies there: {names}.")


def _enqueue_grid(study: optuna.Study, space: SearchSpace, seed: int) -> None:
    """Queue every distinct candidate once, in a seeded order; workers pop them atomically."""
    candidates = space.candidates()
    random.Random(seed).shuffle(candidates)
    for cell, cells, dtype in candidates:
        study.enqueue_trial(space.params_of(cell, cells, dtype), skip_if_exists=False)
