"""Training a network with the numpy cells: Adam with global-norm clipping, early stopping on
a validation split, the weights of the best validation epoch kept.

Shared by the search's short proxy budget (``dse.proxy``) and the export's final budget
(``dse.export``). A training is a pure function of (architecture, data, budget, seed): the
weights and the batch order come from a generator seeded by the seed and the architecture's
text, never from call order.
"""

from __future__ import annotations

import copy
import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from dse.architecture import Architecture
from dse.cells import GATES, Network, forward, init_network, loss_and_grads
from dse.errors import DseError
from dse.tasks import Dataset

MAX_TRAINING_BYTES = 4 << 30
EVAL_BATCH = 512


@dataclass(frozen=True)
class Budget:
    """How long and how a network trains. Early stopping watches a validation split."""

    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 5e-3
    clip_norm: float = 1.0
    patience: int = 4
    validation_fraction: float = 0.15


MIN_STEPS = 160  # optimizer steps of a training at least: the motion task's 10 epochs of 16
MIN_STEPS_PER_EPOCH = 8  # minibatches per epoch at least (batch size down to MIN_BATCH)
MIN_BATCH = 4
MIN_VALIDATION = 30  # windows the early stopping watches, at least (up to MAX_VALIDATION_SHARE)
MAX_VALIDATION_SHARE = 0.3


def sized_for(budget: Budget, windows: int) -> Budget:
    """``budget`` fitted to a training split of ``windows`` windows, so a small data set still
    trains: a validation split of at least :data:`MIN_VALIDATION` windows (up to 30 % of
    them), at least :data:`MIN_STEPS_PER_EPOCH` minibatches per epoch, at least
    :data:`MIN_STEPS` optimizer steps (more epochs, the patience in proportion). A data set
    as large as the built-in tasks' keeps ``budget`` as it is. (A 40-window set at batch 64
    took one Adam step per epoch and scored below chance.)"""
    validation = max(budget.validation_fraction,
                     min(MAX_VALIDATION_SHARE, MIN_VALIDATION / max(windows, 1)))
    fit = windows - round(windows * validation)
    batch = min(budget.batch_size, max(MIN_BATCH, fit // MIN_STEPS_PER_EPOCH))
    epochs = max(budget.epochs, math.ceil(MIN_STEPS / max(math.ceil(fit / batch), 1)))
    patience = max(budget.patience, round(budget.patience * epochs / budget.epochs))
    return replace(budget, epochs=epochs, batch_size=batch, patience=patience,
                   validation_fraction=validation)


@dataclass(frozen=True)
class Trained:
    """A trained network: the best validation epoch's weights, and how training went."""

    network: Network
    validation_accuracy: float
    epochs_run: int
    seconds: float
    diverged: str | None = None  # why training stopped early with a non-finite loss


def derived_seed(*parts: int | str) -> int:
    """A 32-bit seed from several values (numpy's legacy seeding takes no more), so no run
    seed, however large, overflows it, and seeds derived for different uses never meet."""
    digest = hashlib.sha256(",".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little")


def arch_seed(seed: int, arch: Architecture) -> np.random.Generator:
    """The candidate's generator: from the run seed and the architecture, not call order.
    The dtype is left out so int8/int16/float32 variants share one float training run."""
    digest = hashlib.sha256(arch.text.encode()).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])


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


EpochHook = Callable[[int, Network, float], None]  # (epoch, network, validation accuracy)


def train(arch: Architecture, data: Dataset, budget: Budget, seed: int, *,
          on_epoch: EpochHook | None = None) -> Trained:
    """Train ``arch`` on ``data``'s training split within ``budget``; ``on_epoch`` sees the
    network after every epoch (the final-budget benchmark draws learning curves with it)."""
    check_trainable(arch, budget)
    rng = arch_seed(seed, arch)
    net = init_network(arch.cell, data.features, arch.cells, data.classes, rng)
    fit, val = _validation_split(len(data.y_train), budget.validation_fraction, rng)
    start = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is caught as a NaN loss
        best, best_accuracy, epochs_run, diverged = _adam(net, data, fit, val, budget, rng,
                                                          on_epoch)
    return Trained(best, best_accuracy, epochs_run, time.perf_counter() - start, diverged)


def _validation_split(n: int, fraction: float, rng: np.random.Generator):
    order = rng.permutation(n)
    cut = int(round(n * fraction))
    return order[cut:], order[:cut]


def _adam(net: Network, data: Dataset, fit: np.ndarray, val: np.ndarray, budget: Budget,
          rng: np.random.Generator,
          on_epoch: EpochHook | None = None) -> tuple[Network, float, int, str | None]:
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
                return best, best_acc, epoch, f"loss became {loss} in epoch {epoch}"
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
        if on_epoch:
            on_epoch(epoch, net, accuracy)
        if accuracy > best_acc:
            best, best_acc, since_best = copy.deepcopy(net), accuracy, 0
        else:
            since_best += 1
            if since_best >= budget.patience:
                return best, best_acc, epoch, None
    return best, best_acc, budget.epochs, None


def accuracy_of(net: Network, X: np.ndarray, y: np.ndarray, batch: int = EVAL_BATCH) -> float:
    """Accuracy of the float network (arg-max of its logits)."""
    correct = 0
    for begin in range(0, len(y), batch):
        logits, _ = forward(net, X[begin: begin + batch])
        correct += int((logits.argmax(axis=1) == y[begin: begin + batch]).sum())
    return correct / len(y)
