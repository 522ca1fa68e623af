"""Cost-model throughput: architectures per second, vectorized vs one at a time.

Baseline, measured in the same run: the scalar `estimate` called once per architecture.
Goal: the vectorized `estimate_batch` evaluates >= 1,000,000 architectures per second.

    python experiments/bench/cost_throughput.py [--rows 1000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from dse.architecture import DTYPES, Architecture
from dse.cost import ArchBatch, estimate, estimate_batch
from dse.hardware import load_profile


def random_batch(rows: int, rng: np.random.Generator) -> ArchBatch:
    """Random 1-3 layer LSTM/GRU architectures, F=6, T=50, K=5."""
    layers = rng.integers(1, 4, rows)
    cells = rng.integers(4, 257, size=(rows, 3)) * (np.arange(3) < layers[:, None])
    return ArchBatch(rng.random(rows) < 0.5, cells, rng.integers(0, len(DTYPES), rows), 6, 50, 5)


def best_seconds(func, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--scalar-rows", type=int, default=2_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    profile = load_profile("stm32l4")
    rng = np.random.default_rng(0)
    batch = random_batch(args.rows, rng)
    small = random_batch(args.scalar_rows, rng)
    archs = [
        Architecture("lstm" if lstm else "gru", tuple(int(c) for c in row if c), DTYPES[d], 6, 50, 5)
        for lstm, row, d in zip(small.is_lstm, small.cells, small.dtype_index)
    ]
    vector_s = best_seconds(lambda: estimate_batch(batch, profile), args.repeats)
    scalar_s = best_seconds(lambda: [estimate(a, profile) for a in archs], args.repeats)
    vector_rate, scalar_rate = args.rows / vector_s, args.scalar_rows / scalar_s
    print(f"cost-model throughput on {platform.machine()} ({platform.python_version()}, "
          f"numpy {np.__version__}), best of {args.repeats}")
    print(f"{'method':<28}{'architectures':>14}{'seconds':>10}{'arch/s':>14}{'ratio':>8}")
    print(f"{'estimate (scalar, baseline)':<28}{args.scalar_rows:>14,}{scalar_s:>10.3f}"
          f"{scalar_rate:>14,.0f}{1:>8.1f}")
    print(f"{'estimate_batch (vectorized)':<28}{args.rows:>14,}{vector_s:>10.3f}"
          f"{vector_rate:>14,.0f}{vector_rate / scalar_rate:>8.0f}")
    print(f"goal >= 1,000,000 arch/s: {'met' if vector_rate >= 1e6 else 'NOT met'}")


if __name__ == "__main__":
    main()
