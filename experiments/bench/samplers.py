"""Sampler quality: hypervolume and Pareto-set recovery against the exhaustive front.

    python experiments/bench/samplers.py [--space small] [--task motion] [--seeds 0 1 2 3 4]
                                         [--train-seeds 3] [--against means|own]
                                         [--trainings N ...] [--profiles stm32l4 ...]

Each seed's exhaustive truth (every network trained with that run seed's k training seeds,
as a search trains it; the run seed also draws the data: experiments/bench/exhaustive.py,
cached; made with this process's BLAS kernels,
OPENBLAS_CORETYPE) is the reference for the runs with that seed. Each sampler runs through
the real search loop (`dse.search.run_study`: real SQLite
storage, constraints, one training per network recording every dtype, deduplication) with
the trainings answered from the truth, which gives the same numbers as training because a
score is a pure function of (network, data, budget, seeds). A run is valued by what it
reports: its pareto.csv (the front of its k-seed means). Baseline: random search, in the
same run.

Prints, per sampler and budget (trainings as a share of the space's networks, or
``--trainings``), the median over seeds (and profiles) of the hypervolume ratio (found
front / true front; accuracy_quantized up, latency down; reference point: the true front's
nadir pushed out by 10 % of its range), of the share of the true front's members found and
of its distinct networks found (in any dtype), the mean regret (accuracy lost at the true
front's latencies: each member's accuracy minus the best found no slower), and the training
seconds the run's trainings took when the truth was computed. A network's score does not
depend on the profile, so one cached truth values runs on every ``--profiles`` entry (each
prices the space its own way: other budgets, other latencies).
`ehvi@E` runs ehvi with its improvement divided by the training time to the power E
(`ehvi@0`: plain expected improvement). `oracle` is the
ceiling, not a sampler: it knows the truth and adds, one training at a time, the network
whose candidates add the most hypervolume (minutes on the `default` space).
`mean-oracle` picks the same way knowing only every candidate's mean over the seeds' truths:
a yardstick (not a strict bound) for a sampler that knows each network's average score but
not its seed's noise.

`--against means` (the default) values every run at the mean of its candidates' scores over
all the seeds' truths (k x seeds trainings per network) instead of its own seed's: one
seed's front is partly its luckiest scores, the means' front is what a network scores on
average (the runs still search with their own seed's scores, as a user's run does; the
oracle knows the means).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from concurrent.futures import Future
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np
import optuna
from exhaustive import Row, network_scores, rows_of  # same folder

from dse import proxy, results
from dse.config import DEFAULT_TRAIN_SEEDS, SearchConfig
from dse.pareto import hypervolume_2d, non_dominated
from dse.search import ehvi, open_study, pool, resolve, run_study
from dse.search.samplers import make_sampler
from dse.seeds import training_seeds

SAMPLERS = ["random", "tpe", "gp", "ehvi"]


class TruthPool:
    """Stands in for the process pool: answers each seed's training from the exhaustive
    table (which holds every training seed's scores of the run seed's trainings)."""

    def __init__(self, config: SearchConfig, scores: dict[str, dict]) -> None:
        self.seeds = training_seeds(config.seed, config.train_seeds)
        self.scores = scores

    def submit(self, fn: Any, arch: Any, dtypes: tuple[str, ...], seed: int) -> Future:
        scores, k = self.scores[arch.text], self.seeds.index(seed)
        future: Future = Future()
        future.set_result(proxy.NetworkScore(
            accuracy=scores["accuracy_seeds"][k],
            quantized={d: scores["quantized_seeds"][d][k] for d in dtypes},
            train_seconds=0.0, epochs_run=0))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        return None


def front_keys(rows: list[Row]) -> set[str]:
    """Keys of the feasible rows on the (accuracy_quantized up, latency down) front."""
    rows = [r for r in rows if r.feasible]
    points = np.array([(-r.accuracy_quantized, r.report.latency_ms) for r in rows])
    return {r.key for r, on in zip(rows, non_dominated(points)) if on}


def quality(found: set[str], rows: dict[str, Row]) -> tuple[float, float, float]:
    """HV ratio of the found candidates' front, the share of the true front's members found,
    and the share of its distinct networks found in any dtype (a front's int8/int16 twins
    are near-ties, not separate finds)."""
    true_front = front_keys(list(rows.values()))
    truth_points = np.array([(-rows[k].accuracy_quantized, rows[k].report.latency_ms)
                             for k in true_front])
    span = truth_points.max(0) - truth_points.min(0)
    reference = truth_points.max(0) + 0.1 * span  # the true front's nadir, 10 % out
    found_points = np.array([(-rows[k].accuracy_quantized, rows[k].report.latency_ms)
                             for k in found if k in rows and rows[k].feasible]).reshape(-1, 2)
    ratio = hypervolume_2d(found_points, reference) / hypervolume_2d(truth_points, reference)
    true_networks = {rows[k].network for k in true_front}
    found_networks = {rows[k].network for k in found if k in rows}
    return (ratio, len(found & true_front) / len(true_front),
            len(found_networks & true_networks) / len(true_networks))


def regret(found: set[str], rows: dict[str, Row]) -> float:
    """Mean accuracy lost at the true front's latencies: for each true front member, its
    accuracy minus the best found candidate's no slower than it (what a user who picks by
    a latency budget gives up; every true front member counts once, so the cheap end, where
    the front is dense, weighs as much as it does in the front itself)."""
    lost = []
    for key in front_keys(list(rows.values())):
        limit, best = rows[key].report.latency_ms, rows[key].accuracy_quantized
        found_best = max((rows[k].accuracy_quantized for k in found
                          if k in rows and rows[k].feasible
                          and rows[k].report.latency_ms <= limit), default=0.0)
        lost.append(best - found_best)  # no found candidate dominates a true front member
    return statistics.fmean(lost)


def greedy_oracle(table: dict[str, Row], trainings: int) -> set[str]:
    """Keys of the candidates of ``trainings`` networks chosen knowing every score: each
    time the one whose candidates raise the found front's hypervolume the most."""
    candidates: dict[str, set[str]] = {}
    for key, row in table.items():
        candidates.setdefault(row.network, set()).add(key)
    found: set[str] = set()
    for _ in range(min(trainings, len(candidates))):
        best = max(sorted(candidates), key=lambda n: quality(found | candidates[n], table)[0])
        found |= candidates.pop(best)
    return found


