"""The cost-aware sampler (``--sampler ehvi``): the costs are exact, only accuracy is modelled.

Every network of the space (a seeded sample of :data:`MAX_NETWORKS` of a larger space) is
priced once, in every dtype, with the vectorized cost model; a candidate over a budget is
never proposed. A Gaussian process over the network's shape predicts the float accuracy one
training gives; a dtype's accuracy is that plus the dtype's offset measured on the networks
trained so far. The sampler proposes the untrained network whose feasible dtype variants
(one training records them all) add the most expected hypervolume to the front per squared
training time (parameters plus a fixed share per layer): the costs enter as they are, the
accuracy is integrated in closed form over its prediction. The reference cost is the front's
nadir pushed out by 10 % of its range, as the benchmarks measure a front: a network dearer
than that counts only by how far it may beat the front's best accuracy, and the trainings go
where the front is. Networks in training stand in the front at their predicted accuracy (a
kriging believer), so the trials of one batch spread out. The first :data:`INITIAL`
trainings are a space-filling design over the costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.trial import TrialState

from dse.architecture import Architecture
from dse.config import ACCURACY_OBJECTIVES
from dse.pareto import non_dominated
from dse.search import surrogate
from dse.search.attrs import BATCH_ATTR
from dse.space import SearchSpace

if TYPE_CHECKING:
    from dse.search.inputs import SearchInputs

MAX_NETWORKS = 50_000  # networks priced and modelled; a larger space is sampled
INITIAL = 2  # trainings scored before the model proposes (the prior front before)
QMC_POINTS = 2048  # points that measure cost-space volume when there are two or more costs
REFERENCE_MARGIN = 0.1  # reference point: the worst value pushed out by 10 % of the range
BEYOND_REACH = 0.01  # least side of the box a new best network gains, per cost (of 0..reference)
LAYER_PARAMS = 4_000  # a layer's fixed training time, in parameters' worth (train_seconds fit)
TRAINING_COST_EXPONENT = 2.0  # improvement per training time^this: samplers.py (benchmarks.md)


@dataclass(frozen=True)
class PricedSpace:
    """The networks a sampler chooses from, each priced in every dtype."""

    networks: tuple[tuple[str, tuple[int, ...]], ...]
    names: tuple[str, ...]  # each network as text ("lstm:24,8")
    row: dict[str, int]  # name -> index into networks
    features: np.ndarray  # (N, F) shape features scaled to [0, 1]
    capacity: np.ndarray  # (N, 2) log parameter count, log width of the bottleneck; [0, 1]
    training_cost: np.ndarray  # (N,) relative training time: parameters + LAYER_PARAMS a layer
    prior_front: np.ndarray  # (N,) most capacity for the cost: where to look before data
    cost: np.ndarray  # (N,) the cheapest feasible variant's normalized cost (inf: none fits)
    costs: np.ndarray  # (N, D, C) the cost objectives, in their units
    fits: np.ndarray  # (N, D) within every budget
    dtypes: tuple[str, ...]


def price_space(inputs: SearchInputs, cost_names: tuple[str, ...]) -> PricedSpace:
    """Every network of the space (or a seeded sample), priced with the cost model."""
    space = inputs.space
    count = space.network_count
    if count <= MAX_NETWORKS:
        indices = np.arange(count)
    else:
        draws = np.random.default_rng(inputs.config.seed).integers(0, count, 2 * MAX_NETWORKS)
        indices = np.sort(np.unique(draws)[:MAX_NETWORKS])
    networks = tuple(space.network_at(int(i)) for i in indices)
    archs = [inputs.architecture(cell, cells, dtype) for cell, cells in networks
             for dtype in space.dtypes]
    priced = inputs.price_all(archs)
    shape = (len(networks), len(space.dtypes))
    costs = np.stack([getattr(priced, name) for name in cost_names], axis=-1)
    params = priced.params.reshape(shape)[:, 0].astype(float)
    names = tuple(arch.text for arch in archs[::shape[1]])
    costs = costs.reshape(*shape, len(cost_names)).astype(float)
    fits = priced.fits.reshape(shape)
    capacity = np.column_stack([np.log(params), [np.log(bottleneck(c)) for _, c in networks]])
    low, high = _cost_bounds(costs, fits)
    cost = np.where(fits[..., None], (costs - low) / (high - low), np.inf).sum(2).min(1)
    feasible = np.isfinite(cost)
    prior_front = np.zeros(len(networks), dtype=bool)
    points = np.column_stack([-capacity, cost])[feasible]
    prior_front[np.flatnonzero(feasible)] = non_dominated(points) if len(points) else []
    return PricedSpace(
        networks=networks,
        names=names,
        row={name: i for i, name in enumerate(names)},
        features=_scaled(np.array([
            [cell == "lstm", len(cells), np.log(cells[0]), np.log(cells[-1]),
             np.log(min(cells)), np.log(p)]
            for (cell, cells), p in zip(networks, params)], dtype=float)),
        capacity=_scaled(capacity),
        training_cost=params + LAYER_PARAMS * np.array([len(c) for _, c in networks]),
        prior_front=prior_front,
        cost=cost,
        costs=costs,
        fits=fits,
        dtypes=tuple(space.dtypes),
    )


def bottleneck(cells: tuple[int, ...]) -> int:
    """The width that limits what a stack of layers can pass on: its narrowest layer but the
    last (the last feeds only the classifier, so a narrow one costs little: gru:24,8 scores
    0.736 on motion, gru:24 0.662), or the only one."""
    return min(cells[:-1] or cells)


def _scaled(features: np.ndarray) -> np.ndarray:
    low, span = features.min(0), np.ptp(features, 0)
    return (features - low) / np.where(span > 0, span, 1)


class EhviSampler(optuna.samplers.BaseSampler):
    """Proposes the feasible untrained network of largest expected hypervolume improvement.

    For ask batch k it learns from the scores of batches up to k - 2 and counts the networks
    of batch k - 1 (and those asked before in batch k) as in training, whatever their state:
    that is what the pipelined loop shows an uninterrupted run, so a resumed run proposes
    the same networks.
    """

    def __init__(self, space: SearchSpace, priced: PricedSpace, accuracy: str, batch: int, *,
                 training_cost_exponent: float = TRAINING_COST_EXPONENT) -> None:
        self.space, self.priced, self.accuracy, self.batch = space, priced, accuracy, batch
        self.training_cost_exponent = training_cost_exponent

    @classmethod
    def from_inputs(cls, inputs: SearchInputs, batch: int, *,
                    training_cost_exponent: float = TRAINING_COST_EXPONENT) -> EhviSampler:
        """The sampler of a search: its space priced on its profile within its budgets, for
        its one accuracy objective against its costs."""
        objectives = inputs.config.objectives
        accuracy = next(name for name in objectives if name in ACCURACY_OBJECTIVES)
        costs = tuple(name for name in objectives if name not in ACCURACY_OBJECTIVES)
        return cls(inputs.space, price_space(inputs, costs), accuracy, batch,
                   training_cost_exponent=training_cost_exponent)

    def for_batch(self, batch: int) -> EhviSampler:
        """The same sampler (and priced space) for another batch."""
        return EhviSampler(self.space, self.priced, self.accuracy, batch,
                           training_cost_exponent=self.training_cost_exponent)

    @property
    def network_limit(self) -> int:
        """Networks with a feasible candidate: the most trainings this sampler can ask for."""
        return int(self.priced.fits.any(1).sum())

    def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, BaseDistribution]:
        return {name: CategoricalDistribution(choices)
                for name, choices in self.space.choices().items()}

    def sample_relative(self, study: Any, trial: Any,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        trials = [t for t in study.get_trials(deepcopy=False) if t.number != trial.number]
        row, dtype = self.propose(trials)
        cell, cells = self.priced.networks[row]
        params = self.space.params_of(cell, cells, dtype)
        return {name: value for name, value in params.items() if name in search_space}

    def sample_independent(self, study: Any, trial: Any, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        raise RuntimeError(f"ehvi proposes every parameter; {param_name!r} was not proposed")

    def propose(self, trials: list[optuna.trial.FrozenTrial]) -> tuple[int, str]:
        """The row and dtype of the next network to train, given the study's trials."""
        priced = self.priced
        scored = [t for t in trials if t.user_attrs.get(BATCH_ATTR, -1) <= self.batch - 2]
        asked = [t for t in trials if t.user_attrs.get(BATCH_ATTR, -1) >= self.batch - 1
                 and t.state != TrialState.FAIL]
        observed = _observed(scored, self.accuracy, priced.row)
        trained = {priced.row[name] for name in observed["network"]}
        pending = {priced.row[name] for name in _asked(asked, self.space)
                   if name in priced.row} - trained
        open_rows = np.asarray(priced.fits.any(1))
        open_rows[list(trained | pending)] = False
        if not open_rows.any():  # all trained (the loop stops before; other workers may not)
            open_rows = np.asarray(priced.fits.any(1))
        if len(trained) < INITIAL:
            row = self._prior_pick(open_rows, sorted(trained | pending))
            return row, self._cheapest_fit(row)
        return self._best_improvement(observed, sorted(trained), sorted(pending), open_rows)

    def _cheapest_fit(self, row: int) -> str:
        return self.priced.dtypes[int(np.argmax(self.priced.fits[row]))]

    def _prior_pick(self, open_rows: np.ndarray, chosen: list[int]) -> int:
        """Before the model has data: of the networks with the most capacity for their cost
        (the prior front), the cheapest first, then the open one farthest from those chosen
        in the square root of cost (cost grows with width squared, so the picks spread as
        evenly in width). The first batch spans the costs, so the first model sees how
        accuracy grows with capacity instead of two dear networks a noise apart."""
        priced = self.priced
        candidates = np.flatnonzero(open_rows & priced.prior_front)
        if not len(candidates):
            candidates = np.flatnonzero(open_rows)
        spread = np.sqrt(priced.cost)
        if not chosen:
            return int(candidates[np.argmin(spread[candidates])])
        gaps = np.abs(spread[candidates, None] - spread[chosen][None, :]).min(1)
        return int(candidates[np.argmax(gaps)])

    def _best_improvement(self, observed: dict[str, np.ndarray], trained: list[int],
                          pending: list[int], open_rows: np.ndarray) -> tuple[int, str]:
        priced = self.priced
        rows = np.array([priced.row[name] for name in observed["network"]])
        float_of = dict(zip(rows.tolist(), observed["float"]))
        gp = surrogate.fit(priced.features[trained], np.array([float_of[r] for r in trained]),
                           priced.capacity[trained])
        offset, spread = _dtype_offsets(observed, priced.dtypes)

        low, high = _cost_bounds(priced.costs, priced.fits)
        x = (priced.costs - low) / (high - low)  # (N, D, C) normalized, feasible ones in [0, 1)

        front_acc = observed["accuracy"]
        front_x = x[rows, [priced.dtypes.index(d) for d in observed["dtype"]]]
        if pending:  # believed: at the predicted accuracy
            mean, _ = surrogate.predict(gp, priced.features[pending], priced.capacity[pending])
            for row, value in zip(pending, mean):
                fits = np.flatnonzero(priced.fits[row])
                front_acc = np.concatenate([front_acc, value + offset[fits]])
                front_x = np.concatenate([front_x, x[row, fits]])
        reference = front_acc.min() - REFERENCE_MARGIN * max(np.ptp(front_acc), 0.01)
        keep = non_dominated(np.column_stack([-front_acc, front_x]))
        nadir = front_x[keep].max(0)
        scale = nadir + REFERENCE_MARGIN * np.maximum(nadir - front_x[keep].min(0), 0.01)
        x, front_x = x / scale, front_x / scale  # the reference cost: the front's nadir, 10 % out

        open_idx = np.flatnonzero(open_rows)
        mean, std = surrogate.predict(gp, priced.features[open_idx], priced.capacity[open_idx])
        gain = np.zeros((len(open_idx), len(priced.dtypes)))
        for d in range(len(priced.dtypes)):
            fits = priced.fits[open_idx, d]
            gain[fits, d] = expected_improvement(
                mean[fits] + offset[d], np.sqrt(std[fits] ** 2 + spread[d] ** 2),
                x[open_idx[fits], d], front_acc[keep], front_x[keep], reference)
        rate = gain.sum(1) / priced.training_cost[open_idx] ** self.training_cost_exponent
        best = int(np.argmax(rate))
        return int(open_idx[best]), priced.dtypes[int(np.argmax(gain[best]))]


