"""The export's final training budget: test accuracy and time of epochs x patience x seeds,
against the search's proxy budget (10 epochs, patience 4, one seed) measured in the same run.

    python experiments/bench/final_training.py [--tasks motion anomaly temporal_order]
        [--archs lstm:64 gru:64 lstm:32,32 gru:32] [--seeds 4] [--max-epochs 120]

Each (task, architecture, seed) trains once for --max-epochs with no early stopping,
recording validation and test accuracy after every epoch; every budget is then simulated
on those curves exactly as training would run it (stop after `patience` epochs without a
better validation accuracy or at `epochs`, keep the best validation epoch; with k seeds keep
the seed best on validation). Prints the median test-accuracy gain over the proxy budget
and the median training time (k seeds on two cores), per budget.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from dse.architecture import parse_arch  # noqa: E402
from dse.export.final import training_seeds  # noqa: E402
from dse.proxy import DEFAULT_BUDGET  # noqa: E402
from dse.tasks import load_task  # noqa: E402
from dse.training import accuracy_of, train  # noqa: E402

EPOCHS = (10, 30, 60, 100)
PATIENCE = (4, 8, 12)
SEEDS = (1, 2, 3, 4)


def curve(task: str, text: str, seed: int, max_epochs: int) -> dict:
    """Validation and test accuracy after every epoch of one long training."""
    data = load_task(task)
    arch = parse_arch(text, features=data.features, timesteps=data.timesteps,
                      classes=data.classes)
    points: list[tuple[float, float]] = []

    def record(epoch, network, validation):
        points.append((validation, accuracy_of(network, data.X_test, data.y_test)))

    budget = replace(DEFAULT_BUDGET, epochs=max_epochs, patience=max_epochs + 1)
    start = time.perf_counter()
    train(arch, data, budget, seed, on_epoch=record)
    return {"task": task, "arch": text, "seed": seed, "points": points,
            "epoch_seconds": (time.perf_counter() - start) / max_epochs}


def simulate(points: list[tuple[float, float]], epochs: int, patience: int) -> tuple[float, float, int]:
    """(validation, test) accuracy kept and the epochs run, as training would stop."""
    best, kept, since = -1.0, (0.0, 0.0), 0
    for epoch, (validation, test) in enumerate(points[:epochs], start=1):
        if validation > best:
            best, kept, since = validation, (validation, test), 0
        else:
            since += 1
            if since >= patience:
                return kept[0], kept[1], epoch
    return kept[0], kept[1], min(epochs, len(points))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["motion", "anomaly", "temporal_order"])
    parser.add_argument("--archs", nargs="+", default=["lstm:64", "gru:64", "lstm:32,32", "gru:32"])
    parser.add_argument("--seeds", type=int, default=max(SEEDS))
    parser.add_argument("--max-epochs", type=int, default=max(EPOCHS))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    jobs = [(task, text, seed, args.max_epochs) for task in args.tasks for text in args.archs
            for seed in training_seeds(0, args.seeds)]
    with ProcessPoolExecutor(args.workers) as pool:
        curves = list(pool.map(curve, *zip(*jobs)))
    by_pair: dict[tuple[str, str], list[dict]] = {}
    for result in curves:
        by_pair.setdefault((result["task"], result["arch"]), []).append(result)

    def outcome(runs: list[dict], epochs: int, patience: int, k: int) -> tuple[float, float]:
        tried = [(simulate(r["points"], epochs, patience), r["epoch_seconds"]) for r in runs[:k]]
        (_, test, _), _ = max(tried, key=lambda item: item[0][0])
        seconds = sum(ran * per for (_, _, ran), per in tried) / min(k, 2)  # two cores
        return test, seconds

    rows = []
    for epochs, patience, k in itertools.product(EPOCHS, PATIENCE, SEEDS):
        if k > args.seeds:
            continue
        gains, times, lstm64 = [], [], None
        for (task, text), runs in by_pair.items():
            base, _ = outcome(runs, DEFAULT_BUDGET.epochs, DEFAULT_BUDGET.patience, 1)
            test, seconds = outcome(runs, epochs, patience, k)
            gains.append(test - base)
            times.append(seconds)
            if (task, text) == ("motion", "lstm:64"):
                lstm64 = seconds
        rows.append((epochs, patience, k, statistics.median(gains), min(gains),
                     statistics.median(times), lstm64))
    print(f"final training budgets on {', '.join(args.tasks)} x {', '.join(args.archs)}; "
          f"baseline: the proxy budget ({DEFAULT_BUDGET.epochs} epochs, patience "
          f"{DEFAULT_BUDGET.patience}, 1 seed) on the same curves")
    print(f"{'epochs':>7}{'patience':>9}{'seeds':>6}{'median gain':>13}{'worst gain':>12}"
          f"{'median s':>10}{'lstm:64 motion s':>18}")
    for epochs, patience, k, gain, worst, seconds, lstm64 in rows:
        shown = f"{lstm64:.1f}" if lstm64 is not None else "-"
        print(f"{epochs:>7}{patience:>9}{k:>6}{gain:>+13.3f}{worst:>+12.3f}{seconds:>10.1f}"
              f"{shown:>18}")


if __name__ == "__main__":
    main()