def mean_truth(tables: list[dict[str, Row]]) -> dict[str, Row]:
    """Each candidate at the mean of its scores over the tables (seeds): the costs do not
    depend on the seed."""
    return {key: replace(row, accuracy=statistics.fmean(t[key].accuracy for t in tables),
                         accuracy_quantized=statistics.fmean(t[key].accuracy_quantized
                                                             for t in tables))
            for key, row in tables[0].items()}


def search(config: SearchConfig, scores: dict[str, dict],
           exponent: float) -> tuple[set[str], set[str]]:
    """Keys of the candidates a real search with ``config`` reports (its pareto.csv), and the
    networks it trained; trainings from the truth; ``exponent`` is ehvi's training-cost
    exponent."""
    with tempfile.TemporaryDirectory() as folder:
        inputs = resolve(config)
        study = open_study(inputs, f"sqlite:///{folder}/s.db", "bench")
        run_study(inputs, study,
                  sampler_factory=partial(make_sampler, training_cost_exponent=exponent))
        trials = results.trials_frame(study)
        front = results.pareto_frame(trials)
        trained = set(trials["arch"][trials["feasible"] & trials["accuracy_mean"].notna()])
        return {f"{arch}|{dtype}" for arch, dtype in zip(front["arch"], front["dtype"])}, trained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", nargs="+", default=["stm32l4"],
                        help="profiles to price the space on (the truth's scores are the same)")
    parser.add_argument("--space", default="small")
    parser.add_argument("--task", default="motion")
    parser.add_argument("--samplers", nargs="+", default=SAMPLERS)
    parser.add_argument("--shares", nargs="+", type=float, default=[0.1, 0.2, 0.3, 0.5])
    parser.add_argument("--trainings", nargs="+", type=int,
                        help="budgets in networks (instead of --shares)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--train-seeds", type=int, default=DEFAULT_TRAIN_SEEDS)
    parser.add_argument("--against", choices=["own", "means"], default="means",
                        help="value each run at its own seed's truth or at the seeds' means")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)

    start = time.perf_counter()
    cases = []  # (config, its seed's truth, the scores, its profile's mean truth)
    for profile in args.profiles:
        truths = []
        for seed in args.seeds:
            config = SearchConfig(profile=profile, space=args.space, task=args.task, seed=seed,
                                  train_seeds=args.train_seeds)
            inputs = resolve(config)
            scores = network_scores(inputs, verbose=False)  # the missing ones trained now
            truths.append((config, rows_of(inputs, scores), scores))
        means = mean_truth([table for _, table, _ in truths])
        cases += [(config, table, scores, means) for config, table, scores in truths]
    networks = len({r.network for r in cases[0][1].values()})
    print(f"truth: {networks} networks per seed, seeds {args.seeds} x {args.train_seeds} "
          f"training seeds, profiles {args.profiles}, {time.perf_counter() - start:.0f} s")

    budgets = args.trainings or [max(2, round(share * networks)) for share in args.shares]
    rows = []
    for sampler in args.samplers:
        for trainings in budgets:
            ratios, recovered, networks_found, lost, seconds, training = [], [], [], [], [], []
            name, _, power = sampler.partition("@")  # ehvi@0: no training-time weighting
            exponent = float(power or ehvi.TRAINING_COST_EXPONENT)
            for config, table, scores, means in cases:
                valued = means if args.against == "means" else table
                pool.start_pool = lambda inputs, workers, c=config, s=scores: TruthPool(c, s)
                began = time.perf_counter()
                oracle_knows = {"oracle": valued, "mean-oracle": means}
                if name in oracle_knows:
                    found = greedy_oracle(oracle_knows[name], trainings)
                    trained = {key.split("|")[0] for key in found}
                else:
                    found, trained = search(replace(config, sampler=name, trainings=trainings),
                                            scores, exponent)
                seconds.append(time.perf_counter() - began)
                ratio, share_found, share_networks = quality(found, valued)
                ratios.append(ratio)
                recovered.append(share_found)
                networks_found.append(share_networks)
                lost.append(regret(found, valued))
                training.append(sum(scores[n]["train_seconds"] for n in trained))
            rows.append((sampler, trainings, statistics.median(ratios),
                         statistics.median(recovered), statistics.median(networks_found),
                         statistics.fmean(lost), statistics.median(training),
                         statistics.median(seconds)))
            print(f"  {sampler:<11} {trainings:>4} trainings  HV ratio "
                  f"{statistics.median(ratios):.3f} ({' '.join(f'{r:.3f}' for r in ratios)})  "
                  f"front found {statistics.median(recovered):.2f}, its networks "
                  f"{statistics.median(networks_found):.2f}, regret "
                  f"{statistics.fmean(lost):.4f}", flush=True)

    print()
    print(f"sampler quality on {args.space} ({networks} networks), task {args.task}, profiles "
          f"{' '.join(args.profiles)}; median of seeds {args.seeds} (regret: mean), each against "
          f"{'the means of their truths' if args.against == 'means' else 'its own truth'}")
    print(f"{'sampler':<10}{'share':>7}{'trainings':>11}{'HV ratio':>10}{'vs random':>11}"
          f"{'front found':>13}{'networks':>10}{'regret':>9}{'training s':>12}{'search s':>10}")
    random_hv = {n: hv for sampler, n, hv, *_ in rows if sampler == "random"}
    for sampler, trainings, hv, front_share, network_share, lost, train_s, secs in rows:
        baseline = random_hv.get(trainings)
        versus = f"{hv / baseline:.3f}" if baseline else "-"
        print(f"{sampler:<10}{trainings / networks:>7.0%}{trainings:>11}{hv:>10.3f}{versus:>11}"
              f"{front_share:>13.2f}{network_share:>10.2f}{lost:>9.4f}"
              f"{train_s:>12.0f}{secs:>10.1f}")


if __name__ == "__main__":
    main()
