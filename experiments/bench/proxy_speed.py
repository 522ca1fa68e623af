"""Proxy training speed: the numpy trainer against PyTorch (CPU) on the same work.

Same network shape, data (the motion task), epochs, batch size and optimizer (Adam with
global-norm clipping), one thread each (the search runs one process per core). Baseline:
``torch.nn.LSTM``/``GRU`` + ``torch.nn.Linear`` in the same run. The ratio is torch seconds
over numpy seconds: above 1.0 the numpy trainer is faster. Goal: >= 1.5.

The ``gemm s`` column is a floor for any numpy trainer on this BLAS: the time the matrix
products of the same training (input projections, the recurrent product forward and back
at every step, weight and input gradients) take alone, with nothing else. Where it is above
PyTorch's whole time, no arrangement of the point-wise numpy work can reach the goal.

Several seeds trained as one stacked computation were measured at revision 9ced329
(``experiments/bench/stacked_seeds.py`` there; docs/benchmarks.md).

    python experiments/bench/proxy_speed.py [--quick] [--epochs 2]

The header names the BLAS kernels numpy runs: a forced ``OPENBLAS_CORETYPE`` (some
machines set one for old OpenBLAS builds) can halve the products' speed.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy loads: one thread each
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from dse.architecture import Architecture  # noqa: E402
from dse.cells import init_network  # noqa: E402
from dse.proxy import DEFAULT_BUDGET  # noqa: E402
from dse.results import blas_kernels  # noqa: E402
from dse.tasks import load_task  # noqa: E402
from dse.training import Budget, _adam, _validation_split, arch_seed  # noqa: E402

SIZES = [(8,), (32,), (64,), (128,), (256,), (64, 64), (128, 128), (32, 32, 32), (64, 64, 64),
         (128, 128, 128)]
GOAL = 1.5  # torch seconds over numpy seconds, geometric mean
QUICK_SIZES = [(8,), (64,), (64, 64), (128, 128)]


def numpy_seconds(cell: str, cells: tuple[int, ...], data, budget: Budget) -> float:
    arch = Architecture(cell, cells, "float32", data.features, data.timesteps, data.classes)  # type: ignore[arg-type]
    rng = arch_seed(0, arch)
    net = init_network(cell, data.features, cells, data.classes, rng)
    fit, _ = _validation_split(len(data.y_train), budget.validation_fraction, rng)
    start = time.perf_counter()
    _adam(net, data, fit, np.empty(0, int), budget, rng)  # no validation: same work as torch
    return time.perf_counter() - start


def gemm_seconds(cell: str, cells: tuple[int, ...], data, budget: Budget) -> float:
    """The matrix products of one training batch per layer, timed alone, times the batches."""
    gates, B, T = {"lstm": 4, "gru": 3}[cell], budget.batch_size, data.timesteps
    rng = np.random.default_rng(0)

    def rand(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(np.float32)

    products = []
    for inputs, width in zip((data.features, *cells), cells):
        G = gates * width
        x, w_ih, h, w_hh, d = rand(T * B, inputs), rand(inputs, G), rand(B, width), \
            rand(width, G), rand(T * B, G)
        h_all, step_grad = rand(T * B, width), rand(B, G)
        products += [(x, w_ih), (d.T, x), (d.T, h_all), (d, w_ih.T)]  # whole-sequence ones
        products += [(h, w_hh), (step_grad, w_hh.T)] * T  # the recurrence, forward and back
    start = time.perf_counter()
    for a, b in products:
        a @ b
    per_batch = time.perf_counter() - start
    n_fit = len(data.y_train) - int(round(len(data.y_train) * budget.validation_fraction))
    return per_batch * budget.epochs * -(-n_fit // B)


class TorchNet(torch.nn.Module):
    def __init__(self, cell: str, features: int, cells: tuple[int, ...], classes: int) -> None:
        super().__init__()
        rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
        widths = (features, *cells)
        self.layers = torch.nn.ModuleList(rnn(i, c, batch_first=True)
                                          for i, c in zip(widths, cells))
        self.head = torch.nn.Linear(cells[-1], classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x, _ = layer(x)
        return self.head(x[:, -1])


def torch_seconds(cell: str, cells: tuple[int, ...], data, budget: Budget) -> float:
    torch.manual_seed(0)
    net = TorchNet(cell, data.features, cells, data.classes)
    optimizer = torch.optim.Adam(net.parameters(), lr=budget.learning_rate)
    X, y = torch.tensor(data.X_train), torch.tensor(data.y_train)
    n_fit = len(y) - int(round(len(y) * budget.validation_fraction))
    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for _ in range(budget.epochs):
        order = torch.randperm(n_fit, generator=generator)
        for begin in range(0, n_fit, budget.batch_size):
            batch = order[begin: begin + budget.batch_size]
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(X[batch]), y[batch])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), budget.clip_norm)
            optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="four sizes instead of ten")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="best of N")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load_task("motion")
    budget = replace(DEFAULT_BUDGET, epochs=args.epochs)
    forced = os.environ.get("OPENBLAS_CORETYPE")
    print(f"proxy training speed, motion task (N={len(data.y_train)}, T={data.timesteps}, "
          f"F={data.features}), {args.epochs} epochs, batch {budget.batch_size}, 1 thread; "
          f"numpy {np.__version__} on {blas_kernels()} kernels"
          f"{f' (forced: OPENBLAS_CORETYPE={forced})' if forced else ''}, "
          f"torch {torch.__version__}, {platform.machine()}")
    print(f"{'arch':<18}{'numpy s':>9}{'torch s':>9}{'ratio':>8}{'gemm s':>8}")
    ratios = []
    for cells in QUICK_SIZES if args.quick else SIZES:
        for cell in ("lstm", "gru"):
            ours = min(numpy_seconds(cell, cells, data, budget) for _ in range(args.repeats))
            theirs = min(torch_seconds(cell, cells, data, budget) for _ in range(args.repeats))
            floor = min(gemm_seconds(cell, cells, data, budget) for _ in range(args.repeats))
            ratios.append(theirs / ours)
            text = f"{cell}:{','.join(map(str, cells))}"
            print(f"{text:<18}{ours:>9.2f}{theirs:>9.2f}{theirs / ours:>8.2f}{floor:>8.2f}",
                  flush=True)
    geo = float(np.exp(np.mean(np.log(ratios))))
    print(f"geometric mean ratio (torch / numpy): {geo:.2f}; goal >= {GOAL}: "
          f"{'met' if geo >= GOAL else 'NOT met'}; min {min(ratios):.2f}, max {max(ratios):.2f}")


if __name__ == "__main__":
    main()
