"""Studies: create one with its config, inputs and trial target stored in it, or load one and
check that it was made with the same config and the same resolved inputs.

What a study stores (user attributes): ``dse_config`` (the config's identity), ``dse_inputs``
(the resolved profile and space, and the data's fingerprint: editing a profile between two
runs must not mix old and new budgets in one study), ``dse_trainings`` (the target: how many
networks to train, so a worker that joins knows when the study is done). Each trial holds its
network's scores over the training seeds (:mod:`dse.seeds`).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import optuna

from dse.config import DEFAULT_TRAININGS, OBJECTIVES, SearchConfig
from dse.errors import DseError
from dse.paths import shown_name
from dse.search.inputs import SearchInputs
from dse.search.storage import masked_url, open_storage

CONFIG_ATTR = "dse_config"
INPUTS_ATTR = "dse_inputs"
TARGET_ATTR = "dse_trainings"


def open_study(inputs: SearchInputs, storage: str, study_name: str, *,
               create: bool = True) -> optuna.Study:
    """Create or load the study, checking that an existing one was made with this config
    and these inputs; store the config's trial target if it gives one."""
    config = inputs.config
    backend = open_storage(storage, create=create)
    try:
        study = optuna.load_study(study_name=study_name, storage=backend,
                                  sampler=optuna.samplers.RandomSampler())
    except KeyError:
        if not create:
            raise DseError(f"No study named {study_name!r} in {masked_url(storage)}.") from None
        directions: list[Any] = [OBJECTIVES[o] for o in config.objectives]
        study = optuna.create_study(study_name=study_name, storage=backend, directions=directions,
                                    sampler=optuna.samplers.RandomSampler())
        study.set_user_attr(CONFIG_ATTR, config.identity())
        study.set_user_attr(INPUTS_ATTR, inputs_record(inputs))
        study.set_user_attr(TARGET_ATTR, config.trainings or DEFAULT_TRAININGS)
        return study
    _check_same(study, config, inputs)
    if config.trainings is not None and study.user_attrs.get(TARGET_ATTR) != config.trainings:
        study.set_user_attr(TARGET_ATTR, config.trainings)
    return study


def training_target(study: optuna.Study) -> int:
    """How many networks the study should have trained."""
    return int(study.user_attrs.get(TARGET_ATTR, DEFAULT_TRAININGS))


def inputs_record(inputs: SearchInputs) -> dict[str, Any]:
    """What the resolved inputs were, as JSON data: a change of any value is a new study."""
    profile = {k: v for k, v in asdict(inputs.profile).items() if k not in ("path", "sources")}
    return _json({"profile": profile, "space": asdict(inputs.space),
                  "data": inputs.data.fingerprint})


def _json(data: Any) -> Any:
    return json.loads(json.dumps(data, sort_keys=True))


def _check_same(study: optuna.Study, config: SearchConfig, inputs: SearchInputs) -> None:
    name = study.study_name
    stored, current = study.user_attrs.get(CONFIG_ATTR), _json(config.identity())
    if stored is not None and "train_seeds" not in stored:
        raise DseError(f"Study {name!r} was made by an older dse that trained each network with "
                       f"one seed; its scores cannot be mixed with means over "
                       f"{config.train_seeds}. Run it again under a new --study name.")
    if stored is not None and stored != current:
        differing = sorted(k for k in set(stored) | set(current) if stored.get(k) != current.get(k))
        raise DseError(
            f"Study {name!r} was made with other settings ({', '.join(differing)} differ: "
            f"{', '.join(f'{k}={stored.get(k)!r}' for k in differing)}). "
            f"Use those settings, or a new --study name."
        )
    stored_inputs = study.user_attrs.get(INPUTS_ATTR)
    if stored_inputs is None:
        return
    for part, what in (("profile", f"the profile {config.profile}"),
                       ("space", f"the search space {config.space}"), ("data", "the data")):
        changes = _changes(stored_inputs.get(part), inputs_record(inputs)[part])
        if changes:
            raise DseError(
                f"Study {name!r} was made with other inputs: {what} changed since "
                f"({'; '.join(changes[:3])}{'; ...' if len(changes) > 3 else ''}). Restore it, "
                f"or start a new study with --study NEW_NAME."
            )


def _changes(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ, with both values: ``ram_bytes: 131072 -> 65536``."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [change for key in sorted(set(old) | set(new))
                for change in _changes(old.get(key), new.get(key), f"{prefix}{key}.")]
    if old == new:
        return []
    label = prefix.rstrip(".") or "fingerprint"
    shorten = (lambda v: f"{v[:12]}...") if label == "fingerprint" else repr
    return [f"{label}: {shorten(old)} -> {shorten(new)}"]


def stored_config(storage: str, study_name: str, **overrides: Any) -> SearchConfig:
    """The config a study was created with, so a worker needs only storage and study name.
    Reads the storage only: a mistyped URL creates nothing."""
    summaries = _summaries(open_storage(storage, create=False))
    for summary in summaries:
        if summary.study_name == study_name and CONFIG_ATTR in summary.user_attrs:
            return SearchConfig.from_identity(summary.user_attrs[CONFIG_ATTR], **overrides)
    raise _missing(study_name, {storage: summaries})


def load_studies(storage: str, names: list[str]) -> list[optuna.Study]:
    """dse studies to read from one storage (an export): each checked to exist, nothing
    created."""
    return [study for _, study in find_studies([storage], names)]


def find_studies(storages: list[str], names: list[str]) -> list[tuple[str, optuna.Study]]:
    """dse studies to read from one or more storages (a dashboard comparing runs, each with
    its own ``study.db``), nothing created: every name is looked up in every storage, and each
    (storage, study) found is returned, by name, then storage, in the order given. A name no
    storage holds is refused, and so is a storage that holds none of the names."""
    storages = list(dict.fromkeys(storages))
    backends = {url: open_storage(url, create=False) for url in storages}
    held = {url: _summaries(backend) for url, backend in backends.items()}
    dse_names = {url: {s.study_name for s in summaries if CONFIG_ATTR in s.user_attrs}
                 for url, summaries in held.items()}
    for name in names:
        if not any(name in dse_names[url] for url in storages):
            raise _missing(name, held)
    for url in storages:
        if not dse_names[url] & set(names):
            raise DseError(f"Storage {masked_url(url)!r} holds none of the studies named "
                           f"({', '.join(names)}); studies there: {_listed(held[url])}. Name "
                           f"one with --study, or leave the storage out.")
    return [(url, optuna.load_study(study_name=name, storage=backends[url]))
            for name in names for url in storages if name in dse_names[url]]


def _summaries(backend: optuna.storages.BaseStorage) -> list[optuna.study.StudySummary]:
    return optuna.study.get_all_study_summaries(backend, include_best_trial=False)


def _listed(summaries: list[optuna.study.StudySummary]) -> str:
    """The names of a storage's studies, safe to print (another person may have chosen them)."""
    return ", ".join(shown_name(s.study_name) for s in summaries) or "none"


def _missing(name: str, held: dict[str, list[optuna.study.StudySummary]]) -> DseError:
    """A study name that no storage holds: the storages searched (passwords masked) and the
    studies each holds."""
    if len(held) == 1:
        [(url, summaries)] = held.items()
        return DseError(f"No dse study named {name!r} in {masked_url(url)}. "
                        f"Studies there: {_listed(summaries)}.")
    searched = "; ".join(f"{masked_url(url)} (studies there: {_listed(summaries)})"
                         for url, summaries in held.items())
    return DseError(f"No dse study named {name!r} in any of the {len(held)} storages given: "
                    f"{searched}.")

