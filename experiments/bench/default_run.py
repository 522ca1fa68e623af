"""The default run against the default space's exhaustive truth, under two BLAS kernels.

    python experiments/bench/default_run.py [--out /tmp/default-run] [--no-truth] [--reuse]
                                            [--within-ms 50]

Runs `dse run --profile stm32l4` as a user does (real trainings, every network with the
default 3 training seeds, the embedded defaults) twice: with OPENBLAS_CORETYPE=Haswell
(OpenBLAS' AVX2 kernels) and with it unset (on an AVX-512 CPU, its SkylakeX kernels); other
kernels round matrix products differently, so single scores move. Against the exhaustive
truth (experiments/bench/exhaustive.py: every network with the run's 3 training seeds,
scored with the unset kernels, seed 0; hours to compute on the default space) it prints, per
run: wall time, the fewest seeds behind a front row, the hypervolume ratio and the share of
the true front recovered (the reported front, pareto.csv, valued at the truth's means;
reference: the true front's nadir pushed out by 10 %), the regret (accuracy lost at the true
front's latencies, samplers.py) of the reported front and of everything trained (the gap
between the two is the seeds' noise, not the search's), and the best network under 10, 20, 50
and 100 ms, as the run ranks it and as the truth scores it, against the truth's best, and
the truth's best among the candidates the run trained (the gap between those two is the
search's). Where the truth made with the Haswell kernels is cached too
(`OPENBLAS_CORETYPE=Haswell python experiments/bench/exhaustive.py`), the Haswell run is
also compared with that one, its own kernels' truth. `--within-ms L` judges the runs within
L ms only, against a truth complete below L (`exhaustive.py --within-ms L`, a fraction of the
hours): the true front and the runs' fronts are cut at L, and the budgets above L are
skipped. `--reuse` compares the runs already in --out instead of running them. Then the two
runs side by side: their fronts' hypervolumes (own scores, one reference), the best network
under 5, 10, 20, 50 and 100 ms in each, and both fronts in one markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from exhaustive import stored_truth, truth  # same folder
from samplers import front_keys, quality, regret

from dse.config import SearchConfig
from dse.pareto import hypervolume_2d

BUDGETS_MS = (5, 10, 20, 50, 100)
KERNELS = {"Haswell (AVX2)": "Haswell", "unset (SkylakeX, AVX-512)": None}
TRUTH = SearchConfig(profile="stm32l4", space="default", task="motion", seed=0)


def run(out: Path, study: str, coretype: str | None) -> tuple[pd.DataFrame, float]:
    """`dse run --profile stm32l4` in a subprocess; its trials and wall seconds."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "dse.cli", "run", "--profile", "stm32l4",
                           "--study", study, "--out", str(out), "--no-progress", "--json"],
                          env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # largest child
    print(f"  {study}: peak RSS {peak_mb:.0f} MB (largest process so far)")
    json.loads(done.stdout)
    return pd.read_csv(out / study / "trials.csv"), seconds


def best_under(frame: pd.DataFrame, limit_ms: float, column: str) -> pd.Series | None:
    """The row of largest ``column`` among feasible scored candidates under ``limit_ms``."""
    rows = frame[frame["feasible"] & frame[column].notna() & (frame["latency_ms"] <= limit_ms)]
    return None if rows.empty else rows.loc[rows[column].idxmax()]


def within(rows: dict, limit_ms: float) -> dict:
    """The truth's candidates of at most ``limit_ms``."""
    return {key: row for key, row in rows.items() if row.report.latency_ms <= limit_ms}


def against_truth(frame: pd.DataFrame, rows: dict, name: str,
                  within_ms: float = float("inf")) -> None:
    """One run's trained candidates valued at a truth's scores (those the truth holds, all
    within ``within_ms``): its HV ratio, the true front recovered, and its best under each
    budget up to ``within_ms`` against the truth's."""
    feasible = {k: r for k, r in rows.items() if r.feasible}
    true_front = front_keys(list(rows.values()))
    trained = set(frame.loc[frame["feasible"], "arch"] + "|"
                  + frame.loc[frame["feasible"], "dtype"]) & set(rows)
    found = set(frame.loc[frame["pareto"], "arch"] + "|" + frame.loc[frame["pareto"], "dtype"])
    ratio, recovered, _ = quality(found, rows)
    print(f"  against {name}: HV ratio {ratio:.3f}, true front recovered "
          f"{recovered:.0%} ({len(found & true_front)} of {len(true_front)}), regret "
          f"{regret(found, rows):.4f}; everything trained: HV ratio "
          f"{quality(trained, rows)[0]:.3f}, regret {regret(trained, rows):.4f}")
    print(f"  {'budget':>8} {'run best (its mean)':<32}{'its truth':>10}{'truth best':>34}"
          f"{'gap':>7}{'trained best':>14}")
    for limit in (b for b in BUDGETS_MS[1:] if b <= within_ms):
        chosen = best_under(frame, limit, "accuracy_quantized_mean")
        best = max((r for r in feasible.values() if r.report.latency_ms <= limit),
                   key=lambda r: r.accuracy_quantized, default=None)
        if chosen is None or best is None:
            continue
        key = f"{chosen['arch']}|{chosen['dtype']}"
        scored = rows[key].accuracy_quantized
        trained_best = max(rows[k].accuracy_quantized for k in trained
                           if rows[k].feasible and rows[k].report.latency_ms <= limit)
        print(f"  {limit:>6} ms {key:<22}{chosen['accuracy_quantized_mean']:>10.3f}"
              f"{scored:>10.3f}{best.key:>26} {best.accuracy_quantized:.3f}"
              f"{best.accuracy_quantized - scored:>7.3f}{trained_best:>14.3f}")


