"""Proxy accuracy: train a candidate briefly with the numpy cells, then score it in float
and fake-quantized to its deployment dtype.

The score is a pure function of (architecture, data, budget, seed): the weights and the
batch order come from a generator seeded by the seed and the architecture's text, never
from call order, and the matrix products run on one BLAS thread (the last bits of a
product depend on how many threads share it), so any process, order or worker gives the
same numbers.
"""

from __future__ import annotations

import copy
import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from dse.architecture import Architecture
from dse.cells import GATES, Network, Quant, fake_quant, forward, init_network, loss_and_grads
from dse.errors import DseError
from dse.tasks import Dataset


@dataclass(frozen=True)
class Budget:
    """How long and how a candidate trains. Early stopping watches a validation split."""

    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 5e-3
    clip_norm: float = 1.0
    patience: int = 4
    validation_fraction: float = 0.15


DEFAULT_BUDGET = Budget()  # chosen with experiments/bench/proxy_fidelity.py (docs/benchmarks.md)


@dataclass(frozen=True)
class ProxyResult:
    accuracy: float  # float32 weights, test split
    accuracy_quantized: float  # weights and activations fake-quantized to the dtype
    train_seconds: float
    epochs_run: int
    diverged: str | None = None  # why training stopped early with a non-finite loss


def arch_seed(seed: int, arch: Architecture) -> np.random.Generator:
    """The candidate's generator: from the run seed and the architecture, not call order.
    The dtype is left out so int8/int16/float32 variants share one float training run."""
    digest = hashlib.sha256(arch.text.encode()).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])


MAX_TRAINING_BYTES = 4 << 30
EVAL_BATCH = 512


def training_bytes(arch: Architecture, budget: Budget) -> int:
    """About how much memory training ``arch`` takes (float32): the parameters with their
    gradients, Adam's two moments and the best epoch's copy, plus per layer the buffers of
    forward and backward through time (inputs, gate activations and their factors, states)
    for the larger of a training batch and an evaluation batch."""
    gates = GATES[arch.cell]
    params = sum(gates * c * (i + c + 2) for i, c in zip(arch.layer_inputs(), arch.cells))
    batch = max(budget.batch_size, EVAL_BATCH)
    per_step = sum(4 * gates * c + 4 * c + i for i, c in zip(arch.layer_inputs(), arch.cells))
    return 4 * (5 * params + arch.timesteps * batch * per_step)


def check_trainable(arch: Architecture, budget: Budget) -> None:
    """Refuse, before allocating, a network too large to train here."""
    needed = training_bytes(arch, budget)
    if needed > MAX_TRAINING_BYTES:
        raise DseError(f"{arch.text} would need about {needed / 2**30:,.1f} GiB to train (the "
                       f"limit is {MAX_TRAINING_BYTES >> 30} GiB); choose fewer or smaller "
                       f"layers.")


def evaluate(arch: Architecture, data: Dataset, *, budget: Budget = DEFAULT_BUDGET,
             seed: int = 0) -> ProxyResult:
    """Train ``arch`` on ``data`` within ``budget``; accuracy on the test split."""
    check_trainable(arch, budget)
    with threadpool_limits(1, user_api="blas"):
        best, epochs_run, diverged, seconds = _trained(arch, data, budget, seed)
        if diverged:
            chance = float(np.bincount(data.y_test).max() / len(data.y_test))
            return ProxyResult(chance, chance, seconds, epochs_run, diverged)
        accuracy = accuracy_of(best, data.X_test, data.y_test)
        deployed, quant = quantize(best, arch.dtype, data.X_train)
        quantized = accuracy_of(deployed, data.X_test, data.y_test, quant)
    return ProxyResult(accuracy, quantized, seconds, epochs_run, None)


_RECENT: OrderedDict[tuple, tuple[Network, int, str | None, float]] = OrderedDict()
RECENT_SIZE = 8


