"""Optuna storages by URL: opened with heartbeats, so trials of a killed process fail later."""

from __future__ import annotations

import warnings

import optuna

from dse.errors import DseError

HEARTBEAT_SECONDS = 10


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """An RDB storage with heartbeats, so trials of a killed process are failed later."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            return optuna.storages.RDBStorage(url, heartbeat_interval=HEARTBEAT_SECONDS,
                                              grace_period=3 * HEARTBEAT_SECONDS)
        except Exception as exc:  # a bad URL or an unreachable server: say which, briefly
            raise DseError(f"Cannot open storage {url!r}: {str(exc).splitlines()[0]}") from None
