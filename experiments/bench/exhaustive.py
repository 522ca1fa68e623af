"""The exhaustive truth of a space: every network trained once, scored as every dtype.

    python experiments/bench/exhaustive.py --space default --task motion [--seed 0] [--workers 2]

Trains each network of the space that has a feasible candidate on the profile (the same
training the search runs, in the same worker pool) and caches its float and quantized test
accuracies in experiments/bench/results/, with a fingerprint of the code a score depends on:
a table made by other proxy code is scored again. The cache is written as it fills, so an
interrupted run resumes where it stopped. The sampler bench and the default-run bench read
their truth from here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from concurrent.futures import as_completed
from dataclasses import dataclass
from pathlib import Path

from dse import cells, proxy, quantize, tasks, training
from dse.config import SearchConfig
from dse.cost import CostReport
from dse.search import pool, resolve
from dse.search.inputs import SearchInputs

CACHE = Path(__file__).resolve().parent / "results"
SAVE_EVERY = 20  # trainings between writes of the cache


def proxy_fingerprint() -> str:
    """Checksum of the code a score depends on."""
    digest = hashlib.sha256()
    for module in (cells, proxy, quantize, tasks, training):
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Row:
    """One candidate of the truth: its network's scores and its cost on the profile."""

    key: str  # "lstm:24|int8", as the search's trials name it
    network: str
    dtype: str
    accuracy: float  # float weights
    accuracy_quantized: float  # as the dtype deploys it
    report: CostReport

    @property
    def feasible(self) -> bool:
        return self.report.fits


def cache_path(config: SearchConfig) -> Path:
    return CACHE / f"truth-{config.task}-{config.space}-seed{config.seed}.json"


def network_scores(inputs: SearchInputs, workers: int = 2,
                   verbose: bool = True) -> dict[str, dict]:
    """Network text -> its training's scores (``accuracy``, ``quantized`` per dtype of the
    space, ``train_seconds``), for every network with a feasible candidate on the profile."""
    config, space = inputs.config, inputs.space
    path = cache_path(config)
    fingerprint = proxy_fingerprint()
    scores: dict[str, dict] = {}
    if path.exists():
        cached = json.loads(path.read_text())
        if cached.get("proxy_fingerprint") == fingerprint:
            scores = cached["networks"]
        elif verbose:
            print(f"  {path.name} was computed by other proxy code: scoring again")
    wanted = []
    for cell, widths in space.networks():
        priced = [inputs.price(cell, widths, dtype) for dtype in space.dtypes]
        arch = priced[0][0]
        if arch.text not in scores and any(report.fits for _, report in priced):
            wanted.append(arch)
    if not wanted:
        return scores

    def save() -> None:
        CACHE.mkdir(exist_ok=True)
        path.write_text(json.dumps({"proxy_fingerprint": fingerprint, "networks": scores},
                                   indent=0, sort_keys=True))

    start = time.perf_counter()
    executor = pool.start_pool(inputs, workers)
    try:
        futures = {executor.submit(pool.score, arch, space.dtypes): arch
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


def truth(config: SearchConfig, workers: int = 2, verbose: bool = True) -> dict[str, Row]:
    """Every candidate of the config's space with its network's score and its cost."""
    inputs = resolve(config)
    scores = network_scores(inputs, workers, verbose)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="stm32l4")
    parser.add_argument("--space", default="default")
    parser.add_argument("--task", default="motion")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    start = time.perf_counter()
    config = SearchConfig(profile=args.profile, space=args.space, task=args.task, seed=args.seed)
    rows = truth(config, args.workers)
    feasible = sum(row.feasible for row in rows.values())
    print(f"{args.space} on {args.task} (seed {args.seed}, profile {args.profile}): "
          f"{len({r.network for r in rows.values()})} networks trained, {feasible} feasible "
          f"candidates, {time.perf_counter() - start:.0f} s; cached in {cache_path(config)}")


if __name__ == "__main__":
    main()