def _trained(arch: Architecture, data: Dataset, budget: Budget, seed: int):
    """The float training run, shared by the dtype variants of one architecture: int8,
    int16 and float32 differ only in how the trained network is scored."""
    key = (arch.cell, arch.cells, data.fingerprint, budget, seed)
    if key in _RECENT:
        _RECENT.move_to_end(key)
        return _RECENT[key]
    rng = arch_seed(seed, arch)
    net = init_network(arch.cell, data.features, arch.cells, data.classes, rng)
    fit, val = _validation_split(len(data.y_train), budget.validation_fraction, rng)
    start = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is caught as a NaN loss
        best, epochs_run, diverged = _train(net, data, fit, val, budget, rng)
    _RECENT[key] = (best, epochs_run, diverged, time.perf_counter() - start)
    if len(_RECENT) > RECENT_SIZE:
        _RECENT.popitem(last=False)
    return _RECENT[key]


def _validation_split(n: int, fraction: float, rng: np.random.Generator):
    order = rng.permutation(n)
    cut = int(round(n * fraction))
    return order[cut:], order[:cut]


def _train(net: Network, data: Dataset, fit: np.ndarray, val: np.ndarray, budget: Budget,
           rng: np.random.Generator) -> tuple[Network, int, str | None]:
    """Adam with global-norm clipping; keep the weights of the best validation epoch."""
    params = net.arrays()
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    beta1, beta2, eps, step = 0.9, 0.999, 1e-8, 0
    best, best_acc, since_best = copy.deepcopy(net), -1.0, 0
    X, y = data.X_train, data.y_train
    for epoch in range(1, budget.epochs + 1):
        order = fit[rng.permutation(len(fit))]
        for begin in range(0, len(order), budget.batch_size):
            batch = order[begin: begin + budget.batch_size]
            loss, grads = loss_and_grads(net, X[batch], y[batch])
            if not np.isfinite(loss):
                return best, epoch, f"loss became {loss} in epoch {epoch}"
            norm = float(np.sqrt(sum(float((g * g).sum()) for g in grads)))
            scale = min(1.0, budget.clip_norm / (norm + 1e-12))
            step += 1
            lr = budget.learning_rate * np.sqrt(1 - beta2**step) / (1 - beta1**step)
            for p, g, mi, vi in zip(params, grads, m, v):
                g = g * scale
                mi *= beta1
                mi += (1 - beta1) * g
                vi *= beta2
                vi += (1 - beta2) * g * g
                p -= (lr * mi / (np.sqrt(vi) + eps)).astype(np.float32)
        accuracy = accuracy_of(net, X[val], y[val]) if len(val) else -epoch
        if accuracy > best_acc:
            best, best_acc, since_best = copy.deepcopy(net), accuracy, 0
        else:
            since_best += 1
            if since_best >= budget.patience:
                return best, epoch, None
    return best, budget.epochs, None


def accuracy_of(net: Network, X: np.ndarray, y: np.ndarray, quant: Quant | None = None,
                batch: int = EVAL_BATCH) -> float:
    correct = 0
    for begin in range(0, len(y), batch):
        logits, _ = forward(net, X[begin: begin + batch], quant)
        correct += int((logits.argmax(axis=1) == y[begin: begin + batch]).sum())
    return correct / len(y)


def quantize(net: Network, dtype: str, X_calibration: np.ndarray) -> tuple[Network, Quant | None]:
    """The network as deployed: int8 weights (symmetric, per tensor) for int8 and int16
    (16x8), with int8 or int16 activations; float32 unchanged. Biases stay exact: they are
    int32/int64 on the device, far finer than the weights."""
    if dtype == "float32":
        return net, None
    quantized = copy.deepcopy(net)
    for layer in quantized.layers:
        layer.weight_ih = _int8_weights(layer.weight_ih)
        layer.weight_hh = _int8_weights(layer.weight_hh)
    quantized.head_weight = _int8_weights(quantized.head_weight)
    bits = 8 if dtype == "int8" else 16
    input_scale = float(np.abs(X_calibration).max()) / (2 ** (bits - 1) - 1)
    return quantized, Quant(io_bits=bits, input_scale=input_scale)


def _int8_weights(w: np.ndarray) -> np.ndarray:
    scale = float(np.abs(w).max()) / 127 or 1.0
    return fake_quant(w, scale, 8)
