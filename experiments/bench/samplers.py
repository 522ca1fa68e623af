"""Sampler quality: hypervolume and Pareto-set recovery against the exhaustive front.

Scores every architecture of a small space once with the proxy (the exhaustive truth),
then runs each sampler through the real search loop (`dse.search.run_study`, real SQLite
storage, constraints and deduplication) with the proxy answered from that table, which
gives the same numbers as training because a score is a pure function of (architecture,
data, budget, seed). Baseline: random search, in the same run.

    python experiments/bench/samplers.py [--space small] [--task motion] [--seeds 0 1 2]

Prints, per sampler and budget (trials as a share of the space), the median over seeds of
the hypervolume ratio (found front / exhaustive front; accuracy_quantized up, latency down,
reference point: the exhaustive front's nadir pushed out by 10 % of its range, so that the
ratio is not flattered by the empty corner) and of the fraction of
the exhaustive Pareto set recovered.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import tempfile
import time
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

import numpy as np
import optuna

from dse import cells, proxy, tasks
from dse.architecture import Architecture
from dse.config import SearchConfig
from dse.cost import estimate
from dse.pareto import non_dominated
from dse.search import open_study, pool, resolve, run_study
from dse.search.attrs import SCORE_KEYS, UNTRAINED, arch_key

CACHE = Path(__file__).resolve().parent / "results"


def proxy_fingerprint() -> str:
    """Checksum of the code a score depends on: a table cached by other code is stale."""
    digest = hashlib.sha256()
    for module in (cells, proxy, tasks):
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()[:16]


def exhaustive(config: SearchConfig) -> dict[str, dict]:
    """Proxy score and cost of every candidate of the space (cached in experiments/bench/results,
    with the fingerprint of the proxy code that computed it)."""
    inputs = resolve(config)
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"exhaustive-{config.profile}-{config.task}-{config.space}-seed{config.seed}.json"
    fingerprint = proxy_fingerprint()
    if path.exists():
        cached = json.loads(path.read_text())
        if cached.get("proxy_fingerprint") == fingerprint:
            return cached["scores"]
        print(f"  {path.name} was computed by other proxy code: scoring again")
    pool.hold_inputs(inputs)
    table = {}
    shape = inputs.data
    for index, (cell, widths, dtype) in enumerate(inputs.space.candidates()):
        arch = Architecture(cell, widths, dtype, shape.features, shape.timesteps, shape.classes)  # type: ignore[arg-type]
        report = estimate(arch, inputs.profile, ram_mode=inputs.space.ram_mode)  # type: ignore[arg-type]
        score = pool.score(arch) if report.fits else dict(UNTRAINED)
        table[arch_key(arch)] = dict(score, latency_ms=report.latency_ms, feasible=report.fits)
        print(f"  exhaustive {index + 1}/{len(inputs.space.candidates())} {arch_key(arch)} "
              f"{score['accuracy_quantized']:.3f}", flush=True)
    path.write_text(json.dumps({"proxy_fingerprint": fingerprint, "scores": table}, indent=1,
                               sort_keys=True))
    return table


class TableExecutor:
    """Stands in for the process pool: answers each proxy call from the exhaustive table."""

    def __init__(self, table: dict[str, dict]) -> None:
        self.table = table

    def submit(self, fn, arch: Architecture) -> Future:
        future: Future = Future()
        score = self.table[arch_key(arch)]
        future.set_result({k: score[k] for k in SCORE_KEYS})
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        return None


def front_points(rows: list[dict]) -> np.ndarray:
    """Feasible (accuracy, latency) points on the front, as minimization (-acc, latency)."""
    points = np.array([(-r["accuracy_quantized"], r["latency_ms"]) for r in rows
                       if r["feasible"] and r["accuracy_quantized"] == r["accuracy_quantized"]])
    return points[non_dominated(points)] if len(points) else np.zeros((0, 2))


def hypervolume(points: np.ndarray, reference: tuple[float, float]) -> float:
    """Area dominated by a 2-D minimization front, up to the reference point."""
    inside = points[(points[:, 0] < reference[0]) & (points[:, 1] < reference[1])]
    inside = inside[np.argsort(inside[:, 0])]
    area, last_y = 0.0, reference[1]
    for x, y in inside:
        if y < last_y:
            area += (reference[0] - x) * (last_y - y)
            last_y = y
    return area


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="stm32l4")
    parser.add_argument("--space", default="small")
    parser.add_argument("--task", default="motion")
    parser.add_argument("--samplers", nargs="+",
                        default=["random", "tpe", "tpe-conditional", "nsga2", "gp",
                                 "gp-conditional"],
                        help="NAME or NAME-conditional (layer cells asked only when used)")
    parser.add_argument("--shares", nargs="+", type=float, default=[0.1, 0.2, 0.3, 0.5])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)

    base = SearchConfig(profile=args.profile, space=args.space, task=args.task, seed=0)
    start = time.perf_counter()
    table = exhaustive(base)
    truth = front_points(list(table.values()))
    truth_keys = {k for k, r in table.items()
                  if r["feasible"] and (-r["accuracy_quantized"], r["latency_ms"]) in
                  {tuple(p) for p in truth}}
    span = truth.max(axis=0) - truth.min(axis=0)
    reference = tuple(truth.max(axis=0) + 0.1 * span)  # the true front's nadir, 10 % out
    best = hypervolume(truth, reference)
    print(f"exhaustive: {len(table)} architectures, {len(truth_keys)} on the front, "
          f"{time.perf_counter() - start:.0f} s")

    pool.start_pool = lambda inputs, workers: TableExecutor(table)  # answer from the table
    rows = []
    for sampler in args.samplers:
        for share in args.shares:
            trials = max(2, round(share * len(table)))
            ratios, recovered = [], []
            name, _, encoding = sampler.partition("-")
            for seed in args.seeds:
                config = replace(base, sampler=name, trials=trials, seed=seed)
                with tempfile.TemporaryDirectory() as folder:
                    study = open_study(config, f"sqlite:///{folder}/s.db", "bench")
                    inputs = resolve(replace(base, seed=seed))
                    space = replace(inputs.space, encoding=encoding or "fixed")
                    inputs = replace(inputs, config=config, space=space)
                    run_study(inputs, study)
                    found = {t.user_attrs["key"] for t in study.trials}
                hv = hypervolume(front_points([table[k] for k in found]), reference)
                ratios.append(hv / best)
                recovered.append(len(found & truth_keys) / len(truth_keys))
            rows.append((sampler, share, trials, statistics.median(ratios),
                         statistics.median(recovered)))
            print(f"  {sampler:<15} {share:>4.0%} {trials:>4} trials  HV ratio "
                  f"{statistics.median(ratios):.3f}  front recovered "
                  f"{statistics.median(recovered):.2f}", flush=True)

    print()
    print(f"sampler quality on {args.space} ({len(table)} architectures), task {args.task}, "
          f"profile {args.profile}; median of seeds {args.seeds}")
    print(f"{'sampler':<16}{'share':>7}{'trials':>8}{'HV ratio':>10}{'vs random':>11}"
          f"{'front found':>13}")
    random_hv = {share: hv for sampler, share, _, hv, _ in rows if sampler == "random"}
    for sampler, share, trials, hv, found in rows:
        baseline = random_hv.get(share)
        versus = f"{hv / baseline:.3f}" if baseline else "-"
        print(f"{sampler:<16}{share:>7.0%}{trials:>8}{hv:>10.3f}{versus:>11}{found:>13.2f}")


if __name__ == "__main__":
    main()
