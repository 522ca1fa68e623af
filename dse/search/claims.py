"""Networks claimed by another process sharing the study.

A trial says which network it is (``arch``) as soon as it is priced, so the storage shows
which networks are in training. A process asking a network another process claimed does not
train it: it waits for that training's tell and reads the score from the storage; if the
claimant died first, it trains the network itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import optuna
from optuna.trial import TrialState

from dse.search.attrs import SCORE_KEYS

CLAIM_SETTLE_SECONDS = 10.0  # how long a new network waits for others' just-asked trials to
# say which network they are (a trial is asked, then priced: a moment, about ten storage
# writes, without its attributes; longer on a loaded database)
POLL_SECONDS = 0.5  # how often a network trained by another worker is looked for


def owner(study: optuna.Study, number: int, network: str) -> int | None:
    """The trial of another process that claimed ``network`` before trial ``number``: the
    first feasible trial of it that is running or trained. Trial numbers come from the
    storage, so two processes asking at once agree on who was first; a trial asked before
    ``number`` that does not yet say its network is waited for a moment."""
    deadline = time.monotonic() + CLAIM_SETTLE_SECONDS
    while True:
        earlier = [t for t in study.get_trials(deepcopy=False,
                                               states=(TrialState.RUNNING, TrialState.COMPLETE))
                   if t.number < number]
        claims = [t.number for t in earlier if t.user_attrs.get("arch") == network
                  and t.user_attrs.get("feasible")
                  and (t.state == TrialState.RUNNING or t.user_attrs.get("trained"))]
        unsettled = any(t.state == TrialState.RUNNING and "arch" not in t.user_attrs
                        for t in earlier)
        if claims or not unsettled or time.monotonic() > deadline:
            return min(claims, default=None)
        time.sleep(0.05)


def claimed_score(study: optuna.Study, key: str, claimant: int,
                  keep_alive: Callable[[], None]) -> dict[str, Any] | None:
    """The score trial ``claimant`` (another process's) stored for candidate ``key``
    (``arch|dtype``), once its training is told; None if that training failed (its process
    died) or was told without this dtype's variant (its process died in between).
    ``keep_alive`` is called while waiting (Ctrl-C, heartbeats)."""
    told = None
    while True:
        keep_alive()
        trials = study.get_trials(deepcopy=False)
        for t in trials:
            if t.state == TrialState.COMPLETE and t.user_attrs.get("key") == key and \
                    (t.number == claimant or t.user_attrs.get("variant_of") == claimant):
                return {k: t.user_attrs[k] for k in SCORE_KEYS}
        state = next(t.state for t in trials if t.number == claimant)
        if state == TrialState.COMPLETE:  # told: its variants follow at once, or never
            told = told or time.monotonic()
        if state == TrialState.FAIL or (told and time.monotonic() - told > CLAIM_SETTLE_SECONDS):
            return None
        time.sleep(POLL_SECONDS)
