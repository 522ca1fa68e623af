"""Two runs of the same study settings against the front of the two together.

    python experiments/bench/head_to_head.py runs/a runs/b [--budgets 5 10 20 50 100]

For comparing two versions of a sampler where no exhaustive truth is at hand (the `default`
space's takes hours): run `dse run ...` with each (same profile, space,
task, seed and BLAS kernels, so a network both train scores the same in both: checked),
then value each run's trained candidates (accuracy_quantized up, latency_ms down) against
the front of both runs' candidates together. Prints, per run: networks trained, training
seconds, the hypervolume ratio to the joint front (reference: its nadir pushed out by 10 %
of its range), the joint front's members it holds, and its best candidate under each
latency budget.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from dse.pareto import hypervolume_2d, non_dominated


def candidates(run: Path) -> tuple[dict[str, tuple[float, float]], float]:
    """A run's feasible scored candidates, key -> (accuracy_quantized, latency_ms), and the
    seconds its trainings took."""
    trials = pd.read_csv(run / "trials.csv")
    done = trials[(trials["state"] == "COMPLETE") & trials["feasible"].astype(bool)]
    scores = {f"{arch}|{dtype}": (accuracy, latency) for arch, dtype, accuracy, latency
              in zip(done["arch"], done["dtype"], done["accuracy_quantized"], done["latency_ms"])}
    return scores, float(trials.loc[trials["trained"].astype(bool), "train_seconds"].sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs=2, type=Path, help="two run folders (with trials.csv)")
    parser.add_argument("--budgets", nargs="+", type=float, default=[5, 10, 20, 50, 100])
    args = parser.parse_args()
    runs = {run: candidates(run) for run in args.runs}
    joint: dict[str, tuple[float, float]] = {}
    for scores, _ in runs.values():
        for key, score in scores.items():
            if joint.setdefault(key, score) != score:
                raise SystemExit(f"{key} scored {joint[key]} and {score}: the runs differ in "
                                 f"settings or BLAS kernels, so they cannot be compared")
    keys = list(joint)
    points = np.array([(-joint[k][0], joint[k][1]) for k in keys])
    front = {k for k, on in zip(keys, non_dominated(points)) if on}
    front_points = points[[k in front for k in keys]]
    span = front_points.max(0) - front_points.min(0)
    reference = front_points.max(0) + 0.1 * span
    total = hypervolume_2d(front_points, reference)
    print(f"joint front: {len(front)} members of {len(joint)} candidates")
    for run, (scores, seconds) in runs.items():
        own = np.array([(-a, latency) for a, latency in scores.values()])
        networks = {key.split("|")[0] for key in scores}
        print(f"{run}: {len(networks)} networks, {seconds:.0f} s of training, HV ratio "
              f"{hypervolume_2d(own, reference) / total:.3f}, joint front "
              f"{len(front & set(scores))} of {len(front)}")
        for budget in args.budgets:
            within = [(a, key) for key, (a, latency) in scores.items() if latency <= budget]
            if within:
                accuracy, key = max(within)
                print(f"  best under {budget:g} ms: {key} {accuracy:.3f}")


if __name__ == "__main__":
    main()