def _observed(trials: list[optuna.trial.FrozenTrial], accuracy: str,
              known: dict[str, int]) -> dict[str, np.ndarray]:
    """The scored feasible candidates of ``known`` networks: network, dtype, objective and
    float accuracy."""
    rows = {}
    for t in trials:
        attrs = t.user_attrs
        scored = attrs.get("feasible") and not np.isnan(attrs.get(accuracy, np.nan))
        if t.state == TrialState.COMPLETE and scored and attrs["arch"] in known:
            rows[attrs["key"]] = (attrs["arch"], attrs["dtype"], attrs[accuracy], attrs["accuracy"])
    network, dtype, score, floats = zip(*rows.values()) if rows else ((), (), (), ())
    return {"network": np.array(network, dtype=object), "dtype": np.array(dtype, dtype=object),
            "accuracy": np.array(score, dtype=float), "float": np.array(floats, dtype=float)}


def _asked(trials: list[optuna.trial.FrozenTrial], space: SearchSpace) -> list[str]:
    """Networks of asked trials (those given their parameters)."""
    names = []
    for t in trials:
        try:
            cell, cells, dtype = space.suggest(_Given(t.params))
        except KeyError:  # asked, parameters not yet suggested
            continue
        names.append(Architecture(cell, cells, dtype).text)  # type: ignore[arg-type]
    return names


