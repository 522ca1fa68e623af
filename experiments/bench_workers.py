"""Local parallelism: trials per second with N worker processes against 1 (the baseline),
the same search in the same run. Goal: 2 workers on 2 cores >= 1.8x one worker.

    python experiments/bench_workers.py [--trials 24] [--workers 1 2] [--space small]

Every run trains the same architectures (a seeded search gives the same trials for any
worker count), so the ratio measures parallel speed only. The table also checks that.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from dse.config import SearchConfig
from dse.runner import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--space", default="small")
    parser.add_argument("--task", default="motion")
    parser.add_argument("--epochs", type=int)
    args = parser.parse_args()
    config = SearchConfig(space=args.space, task=args.task, trials=args.trials, sampler="random",
                          epochs=args.epochs)
    rows, frames = [], []
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            outputs = run(config, out_root=Path(folder), workers=workers, show_progress=False)
            seconds = time.perf_counter() - start
        frames.append(outputs.trials.drop(columns=["train_seconds", "worker"], errors="ignore"))
        rows.append((workers, seconds, int(outputs.trials["trained"].sum())))
    base = rows[0][1]
    same = all(frame.equals(frames[0]) for frame in frames)
    print(f"local workers, {args.trials} trials of {args.space} on {args.task}, "
          f"{os.cpu_count()} cores; baseline: {args.workers[0]} worker")
    print(f"{'workers':>8}{'trained':>9}{'seconds':>10}{'trials/s':>10}{'speed-up':>10}")
    for workers, seconds, trained in rows:
        print(f"{workers:>8}{trained:>9}{seconds:>10.1f}{args.trials / seconds:>10.2f}"
              f"{base / seconds:>10.2f}")
    print(f"identical trials across worker counts: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
