"""The proxy's noise: how far one network's score moves with the training seed.

    python experiments/bench/noise.py [--tasks motion temporal_order anomaly] [--seeds 5]

Trains a fixed set of networks (small to large, LSTM and GRU, 1-3 layers) on each built-in
task with training seeds 0..S-1 (the data stays the one of seed 0, as in a search) and
prints, per task, the per-network standard deviation of the int8 accuracy (the default
objective): median and largest, and the spread of the difference between two networks'
single-seed scores. dse uses it for ``DEFAULT_TRAIN_SEEDS`` (dse/config.py: the mean of 3
seeds halves the spread's effect on a ranking) and ``SEED_SPREAD`` (dse/proxy.py: when a
test split is too coarse to rank networks).
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from dse import proxy, tasks
from dse.architecture import parse_arch
from dse.seeds import training_seeds

NETWORKS = ["lstm:8", "gru:16", "lstm:32", "gru:32,16", "lstm:64", "gru:64,32",
            "lstm:24,24,24", "gru:128"]


def score(task: str, network: str, seed: int) -> float:
    data = tasks.load_task(task, seed=0)
    arch = parse_arch(network, features=data.features, timesteps=data.timesteps,
                      classes=data.classes, dtype="int8")
    return proxy.evaluate_network(arch, data, ("int8",), seed=seed).quantized["int8"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(tasks.TASKS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    seeds = list(training_seeds(0, args.seeds))
    start = time.perf_counter()
    print(f"proxy noise: {len(NETWORKS)} networks x {args.seeds} training seeds per task "
          f"(int8 accuracy, the search's budget)")
    print(f"{'task':<16}{'median std':>12}{'max std':>10}{'max range':>11}{'worst network':>18}")
    with ProcessPoolExecutor(args.workers) as pool:
        for task in args.tasks:
            jobs = {(n, s): pool.submit(score, task, n, s) for n in NETWORKS for s in seeds}
            table = {n: np.array([jobs[n, s].result() for s in seeds]) for n in NETWORKS}
            stds = {n: float(v.std(ddof=1)) for n, v in table.items()}
            ranges = {n: float(np.ptp(v)) for n, v in table.items()}
            worst = max(stds, key=stds.get)
            print(f"{task:<16}{statistics.median(stds.values()):>12.4f}{max(stds.values()):>10.4f}"
                  f"{max(ranges.values()):>11.4f}{worst:>18}", flush=True)
            for network in NETWORKS:
                print(f"    {network:<16} " + " ".join(f"{a:.3f}" for a in table[network]))
    print(f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
