"""k seeds of one network trained as one stacked computation against k trainings one after
another (the baseline), in the same run: ``dse.training.train_seeds`` against k calls of
``dse.training.train``, the proxy's budget (early stopping per seed), one BLAS thread.

    python experiments/bench/stacked_seeds.py [--seeds 3] [--repeats 2] [--task motion]

``per seed`` is the stacked time over the k separate trainings' time: below 1.0 stacking
saves time. ``same`` checks that every seed's weights, validation accuracy and epochs are
bit for bit those it gets alone. Goal (issue 28): 3 seeds in at most 1.5x one seed's time
(``per seed`` <= 0.5) on the default space's median network.
"""

from __future__ import annotations

import argparse
import os
import time

from threadpoolctl import threadpool_limits

from dse.architecture import parse_arch
from dse.proxy import default_budget
from dse.results import blas_kernels
from dse.tasks import load_task
from dse.training import train, train_seeds

NETWORKS = ["lstm:8", "gru:8", "lstm:16", "gru:16", "lstm:24", "gru:24", "lstm:32", "gru:32",
            "lstm:64", "gru:64", "lstm:128", "gru:128", "lstm:16,16", "gru:8,8,8",
            "lstm:64,64", "gru:96,128,96"]


def same_numbers(alone: list, stacked: list) -> bool:
    return all(a.validation_accuracy == s.validation_accuracy and a.epochs_run == s.epochs_run
               and all((x == y).all() for x, y in zip(a.network.arrays(), s.network.arrays()))
               for a, s in zip(alone, stacked))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2, help="best of N, taking turns")
    parser.add_argument("--task", default="motion")
    parser.add_argument("networks", nargs="*", default=NETWORKS)
    args = parser.parse_args()
    data = load_task(args.task)
    budget = default_budget(data)
    seeds = tuple(range(args.seeds))
    forced = os.environ.get("OPENBLAS_CORETYPE")
    print(f"{args.seeds} seeds stacked vs one after another, {args.task}, proxy budget "
          f"({budget.epochs} epochs, batch {budget.batch_size}), 1 thread, "
          f"{blas_kernels()} kernels{f' (forced: {forced})' if forced else ''}")
    print(f"{'network':<16}{'alone s':>9}{'stacked s':>11}{'per seed':>10}  same")
    with threadpool_limits(1, user_api="blas"):
        for text in args.networks:
            arch = parse_arch(text, features=data.features, timesteps=data.timesteps,
                              classes=data.classes)
            alone_s = stacked_s = float("inf")
            for _ in range(args.repeats):
                start = time.perf_counter()
                alone = [train(arch, data, budget, seed) for seed in seeds]
                middle = time.perf_counter()
                stacked = train_seeds(arch, data, budget, seeds)
                alone_s = min(alone_s, middle - start)
                stacked_s = min(stacked_s, time.perf_counter() - middle)
            print(f"{text:<16}{alone_s:>9.2f}{stacked_s:>11.2f}{stacked_s / alone_s:>10.2f}  "
                  f"{'yes' if same_numbers(alone, stacked) else 'NO'}", flush=True)


if __name__ == "__main__":
    main()
