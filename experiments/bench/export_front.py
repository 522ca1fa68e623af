"""Exports, timed and held to the search: a study's whole front, or chosen networks per task.

    python experiments/bench/export_front.py --study stm32l4-motion-default-seed0 [--runs runs] \\
        [--rows 1 5 9]
    python experiments/bench/export_front.py --tasks motion temporal_order anomaly \\
        --archs lstm:32 gru:32 --dtypes int8 int16
    python experiments/bench/export_front.py --study S --runs R --rows 1 3 5 7 9 --measure

Runs `dse export` (default final training, C + ONNX + PyTorch) for every row of the study's
pareto.csv, or for every (task, architecture, dtype), and prints per export: the search's
score (the proxy, mean over its seeds), the final float and quantized test accuracy, the
quantized accuracy the search's path gives on the same final weights (the integer model
fed standardized features, as the proxy scores), their difference in percentage points
(goal: at most 0.5), whether the C built on this machine gave the integer model's logits
bit for bit (float32: within 1e-5) on every test window, and the export's wall time.

With --measure, each export is also built for its profile's core and emulated (`dse measure
DIR --json`), and the row prints the latency the search priced it at (a study's row: its
pareto.csv latency_ms; a direct export: the export's cost report, which needs --profile),
the emulated latency and the relative error, goal: every row within 10 %.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd


def export(args: list[str], out: Path) -> tuple[dict, float]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "dse.cli", "export", *args, "--out", str(out),
                           "--json"], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout), seconds


def measure(folder: Path) -> dict:
    done = subprocess.run([sys.executable, "-m", "dse.cli", "measure", str(folder), "--json"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study")
    parser.add_argument("--runs", default="runs")
    parser.add_argument("--rows", nargs="+", type=int, help="rows of pareto.csv (default: all)")
    parser.add_argument("--tasks", nargs="+", default=[])
    parser.add_argument("--archs", nargs="+", default=["lstm:32", "gru:32"])
    parser.add_argument("--dtypes", nargs="+", default=["int8", "int16"])
    parser.add_argument("--profile", help="profile to price (and measure) direct exports on")
    parser.add_argument("--measure", action="store_true",
                        help="also emulate each export and compare its latency with the search's")
    args = parser.parse_args()
    jobs: list[tuple[str, list[str], float | None, float | None]] = []
    if args.study:
        front = pd.read_csv(Path(args.runs) / args.study / "pareto.csv")
        for row, r in enumerate(front.itertuples(), 1):
            if args.rows and row not in args.rows:
                continue
            jobs.append((f"{r.arch} {r.dtype}", ["--study", args.study, "--runs", args.runs,
                                                  "--row", str(row)], r.accuracy_quantized_mean,
                         r.latency_ms))
    for task in args.tasks:
        for arch in args.archs:
            for dtype in args.dtypes:
                profile = ["--profile", args.profile] if args.profile else []
                jobs.append((f"{task} {arch} {dtype}",
                             ["--arch", arch, "--dtype", dtype, "--task", task, *profile], None,
                             None))
    print(f"{'network':<28}{'search':>8}{'float':>8}{'quant':>8}{'search path':>13}"
          f"{'diff pp':>9}{'C exact':>9}{'export s':>10}"
          + (f"{'front ms':>10}{'measured':>10}{'error':>8}" if args.measure else ""))
    worst = 0.0
    errors: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        for number, (label, options, proxy, front_ms) in enumerate(jobs):
            report, seconds = export(options, Path(folder) / str(number))
            timing = ""
            if args.measure:
                measured = measure(Path(folder) / str(number))["measured"]["latency_ms"]
                if front_ms is None:
                    front_ms = (report.get("cost") or {}).get("latency_ms", float("nan"))
                errors.append(front_ms / measured - 1)
                timing = f"{front_ms:>10.3f}{measured:>10.3f}{100 * errors[-1]:>+7.1f}%"
            accuracy = report["accuracy"]
            search = proxy if proxy is not None else (report.get("search") or {}).get(
                "accuracy_quantized")
            path = accuracy.get("quantized_search_path", accuracy["quantized"])
            diff = 100 * abs(accuracy["quantized"] - path)
            worst = max(worst, diff)
            exact = report["checks"]["c_host"].get("identical")
            print(f"{label:<28}{search if search is not None else float('nan'):>8.3f}"
                  f"{accuracy['float']:>8.3f}{accuracy['quantized']:>8.3f}{path:>13.3f}"
                  f"{diff:>9.2f}{str(exact):>9}{seconds:>10.1f}{timing}", flush=True)
    print(f"largest difference between the exported integer model and the search's path: "
          f"{worst:.2f} percentage points (goal <= 0.5)")
    if errors:
        largest = max(abs(e) for e in errors)
        print(f"largest latency error, front against emulation: {100 * largest:.1f} % "
              f"(goal <= 10 %): {'met' if largest <= 0.10 else 'NOT met'}")


if __name__ == "__main__":
    main()
