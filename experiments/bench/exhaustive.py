"""The exhaustive truth of a space: every network trained as a search trains it (with the run's
k training seeds), scored as every dtype.

    python experiments/bench/exhaustive.py --space default --task motion [--seed 0]
                                           [--train-seeds 3] [--workers 2]
                                           [--within-ms 100]

Trains each network of the space that has a feasible candidate on the profile (the same
training the search runs, in the same worker pool: k seeds, the mean and each seed's score)
and caches its float and quantized test accuracies in experiments/bench/results/, with a
fingerprint of the code a score depends on: a table made by other proxy code is scored
again. Other BLAS kernels round matrix products differently, so single scores move: a truth
made with OPENBLAS_CORETYPE set is cached apart (`-haswell` after the seed for Haswell), and
a run is best judged against the truth of its own kernels. The cache is written as it fills,
so an interrupted run resumes where it stopped. `--within-ms L` trains only the networks with
a feasible candidate of at most L ms: a truth complete below L, for a space too large to
train whole in one sitting (rerun with a larger L, or none, to extend it). The sampler bench
and the default-run bench read their truth from here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from concurrent.futures import as_completed
from dataclasses import dataclass
from pathlib import Path

from dse import cells, proxy, quantize, seeds, tasks, training
from dse.architecture import Architecture
from dse.config import DEFAULT_TRAIN_SEEDS, SearchConfig
from dse.cost import CostReport
from dse.search import pool, resolve
from dse.search.inputs import SearchInputs

CACHE = Path(__file__).resolve().parent / "results"
SAVE_EVERY = 20  # trainings between writes of the cache


def proxy_fingerprint() -> str:
    """Checksum of the code a score depends on."""
    digest = hashlib.sha256()
    for module in (cells, proxy, quantize, seeds, tasks, training, pool):
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Row:
    """One candidate of the truth: its network's scores and its cost on the profile."""

    key: str  # "lstm:24|int8", as the search's trials name it
    network: str
    dtype: str
    accuracy: float  # float weights, mean over the training seeds
    accuracy_quantized: float  # as the dtype deploys it, mean over the training seeds
    report: CostReport

    @property
    def feasible(self) -> bool:
        return self.report.fits


def this_kernels() -> str | None:
    """The OpenBLAS kernels this process's trainings use: OPENBLAS_CORETYPE, None if unset."""
    return os.environ.get("OPENBLAS_CORETYPE") or None


def cache_path(config: SearchConfig, kernels: str | None = None) -> Path:
    suffix = f"-{kernels.lower()}" if kernels else ""
    return CACHE / (f"truth-{config.task}-{config.space}-seed{config.seed}-k{config.train_seeds}"
                    f"{suffix}.json")


def stored_scores(config: SearchConfig, kernels: str | None,
                  verbose: bool = True) -> dict[str, dict]:
    """The cached scores of ``config``'s truth made with ``kernels``; {} if none were made by
    this proxy code."""
    path = cache_path(config, kernels)
    if not path.exists():
        return {}
    cached = json.loads(path.read_text())
    if cached.get("proxy_fingerprint") == proxy_fingerprint():
        return cached["networks"]
    if verbose:
        print(f"  {path.name} was computed by other proxy code: scoring again")
    return {}


def unscored(inputs: SearchInputs, scores: dict[str, dict],
             within_ms: float = float("inf")) -> list[Architecture]:
    """The space's networks with a feasible candidate of at most ``within_ms`` on the profile
    and no score yet."""
    wanted = []
    for cell, widths in inputs.space.networks():
        priced = [inputs.price(cell, widths, dtype) for dtype in inputs.space.dtypes]
        if priced[0][0].text not in scores and any(
                report.fits and report.latency_ms <= within_ms for _, report in priced):
            wanted.append(priced[0][0])
    return wanted


