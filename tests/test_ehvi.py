"""The cost-aware sampler's parts: its Gaussian process, its expected hypervolume
improvement against brute force, and its proposals on a real priced space."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dse.config import SearchConfig
from dse.pareto import hypervolume_2d, non_dominated
from dse.search import resolve, surrogate
from dse.search.ehvi import (
    BEYOND_REACH,
    REFERENCE_MARGIN,
    EhviSampler,
    expected_improvement,
    price_space,
)
from dse.search.samplers import sampler_name


def test_the_process_interpolates_and_grows_uncertain_away_from_data() -> None:
    rng = np.random.default_rng(0)
    X = rng.random((30, 2))
    y = np.sin(3 * X[:, 0]) + X[:, 1]
    gp = surrogate.fit(X, y, X[:, :1])
    mean, std = surrogate.predict(gp, X, X[:, :1])
    assert np.abs(mean - y).max() < 0.1  # a smooth function is learned
    far = np.array([[3.0, 3.0]])
    _, far_std = surrogate.predict(gp, far, far[:, :1])
    assert far_std[0] > 2 * std.mean()


@pytest.mark.parametrize("costs", [1, 2])
def test_expected_improvement_equals_brute_force(costs: int) -> None:
    """Closed form (one cost: exact; two: volume on fixed points) against sampling the
    accuracy and computing each hypervolume gain directly."""
    rng = np.random.default_rng(1)
    front_x = rng.random((6, costs)) * 0.8
    front_acc = rng.random(6) * 0.5 + 0.4
    keep = non_dominated(np.column_stack([-front_acc, front_x]))
    front_acc, front_x = front_acc[keep], front_x[keep]
    x = rng.random((5, costs)) * 0.8
    mean, std = rng.random(5) * 0.5 + 0.4, rng.random(5) * 0.1 + 0.02
    reference = 0.3
    closed = expected_improvement(mean, std, x, front_acc, front_x, reference)
    draws = rng.normal(mean[:, None], std[:, None], (5, 20_000))
    if costs == 1:
        base = hypervolume_2d(np.column_stack([-front_acc, front_x[:, 0]]), (-reference, 1.0))
        for i in range(5):
            gains = [hypervolume_2d(np.vstack([np.column_stack([-front_acc, front_x[:, 0]]),
                                               [-y, x[i, 0]]]), (-reference, 1.0)) - base
                     for y in draws[i, :2000]]
            assert closed[i] == pytest.approx(np.mean(gains), abs=4 * np.std(gains) / 45 + 1e-9)
    else:  # volume in (accuracy, cost 1, cost 2) on a fine grid, for one candidate
        grid = np.random.default_rng(2).random((200_000, 3)) * [1.0 - reference, 1, 1]
        grid[:, 0] += reference
        def dominated(points: np.ndarray) -> np.ndarray:
            return np.any((grid[None, :, 0] <= points[:, None, 0])
                          & np.all(grid[None, :, 1:] >= points[:, None, 1:], axis=2), axis=0)
        base = dominated(np.column_stack([front_acc, front_x]))
        i = int(np.argmax(closed))
        gains = [(dominated(np.array([[y, *x[i]]])) & ~base).mean() * (1 - reference)
                 for y in draws[i, :300]]
        assert closed[i] == pytest.approx(np.mean(gains), rel=0.15)


def test_a_network_beyond_the_reference_gains_by_how_far_it_may_beat_the_best() -> None:
    """Dearer than the reference cost, a network adds volume only above the front's best
    accuracy, on a box of side BEYOND_REACH per cost beyond the reference: it counts by its
    expected excess over the best, whatever it costs (before, it counted nothing, and the
    front's dear end stalled on the Cortex-M7 profiles)."""
    front_acc, front_x, best = np.array([0.6, 0.8]), np.array([[0.2], [0.5]]), 0.8
    mean, std = np.array([0.85, 0.85, 0.7]), np.full(3, 0.03)
    closed = expected_improvement(mean, std, np.array([[1.5], [3.0], [1.5]]),
                                  front_acc, front_x, reference=0.5)
    z = (best - mean) / std
    excess = std * np.exp(-z * z / 2) / math.sqrt(2 * math.pi) + (mean - best) * (
        1 - np.array([0.5 * (1 + math.erf(v / math.sqrt(2))) for v in z]))  # E[(y - best)+]
    assert closed == pytest.approx(BEYOND_REACH * excess, abs=1e-8)
    assert closed[0] > 0 and closed[2] < closed[0] / 1000
    two = expected_improvement(mean[:1], std[:1], np.array([[1.5, 0.3]]), front_acc,
                               np.array([[0.2, 0.2], [0.5, 0.5]]), reference=0.5)
    assert two[0] == pytest.approx(BEYOND_REACH * 0.7 * excess[0], rel=1e-6)


def test_the_sampler_never_proposes_a_candidate_over_a_budget() -> None:
    config = SearchConfig(space="default", max_latency_ms=20.0, max_ram_kb=12.0)
    inputs = resolve(config)
    sampler = EhviSampler.from_inputs(inputs, batch=0)
    priced = sampler.priced
    assert priced.fits.any() and not priced.fits.all()
    chosen: list = []
    for _ in range(12):  # the prior phase, then on made-up scores the model's
        row, dtype = sampler.propose(chosen)
        assert priced.fits[row, priced.dtypes.index(dtype)]
        chosen.append(_scored(inputs, priced, row, dtype, accuracy=0.5 + 0.01 * len(chosen)))
    networks = [t.user_attrs["arch"] for t in chosen]
    assert len(set(networks)) == len(networks)  # never the same network twice
    limit = price_space(inputs, ("latency_ms",)).fits.any(1).sum()
    assert sampler.network_limit == limit


def test_the_first_batch_spans_the_costs() -> None:
    """Before any score, the picks come from the prior front: its cheapest network, then its
    dearest, so the first model (from those two scores) sees how accuracy grows with
    capacity; the third falls between, nearer the cheap end (spread in sqrt cost, like
    width). Starting from the median cost, the first two were both dear (gru:64 and
    lstm:64,64 on `small`) and the model learned nothing of the small networks."""
    inputs = resolve(SearchConfig(space="small"))
    sampler = EhviSampler.from_inputs(inputs, batch=0)
    priced = sampler.priced
    members = np.flatnonzero(priced.prior_front)
    cheapest, dearest = (members[np.argmin(priced.cost[members])],
                         members[np.argmax(priced.cost[members])])
    picks: list = []
    for _ in range(3):
        row, dtype = sampler.propose(picks)
        picks.append(_scored(inputs, priced, row, dtype, accuracy=0.5))
    rows = [priced.row[t.user_attrs["arch"]] for t in picks]
    assert rows[:2] == [cheapest, dearest]
    middle = priced.cost[rows[2]]
    assert priced.cost[cheapest] < middle < (priced.cost[cheapest] + priced.cost[dearest]) / 2


def _scored(inputs, priced, row, dtype, accuracy):
    import optuna

    cell, cells = priced.networks[row]
    arch, report = inputs.price(cell, cells, dtype)
    attrs = {"key": f"{arch.text}|{dtype}", "arch": arch.text, "dtype": dtype,
             "feasible": report.fits, "accuracy": accuracy, "accuracy_quantized": accuracy,
             "batch": -2}
    return optuna.trial.create_trial(values=[accuracy, report.latency_ms], user_attrs=attrs)


@pytest.mark.parametrize(("objectives", "expected"), [
    (("accuracy_quantized", "latency_ms"), "ehvi"),
    (("accuracy", "flash_bytes", "ram_bytes"), "ehvi"),
    (("accuracy", "accuracy_quantized", "latency_ms"), "tpe"),  # two accuracies: not modelled
])
def test_auto_is_ehvi_where_its_objectives_suit_it(objectives, expected) -> None:
    assert sampler_name(SearchConfig(objectives=objectives)) == expected
    assert sampler_name(SearchConfig(objectives=objectives, sampler="random")) == "random"


def test_the_sampler_proposes_within_reach_of_the_front() -> None:
    """The reference cost is the front's nadir pushed out by 10 % of its range: a network
    dearer than that counts only by how far it may beat the front's best accuracy, so on
    saturating, noisy scores the front grows dearer a step at a time. On these a reference
    at the dearest feasible network (the sampler before) proposed a 170 ms network beyond
    that reach."""
    inputs = resolve(SearchConfig(space="default"))
    sampler = EhviSampler.from_inputs(inputs, batch=0)
    priced = sampler.priced
    feasible = priced.costs[..., 0][priced.fits]
    floor = 0.01 * (feasible.max() - feasible.min()) * (1 + REFERENCE_MARGIN)  # 0.01 cost unit
    chosen: list = []
    for step in range(24):
        row, dtype = sampler.propose(chosen)
        latency = inputs.price(*priced.networks[row], dtype)[1].latency_ms
        if step >= 4:  # past the picks made before any score
            front = np.array([t.values for t in chosen])
            front = front[non_dominated(np.column_stack([-front[:, 0], front[:, 1]]))]
            nadir, cheapest = front[:, 1].max(), front[:, 1].min()
            reach = nadir + REFERENCE_MARGIN * max(nadir - cheapest, floor)
            assert latency <= reach, (step, latency)
        noise = 0.03 * np.sin(7.0 * row)  # a network's own luck, as a training seed gives
        chosen.append(_scored(inputs, priced, row, dtype,
                              accuracy=0.95 - 0.4 * np.exp(-latency / 20) + noise))
