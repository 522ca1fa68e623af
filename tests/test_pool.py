"""A network's seeds as separate pool tasks, gathered into one score."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from dse import proxy
from dse.config import SearchConfig
from dse.search import pool, resolve
from dse.seeds import training_seeds

CONFIG = SearchConfig(space="small", train_seeds=3, seed=7)


@pytest.fixture
def seed_scores(monkeypatch):
    """Each seed scores its position in the run's seeds; the first seed finishes last."""
    seeds = training_seeds(CONFIG.seed, CONFIG.train_seeds)

    def evaluate(arch, data, dtypes, *, budget, seed):
        k = seeds.index(seed)
        time.sleep(0.2 if k == 0 else 0.0)
        if arch.cells == (13,):
            raise FloatingPointError(f"seed {seed} broke")
        return proxy.NetworkScore(accuracy=0.1 * k, quantized={d: 0.2 * k for d in dtypes},
                                  train_seconds=1.0, epochs_run=1,
                                  diverged="nan loss" if k == 2 else None)

    monkeypatch.setattr(proxy, "evaluate_network", evaluate)
    inputs = resolve(CONFIG)
    with ThreadPoolExecutor(max_workers=3, initializer=pool.hold_inputs,
                            initargs=(inputs,)) as executor:
        yield inputs, executor, seeds


def test_seeds_are_gathered_in_seed_order_whatever_finishes_first(seed_scores) -> None:
    inputs, executor, seeds = seed_scores
    arch = inputs.architecture("gru", (8,), "int8")
    score = pool.submit_score(executor, CONFIG, arch, ("int8", "int16")).result(timeout=10)
    assert score["accuracy_seeds"] == [0.0, 0.1, 0.2]
    assert score["quantized_seeds"] == {"int8": [0.0, 0.2, 0.4], "int16": [0.0, 0.2, 0.4]}
    assert score["accuracy"] == pytest.approx(0.1) and score["quantized"]["int8"] == pytest.approx(0.2)
    assert score["train_seconds"] == 3.0
    assert score["diverged"] == f"seed {seeds[2]}: nan loss"


def test_a_seed_that_fails_fails_the_network(seed_scores) -> None:
    inputs, executor, _ = seed_scores
    arch = inputs.architecture("gru", (13,), "int8")
    with pytest.raises(FloatingPointError, match="broke"):
        pool.submit_score(executor, CONFIG, arch, ("int8",)).result(timeout=10)