def print_fronts(runs: dict[str, pd.DataFrame]) -> None:
    """The runs' fronts side by side (markdown): every member of either, cheapest first,
    with each run's mean +- spread where it is on that run's front."""
    labels = [label.split()[0] for label in runs]
    fronts = [front.set_index(front["arch"] + " " + front["dtype"])
              for front in (f[f["pareto"]] for f in runs.values())]
    latency = pd.concat([front["latency_ms"] for front in fronts]).groupby(level=0).first()
    print(f"\n| network | latency ms | {' | '.join(labels)} |\n|---|---|"
          + "---|" * len(labels))
    for key in latency.sort_values().index:
        cells = [f"{front.at[key, 'accuracy_quantized_mean']:.3f} +- "
                 f"{front.at[key, 'accuracy_quantized_std']:.3f}" if key in front.index else ""
                 for front in fronts]
        print(f"| {key} | {latency[key]:.2f} | {' | '.join(cells)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp/dse-default-run")
    parser.add_argument("--no-truth", action="store_true",
                        help="skip the comparison with the exhaustive truth (hours to compute)")
    parser.add_argument("--reuse", action="store_true",
                        help="compare the runs already in --out instead of running them again")
    parser.add_argument("--within-ms", type=float, default=float("inf"),
                        help="judge the runs within this latency only, against a truth "
                             "complete below it")
    args = parser.parse_args()
    out = Path(args.out)
    rows: dict = {}
    if not args.no_truth:
        rows = within(truth(TRUTH, verbose=False, within_ms=args.within_ms), args.within_ms)
        window = "" if args.within_ms == float("inf") else f" within {args.within_ms:g} ms"
        print(f"truth{window}: {len({r.network for r in rows.values()})} networks, "
              f"{sum(r.feasible for r in rows.values())} feasible candidates, "
              f"{len(front_keys(list(rows.values())))} on the true front")

    runs = {}
    for label, coretype in KERNELS.items():
        study = f"default-{coretype or 'unset'}"
        if args.reuse:
            frame, seconds = pd.read_csv(out / study / "trials.csv"), None
        else:
            frame, seconds = run(out, study, coretype)
        frame = frame[frame["state"] == "COMPLETE"].drop_duplicates(["arch", "dtype"])
        runs[label] = frame
        wall = "stored run" if seconds is None else f"{seconds:.0f} s wall"
        print(f"\n{label}: {wall}, {int(frame['trained'].sum())} trainings, "
              f"{len(frame)} candidates, front rows backed by at least "
              f"{int(frame.loc[frame['pareto'], 'seeds'].min())} seeds")
        if rows:
            against_truth(frame, rows, "the unset truth", args.within_ms)
        own = stored_truth(TRUTH, coretype) if coretype else None
        if own:
            against_truth(frame, within(own, args.within_ms),
                          f"the {coretype} truth (its own kernels)", args.within_ms)

    (a_label, a), (b_label, b) = runs.items()
    points = {label: np.column_stack([-f.loc[f["pareto"], "accuracy_quantized_mean"],
                                      f.loc[f["pareto"], "latency_ms"]])
              for label, f in runs.items()}
    both = np.vstack(list(points.values()))
    reference = both.max(0) + 0.1 * (both.max(0) - both.min(0))
    hv = {label: hypervolume_2d(p, reference) for label, p in points.items()}
    members = [set(f.loc[f["pareto"], "arch"] + "|" + f.loc[f["pareto"], "dtype"]) for f in (a, b)]
    print(f"\nfronts: {a_label} HV {hv[a_label]:.4g}, {b_label} HV {hv[b_label]:.4g} "
          f"(difference {abs(hv[a_label] - hv[b_label]) / max(hv.values()):.1%}); "
          f"{len(members[0])} and {len(members[1])} members, {len(members[0] & members[1])} "
          f"shared")
    agree = 0
    for limit in BUDGETS_MS:
        x = best_under(a, limit, "accuracy_quantized_mean")
        y = best_under(b, limit, "accuracy_quantized_mean")
        if x is None or y is None:
            continue
        same = (x["arch"], x["dtype"]) == (y["arch"], y["dtype"])
        spread = np.nanmax([x["accuracy_quantized_std"], y["accuracy_quantized_std"], 0.0])
        close = abs(x["accuracy_quantized_mean"] - y["accuracy_quantized_mean"]) <= spread
        agree += same or close
        print(f"  {limit:>4} ms: {x['arch']}|{x['dtype']} {x['accuracy_quantized_mean']:.3f} "
              f"vs {y['arch']}|{y['dtype']} {y['accuracy_quantized_mean']:.3f}: "
              f"{'same' if same else 'within the spread' if close else 'DIFFERENT'}")
    print(f"best under budget agrees {agree} of {len(BUDGETS_MS)} times")
    print_fronts(runs)


if __name__ == "__main__":
    main()