class _Given:
    """Answers :meth:`SearchSpace.suggest` from a trial's stored parameters."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        return self.params[name]


def _dtype_offsets(observed: dict[str, np.ndarray],
                   dtypes: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Per dtype, the mean and spread of (its accuracy - the float accuracy) so far."""
    offset, spread = np.zeros(len(dtypes)), np.full(len(dtypes), 0.01)
    for d, dtype in enumerate(dtypes):
        diffs = (observed["accuracy"] - observed["float"])[observed["dtype"] == dtype]
        if len(diffs) >= 2:
            offset[d], spread[d] = diffs.mean(), diffs.std()
    return offset, spread


def _cost_bounds(costs: np.ndarray, fits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per cost, the cheapest feasible value and the reference: the dearest feasible one
    pushed out by 10 % of the range."""
    feasible = costs[fits]  # (M, C)
    low, high = feasible.min(0), feasible.max(0)
    return low, high + REFERENCE_MARGIN * np.maximum(high - low, 1e-12)


def expected_improvement(mean: np.ndarray, std: np.ndarray, x: np.ndarray,
                         front_acc: np.ndarray, front_x: np.ndarray,
                         reference: float) -> np.ndarray:
    """Expected hypervolume improvement of M candidates over a front.

    Accuracy is maximized and each candidate's is N(mean, std^2); the costs ``x`` (M, C) are
    exact, minimized and normalized so that the reference cost is 1; ``front_acc`` (K,) and
    ``front_x`` (K, C) are the front, ``reference`` the accuracy floor. The improvement of
    an accuracy y is the integral over t < y of the cost volume the candidate dominates and
    no front point of accuracy >= t does: piecewise constant in t between the front's
    accuracies, so its expectation is a sum of closed-form normal integrals.

    Above the front's best accuracy the volume is the box from the candidate's costs to the
    reference, each side at least :data:`BEYOND_REACH`: a network that beats the best
    extends the front whatever it costs (the true front's reference is unknown), so one
    dearer than the reference earns a sliver instead of nothing. Without it the front's dear
    end stalls where the cheap end is crowded (the Cortex-M7 profiles: benchmarks.md).
    """
    order = np.argsort(front_acc)
    acc, fx = front_acc[order], front_x[order]
    above = acc > reference
    acc, fx = acc[above], fx[above]
    bounds = np.concatenate([[reference], acc, [np.inf]])  # K + 2 edges of K + 1 pieces
    above_all = np.prod(np.maximum(1 - x, BEYOND_REACH), axis=1)  # the last piece's box
    area = np.column_stack([_uncovered(x, fx), above_all])  # (M, K + 1)
    z = (bounds[None, :] - mean[:, None]) / np.maximum(std, 1e-9)[:, None]
    finite = np.where(np.isinf(z), 0.0, z)
    tail = np.where(np.isinf(z), 0.0, _normal_pdf(finite) - finite * (1 - _normal_cdf(finite)))
    pieces = np.maximum(std, 1e-9)[:, None] * (tail[:, :-1] - tail[:, 1:])
    return (area * pieces).sum(1)


def _uncovered(x: np.ndarray, front_x: np.ndarray) -> np.ndarray:
    """(M, K): column k is the cost volume (of the unit box) each candidate dominates and
    front points k, k+1, ... do not (sorted by accuracy, they are those at least as
    accurate as piece k); the piece above the whole front is the caller's."""
    if x.shape[1] == 1:  # one cost: lengths, exact
        reach = np.minimum.accumulate(front_x[::-1, 0])[::-1]  # (K,)
        return np.maximum(0.0, np.minimum(reach, 1.0)[None, :] - x[:, :1])
    points = np.random.default_rng(0).random((QMC_POINTS, x.shape[1]))  # fixed: same bits
    covered = np.all(points[None, :, :] >= front_x[:, None, :], axis=2)  # (K, P)
    cover = np.logical_or.accumulate(covered[::-1], axis=0)[::-1]  # (K, P)
    open_points = (~cover).T.astype(np.float64)
    blocks = [np.all(points[None, :, :] >= chunk[:, None, :], axis=2) @ open_points
              for chunk in np.array_split(x, max(1, len(x) // 2048))]
    return np.vstack(blocks) / QMC_POINTS if blocks else np.zeros((0, len(cover)))


def _normal_pdf(z: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * np.minimum(z * z, 1e4)) / np.sqrt(2 * np.pi)


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    """Standard normal CDF (Abramowitz and Stegun 7.1.26, error < 1.5e-7)."""
    u = np.abs(z) / np.sqrt(2)
    t = 1 / (1 + 0.3275911 * u)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027
                                                                      + t * 1.061405429))))
    erf = 1 - poly * np.exp(-u * u)
    return 0.5 * (1 + np.sign(z) * erf)
