"""Proxy fidelity: does the short default budget rank architectures as long training does?

For a grid of architectures on each built-in task, the Spearman rank correlation between
the default budget's accuracy (one seed, as the search uses it) and a long run's accuracy
(several seeds averaged), and the time each takes. Baseline: the long run, same data, in
the same run. Goal: Spearman >= 0.85 at <= 1/3 of the long run's time.

    python experiments/proxy_fidelity.py [--tasks motion ...] [--long-epochs 40] [--seeds 3]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy loads: one thread per
os.environ.setdefault("OMP_NUM_THREADS", "1")  # process, as in the search's worker pool

import argparse  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from dataclasses import replace  # noqa: E402

from scipy.stats import spearmanr  # noqa: E402

from dse.architecture import Architecture  # noqa: E402
from dse.proxy import DEFAULT_BUDGET, Budget, evaluate  # noqa: E402
from dse.tasks import available_tasks, load_task  # noqa: E402

GRID = [(8,), (16,), (32,), (64,), (128,), (8, 8), (16, 16), (32, 16), (32, 32), (64, 32),
        (64, 64), (16, 16, 16)]  # x (lstm, gru) = 24 architectures


def score(job: tuple[str, str, tuple[int, ...], Budget, int]) -> tuple[float, float]:
    task, cell, cells, budget, seed = job
    data = load_task(task)
    arch = Architecture(cell, cells, "float32", data.features, data.timesteps, data.classes)  # type: ignore[arg-type]
    result = evaluate(arch, data, budget=budget, seed=seed)
    return result.accuracy, result.train_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=available_tasks())
    parser.add_argument("--long-epochs", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=3, help="seeds averaged in the long run")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    long_budget = replace(DEFAULT_BUDGET, epochs=args.long_epochs, patience=args.long_epochs)
    archs = [(cell, cells) for cells in GRID for cell in ("lstm", "gru")]
    print(f"default budget: {DEFAULT_BUDGET}")
    print(f"long run: {args.long_epochs} epochs, no early stop, mean of {args.seeds} seeds; "
          f"{len(archs)} architectures per task")
    rows = []
    with ProcessPoolExecutor(args.workers) as pool:
        for task in args.tasks:
            start = time.perf_counter()
            short = list(pool.map(score, [(task, c, cs, DEFAULT_BUDGET, 0) for c, cs in archs]))
            long = list(pool.map(score, [(task, c, cs, long_budget, s) for c, cs in archs
                                         for s in range(args.seeds)]))
            long_acc = [sum(a for a, _ in long[i * args.seeds:(i + 1) * args.seeds]) / args.seeds
                        for i in range(len(archs))]
            short_acc = [a for a, _ in short]
            rho = spearmanr(short_acc, long_acc).statistic
            short_s = sum(s for _, s in short)
            long_s = sum(s for _, s in long) / args.seeds  # one long run per architecture
            rows.append((task, rho, short_s, long_s, min(short_acc), max(short_acc)))
            print(f"  {task}: spearman {rho:.3f}, default {short_s:.0f} s, long (one seed) "
                  f"{long_s:.0f} s, {time.perf_counter() - start:.0f} s wall", flush=True)
            for (cell, cells), a, b in zip(archs, short_acc, long_acc):
                print(f"    {cell}:{','.join(map(str, cells)):<10} default {a:.3f}  long {b:.3f}")
    print()
    print(f"{'task':<16}{'spearman':>9}{'default s':>11}{'long s':>9}{'time share':>12}"
          f"{'accuracy range (default)':>26}")
    for task, rho, short_s, long_s, low, high in rows:
        print(f"{task:<16}{rho:>9.3f}{short_s:>11.0f}{long_s:>9.0f}{short_s / long_s:>12.2f}"
              f"{f'{low:.2f} - {high:.2f}':>26}")


if __name__ == "__main__":
    main()
