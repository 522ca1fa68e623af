"""Local parallelism: trainings per second with N worker processes against 1 (the
baseline), the same search in the same run. Goal: 2 workers on 2 cores >= 1.8x one worker.

    python experiments/bench/workers.py [--trainings 24] [--workers 1 2] [--space default]

Every run trains the same networks (a seeded search gives the same trials for any worker
count), so the ratio measures parallel speed only. The table also checks that.
The worker counts take turns, ``--repeats`` rounds, and each keeps its fastest time, so
neither a cold start nor a noisy neighbour favours one of them.
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
    parser.add_argument("--trainings", type=int, default=24)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--space", default="default")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--task", default="motion")
    parser.add_argument("--epochs", type=int)
    args = parser.parse_args()
    config = SearchConfig(space=args.space, task=args.task, trainings=args.trainings,
                          sampler="random", epochs=args.epochs, train_seeds=1)
    seconds: dict[int, float] = {}
    frames, trained = [], {}
    for _ in range(args.repeats):
        for workers in args.workers:
            with tempfile.TemporaryDirectory() as folder:
                start = time.perf_counter()
                outputs = run(config, out_root=Path(folder), workers=workers, show_progress=False)
                elapsed = time.perf_counter() - start
            seconds[workers] = min(elapsed, seconds.get(workers, float("inf")))
            frames.append(outputs.trials.drop(columns=["train_seconds", "worker"], errors="ignore"))
            trained[workers] = int(outputs.trials["trained"].sum())
    rows = [(workers, seconds[workers], trained[workers]) for workers in args.workers]
    base = rows[0][1]
    same = all(frame.equals(frames[0]) for frame in frames)
    print(f"local workers, {args.trainings} trainings of {args.space} on {args.task}, "
          f"{os.cpu_count()} cores; fastest of {args.repeats} rounds; "
          f"baseline: {args.workers[0]} worker")
    print(f"{'workers':>8}{'trained':>9}{'seconds':>10}{'trainings/s':>13}{'speed-up':>10}")
    for workers, best, count in rows:
        print(f"{workers:>8}{count:>9}{best:>10.1f}{count / best:>13.2f}{base / best:>10.2f}")
    print(f"identical trials across worker counts: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
