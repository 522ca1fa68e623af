"""Proxy accuracy: train a candidate briefly with the numpy cells, then score it in float and
as the integer network its dtype deploys (``dse.quantize``: the arithmetic the exported C
runs, bit for bit).

The score is a pure function of (architecture, data, budget, seed), and the matrix products
run on one BLAS thread (the last bits of a product depend on how many threads share it), so
any process, order or worker gives the same numbers.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from dse import quantize
from dse.architecture import Architecture
from dse.tasks import Dataset
from dse.training import Budget, Trained, accuracy_of, sized_for, train

DEFAULT_BUDGET = Budget()  # chosen with experiments/bench/proxy_fidelity.py (docs/benchmarks.md)
SEED_SPREAD = 0.025  # a network's typical seed-to-seed standard deviation (noise.py, 3 tasks)
MIN_TEST_WINDOWS = 100  # steps of 1 point at most: less than half that spread


@dataclass(frozen=True)
class ProxyResult:
    accuracy: float  # float32 weights, test split
    accuracy_quantized: float  # the integer network of the dtype (float32: the float one)
    train_seconds: float
    epochs_run: int
    diverged: str | None = None  # why training stopped early with a non-finite loss


@dataclass(frozen=True)
class NetworkScore:
    """One training of a network, scored as every dtype asked for."""

    accuracy: float  # float32 weights, test split
    quantized: dict[str, float]  # dtype -> accuracy of the network as that dtype deploys it
    train_seconds: float
    epochs_run: int
    diverged: str | None = None


def default_budget(data: Dataset) -> Budget:
    """The proxy's budget for ``data``: :data:`DEFAULT_BUDGET`, fitted to a small data set."""
    return sized_for(DEFAULT_BUDGET, len(data.y_train))


def evaluate(arch: Architecture, data: Dataset, *, budget: Budget | None = None,
             seed: int = 0) -> ProxyResult:
    """Train ``arch`` on ``data`` within ``budget`` (default :func:`default_budget`);
    accuracy on the test split."""
    budget = budget or default_budget(data)
    score = evaluate_network(arch, data, (arch.dtype,), budget=budget, seed=seed)
    return ProxyResult(score.accuracy, score.quantized[arch.dtype], score.train_seconds,
                       score.epochs_run, score.diverged)


def evaluate_network(arch: Architecture, data: Dataset, dtypes: tuple[str, ...], *,
                     budget: Budget = DEFAULT_BUDGET, seed: int = 0) -> NetworkScore:
    """Train ``arch``'s network once; its test accuracy in float and as each of ``dtypes``
    (the quantized scores are cheap evaluations of the same weights)."""
    with threadpool_limits(1, user_api="blas"):
        trained = _trained(arch, data, budget, seed)
        if trained.diverged:
            chance = float(np.bincount(data.y_test).max() / len(data.y_test))
            return NetworkScore(chance, dict.fromkeys(dtypes, chance), trained.seconds,
                                trained.epochs_run, trained.diverged)
        accuracy = accuracy_of(trained.network, data.X_test, data.y_test)
        quantized = {dtype: accuracy if dtype == "float32" else
                     quantized_accuracy(trained, dtype, data) for dtype in dtypes}
    return NetworkScore(accuracy, quantized, trained.seconds, trained.epochs_run, None)


def too_small_to_rank(data: Dataset, name: str = "") -> str | None:
    """Why ``data``'s test split is too small to rank networks, or None: one test window
    more or less right moves an accuracy by 1/N, and from a step of about half a network's
    seed-to-seed spread on, close networks differ by their luck in a few windows."""
    windows = len(data.y_test)
    if windows >= MIN_TEST_WINDOWS:
        return None
    return (f"{name or data.name} has {windows} test windows: an accuracy moves in steps of "
            f"{100 / windows:.1f} points, as much as a network's spread between seeds "
            f"(about {100 * SEED_SPREAD:.1f}), so the search cannot tell close networks apart; "
            f"give at least {MIN_TEST_WINDOWS} test windows.")


def quantized_accuracy(trained: Trained, dtype: str, data: Dataset) -> float:
    """Test accuracy of the integer network, calibrated on the training windows."""
    network = quantize.quantize_network(trained.network, dtype, data.X_train)
    return quantize.accuracy(network, data.X_test, data.y_test)


_RECENT: OrderedDict[tuple, Trained] = OrderedDict()
RECENT_SIZE = 8


def _trained(arch: Architecture, data: Dataset, budget: Budget, seed: int) -> Trained:
    """The float training run, shared by the dtype variants of one architecture: int8,
    int16 and float32 differ only in how the trained network is scored."""
    key = (arch.cell, arch.cells, data.fingerprint, budget, seed)
    if key in _RECENT:
        _RECENT.move_to_end(key)
        return _RECENT[key]
    _RECENT[key] = train(arch, data, budget, seed)
    if len(_RECENT) > RECENT_SIZE:
        _RECENT.popitem(last=False)
    return _RECENT[key]