def network_scores(inputs: SearchInputs, workers: int = 2, verbose: bool = True,
                   within_ms: float = float("inf")) -> dict[str, dict]:
    """Network text -> its training's scores (``accuracy``, ``quantized`` per dtype of the
    space, ``train_seconds``), for every network with a feasible candidate of at most
    ``within_ms`` on the profile, trained with this process's kernels where the cache lacks
    them."""
    config, space = inputs.config, inputs.space
    kernels = this_kernels()
    path = cache_path(config, kernels)
    scores = stored_scores(config, kernels, verbose)
    wanted = unscored(inputs, scores, within_ms)
    if not wanted:
        return scores
    fingerprint = proxy_fingerprint()

    def save() -> None:
        CACHE.mkdir(exist_ok=True)
        path.write_text(json.dumps({"proxy_fingerprint": fingerprint, "networks": scores},
                                   indent=0, sort_keys=True))

    start = time.perf_counter()
    executor = pool.start_pool(inputs, workers)
    try:
        futures = {pool.submit_score(executor, config, arch, space.dtypes): arch
                   for arch in sorted(wanted, key=lambda a: -sum(a.cells))}  # longest first
        for done, future in enumerate(as_completed(futures), 1):
            scores[futures[future].text] = future.result()
            if done % SAVE_EVERY == 0 or done == len(wanted):
                save()
            if verbose:
                print(f"  truth {done}/{len(wanted)} {futures[future].text} "
                      f"({time.perf_counter() - start:.0f} s)", flush=True)
    finally:
        executor.shutdown(cancel_futures=True)
    return scores


def rows_of(inputs: SearchInputs, scores: dict[str, dict]) -> dict[str, Row]:
    """Every scored candidate of the space with its network's score and its cost."""
    rows = {}
    for cell, widths in inputs.space.networks():
        for dtype in inputs.space.dtypes:
            arch, report = inputs.price(cell, widths, dtype)
            score = scores.get(arch.text)
            if score is None:  # no dtype of it fits: never trained
                continue
            key = f"{arch.text}|{dtype}"
            rows[key] = Row(key, arch.text, dtype, score["accuracy"], score["quantized"][dtype],
                            report)
    return rows


def truth(config: SearchConfig, workers: int = 2, verbose: bool = True,
          within_ms: float = float("inf")) -> dict[str, Row]:
    """Every candidate of the config's space (of networks with one within ``within_ms``) with
    its network's score and its cost, the missing ones trained now (this process's kernels)."""
    inputs = resolve(config)
    return rows_of(inputs, network_scores(inputs, workers, verbose, within_ms))


def stored_truth(config: SearchConfig, kernels: str | None) -> dict[str, Row] | None:
    """The truth made with ``kernels``, if it is cached whole for this proxy code; trains
    nothing (another process's kernels cannot be trained here)."""
    inputs = resolve(config)
    scores = stored_scores(config, kernels, verbose=False)
    return None if not scores or unscored(inputs, scores) else rows_of(inputs, scores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="stm32l4")
    parser.add_argument("--space", default="default")
    parser.add_argument("--task", default="motion")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-seeds", type=int, default=DEFAULT_TRAIN_SEEDS)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--within-ms", type=float, default=float("inf"),
                        help="train only networks with a feasible candidate of at most this "
                             "latency (a truth complete below it)")
    args = parser.parse_args()
    start = time.perf_counter()
    config = SearchConfig(profile=args.profile, space=args.space, task=args.task, seed=args.seed,
                          train_seeds=args.train_seeds)
    rows = truth(config, args.workers, within_ms=args.within_ms)
    feasible = sum(row.feasible for row in rows.values())
    print(f"{args.space} on {args.task} (seed {args.seed}, {args.train_seeds} training seeds, "
          f"profile {args.profile}, kernels "
          f"{this_kernels() or 'unset'}): {len({r.network for r in rows.values()})} networks "
          f"trained, {feasible} feasible candidates, {time.perf_counter() - start:.0f} s; "
          f"cached in {cache_path(config, this_kernels())}")


if __name__ == "__main__":
    main()
