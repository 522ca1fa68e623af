"""Proxy fidelity: does a short training budget rank architectures as long training does?

For a grid of architectures on each built-in task, the Spearman rank correlation between
a short budget's accuracy (one seed, as the search uses it) and a long run's accuracy
(several seeds averaged), and the time each takes. Baseline: the long run, same data, in
the same run. Goal: Spearman >= 0.85 at <= 1/3 of the long run's time. Several short
budgets (epochs x learning rates x batch sizes) are scored against the same long runs: this is how the
default budget was chosen.

    python experiments/bench/proxy_fidelity.py [--tasks motion ...] [--epochs 10] \
        [--learning-rates 5e-3] [--batch-sizes 64] [--long-epochs 40] [--seeds 3]
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
from dse.proxy import DEFAULT_BUDGET, evaluate  # noqa: E402
from dse.tasks import available_tasks, load_task  # noqa: E402
from dse.training import Budget  # noqa: E402

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
    parser.add_argument("--epochs", type=int, nargs="+", default=[DEFAULT_BUDGET.epochs],
                        help="short budgets to compare (epochs)")
    parser.add_argument("--learning-rates", type=float, nargs="+",
                        default=[DEFAULT_BUDGET.learning_rate], help="short budgets' Adam rates")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[DEFAULT_BUDGET.batch_size])
    parser.add_argument("--long-epochs", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=3, help="seeds averaged in the long run")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    long_budget = replace(DEFAULT_BUDGET, epochs=args.long_epochs, patience=args.long_epochs)
    budgets = [replace(DEFAULT_BUDGET, epochs=e, learning_rate=lr, batch_size=b)
               for b in args.batch_sizes for lr in args.learning_rates for e in args.epochs]
    archs = [(cell, cells) for cells in GRID for cell in ("lstm", "gru")]
    print(f"default budget: {DEFAULT_BUDGET}")
    print(f"long run: {args.long_epochs} epochs, no early stop, mean of {args.seeds} seeds; "
          f"{len(archs)} architectures per task")
    rows = []
    with ProcessPoolExecutor(args.workers) as pool:
        for task in args.tasks:
            start = time.perf_counter()
            long = list(pool.map(score, [(task, c, cs, long_budget, s) for c, cs in archs
                                         for s in range(args.seeds)]))
            long_acc = [sum(a for a, _ in long[i * args.seeds:(i + 1) * args.seeds]) / args.seeds
                        for i in range(len(archs))]
            long_s = sum(s for _, s in long) / args.seeds  # one long run per architecture
            print(f"  {task}: long (one seed) {long_s:.0f} s", flush=True)
            for budget in budgets:
                short = list(pool.map(score, [(task, c, cs, budget, 0) for c, cs in archs]))
                short_acc = [a for a, _ in short]
                rho = spearmanr(short_acc, long_acc).statistic
                short_s = sum(s for _, s in short)
                rows.append((task, budget, rho, short_s, long_s, min(short_acc), max(short_acc)))
                print(f"  {task} {budget.epochs} epochs lr {budget.learning_rate:g} batch "
                      f"{budget.batch_size}: spearman "
                      f"{rho:.3f}, {short_s:.0f} s", flush=True)
                if budget == DEFAULT_BUDGET:
                    for (cell, cells), a, b in zip(archs, short_acc, long_acc):
                        print(f"    {cell}:{','.join(map(str, cells)):<10} default {a:.3f}  "
                              f"long {b:.3f}")
            print(f"  {task}: {time.perf_counter() - start:.0f} s wall", flush=True)
    print()
    print(f"{'task':<16}{'epochs':>7}{'lr':>8}{'batch':>6}{'spearman':>10}{'short s':>9}{'long s':>8}"
          f"{'time share':>12}{'accuracy range (short)':>24}")
    for task, budget, rho, short_s, long_s, low, high in rows:
        mark = " (default)" if budget == DEFAULT_BUDGET else ""
        print(f"{task:<16}{budget.epochs:>7}{budget.learning_rate:>8g}{budget.batch_size:>6}"
              f"{rho:>10.3f}"
              f"{short_s:>9.0f}{long_s:>8.0f}{short_s / long_s:>12.2f}"
              f"{f'{low:.2f} - {high:.2f}':>24}{mark}")


if __name__ == "__main__":
    main()
