"""The constrained multi-objective search: the only package that knows optuna's sampler,
storage and constraint APIs. One module per job, as optuna separates them:

* ``inputs``: a config resolved into profile, space, data and proxy budget;
* ``storage``: storage URLs opened with heartbeats;
* ``study``: creating and loading studies with their config stored in them;
* ``samplers``: the samplers a config can name;
* ``attrs``: what a trial records (constraints, cost and score attributes, objectives);
* ``pool``: the worker processes that train candidates;
* ``optimize``: the ask/tell loop;
* ``resume``: repairing what interrupted runs left (dead trials, lost variants, cut batches);
* ``claims``: networks in training by another process sharing the study.
"""

from __future__ import annotations

from dse.search.inputs import SearchInputs, resolve
from dse.search.optimize import Progress, run_study
from dse.search.study import CONFIG_ATTR, open_study, stored_config

__all__ = ["CONFIG_ATTR", "Progress", "SearchInputs", "open_study", "resolve", "run_study",
           "stored_config"]
