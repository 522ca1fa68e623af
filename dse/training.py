"""Training a network with the numpy cells: Adam with global-norm clipping, early stopping on
a validation split, the weights of the best validation epoch kept.

Shared by the search's short proxy budget (``dse.proxy``) and the export's final budget
(``dse.export``). A training is a pure function of (architecture, data, budget, seed): the
weights and the batch order come from a generator seeded by the seed and the architecture's
text, never from call order.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from dse.architecture import Architecture
from dse.cells import GATES, Network, forward, init_network, loss_and_grads, stack, unstack
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


EpochHook = Callable[[int, int, Network, float], None]  # (epoch, seed, network, val. accuracy)


def train(arch: Architecture, data: Dataset, budget: Budget, seed: int, *,
          on_epoch: EpochHook | None = None) -> Trained:
    """Train ``arch`` on ``data``'s training split within ``budget``; ``on_epoch`` sees the
    network after every epoch (the final-budget benchmark draws learning curves with it)."""
    return train_seeds(arch, data, budget, (seed,), on_epoch=on_epoch)[0]


def train_seeds(arch: Architecture, data: Dataset, budget: Budget, seeds: tuple[int, ...], *,
                on_epoch: EpochHook | None = None) -> list[Trained]:
    """:func:`train` for each of ``seeds`` in one stacked computation (``dse.cells.stack``):
    larger products and one numpy call for all seeds where one seed alone would pay a call
    each. Every seed keeps its own initialization, validation split, batch order and
    early-stopping epoch, and gets bit for bit the numbers it gets alone."""
    check_trainable(arch, budget)
    per_stack = max(1, MAX_TRAINING_BYTES // training_bytes(arch, budget))
    if len(seeds) > per_stack:  # in stacks that fit the memory limit
        return [trained for begin in range(0, len(seeds), per_stack) for trained in
                train_seeds(arch, data, budget, seeds[begin: begin + per_stack],
                            on_epoch=on_epoch)]
    rngs = [arch_seed(seed, arch) for seed in seeds]
    nets = [init_network(arch.cell, data.features, arch.cells, data.classes, rng)
            for rng in rngs]
    splits = [_validation_split(len(data.y_train), budget.validation_fraction, rng)
              for rng in rngs]
    start = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is caught as a NaN loss
        ends = _adam(stack(nets), data, splits, budget, rngs, seeds, on_epoch)
    seconds = (time.perf_counter() - start) / len(seeds)  # the seeds shared the time
    return [Trained(network, accuracy, epochs, seconds, diverged)
            for network, accuracy, epochs, diverged in ends]


def _validation_split(n: int, fraction: float, rng: np.random.Generator):
    order = rng.permutation(n)
    cut = int(round(n * fraction))
    return order[cut:], order[:cut]


@dataclass
class _Seed:
    """One seed's place in a stacked training: its data and how far it got."""

    fit: np.ndarray  # training windows
    val: np.ndarray  # validation windows
    rng: np.random.Generator  # batch order
    best: Network  # the weights of the best validation epoch so far (at first, the initial)
    best_accuracy: float = -1.0
    since_best: int = 0
    end: tuple = ()  # when stopped: (network, validation accuracy, epochs run, diverged)


def _adam(net: Network, data: Dataset, splits: list, budget: Budget,
          rngs: list[np.random.Generator], seeds: tuple[int, ...],
          on_epoch: EpochHook | None = None) -> list[tuple]:
    """Adam with global-norm clipping, per seed of the stacked ``net``; keep each seed's
    best validation epoch. A seed that stops (patience, or a non-finite loss) leaves the
    stack and the others go on. Returns each seed's (network, validation accuracy, epochs
    run, diverged)."""
    states = [_Seed(fit, val, rng, unstack(net, k))
              for k, ((fit, val), rng) in enumerate(zip(splits, rngs))]
    running = list(range(len(states)))  # positions in ``states`` of the stack's seeds
    params = net.arrays()
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    beta1, beta2, eps, step = 0.9, 0.999, 1e-8, 0
    X, y = data.X_train, data.y_train
    fit_size = len(states[0].fit)

    def leave(stopped: list[int]) -> None:
        nonlocal net, params, m, v, running
        keep = [k for k in range(len(running)) if k not in stopped]
        running = [running[k] for k in keep]
        params, m, v = ([a[keep] for a in arrays] for arrays in (params, m, v))
        net = Network.from_arrays(net.cell, params)

    for epoch in range(1, budget.epochs + 1):
        orders = np.stack([states[k].fit[states[k].rng.permutation(fit_size)]
                           for k in running])  # (S, windows)
        for begin in range(0, fit_size, budget.batch_size):
            batch = orders[:, begin: begin + budget.batch_size]  # (S, B)
            loss, grads = loss_and_grads(net, X[batch], y[batch])
            if diverged := [k for k in range(len(running)) if not np.isfinite(loss[k])]:
                for k in diverged:
                    seed = states[running[k]]
                    seed.end = (seed.best, seed.best_accuracy, epoch,
                                f"loss became {loss[k]} in epoch {epoch}")
                leave(diverged)
                if not running:
                    return [seed.end for seed in states]
                kept = [k for k in range(len(orders)) if k not in diverged]
                orders, grads = orders[kept], [g[kept] for g in grads]
            scale = _clip_scales(grads, budget.clip_norm)  # (S,)
            step += 1
            lr = budget.learning_rate * np.sqrt(1 - beta2**step) / (1 - beta1**step)
            for p, g, mi, vi in zip(params, grads, m, v):
                g = g * scale.reshape(-1, *[1] * (g.ndim - 1))
                mi *= beta1
                mi += (1 - beta1) * g
                vi *= beta2
                vi += (1 - beta2) * g * g
                p -= (lr * mi / (np.sqrt(vi) + eps)).astype(np.float32)
        accuracies = _accuracies(net, X, y, [states[k].val for k in running], epoch)
        stopped = []
        for k, accuracy in enumerate(accuracies):
            seed = states[running[k]]
            if on_epoch:
                on_epoch(epoch, seeds[running[k]], unstack(net, k), accuracy)
            if accuracy > seed.best_accuracy:
                seed.best, seed.best_accuracy, seed.since_best = unstack(net, k), accuracy, 0
            else:
                seed.since_best += 1
                if seed.since_best >= budget.patience:
                    seed.end = (seed.best, seed.best_accuracy, epoch, None)
                    stopped.append(k)
        if stopped:
            leave(stopped)
            if not running:
                break
    for k in running:
        seed = states[k]
        seed.end = (seed.best, seed.best_accuracy, budget.epochs, None)
    return [seed.end for seed in states]


def _clip_scales(grads: list[np.ndarray], clip_norm: float) -> np.ndarray:
    """Each seed's factor that clips its gradient's global norm to ``clip_norm`` (float32).
    Each seed's sums run over its own slice, as they would alone."""
    scales = []
    for k in range(len(grads[0])):
        norm = float(np.sqrt(sum(float((g[k] * g[k]).sum()) for g in grads)))
        scales.append(min(1.0, clip_norm / (norm + 1e-12)))
    return np.array(scales, np.float32)


def _accuracies(net: Network, X: np.ndarray, y: np.ndarray, vals: list[np.ndarray],
                epoch: int) -> list[float]:
    """Each stacked seed's accuracy on its validation windows (-epoch without any: the last
    epoch is then kept)."""
    if not len(vals[0]):
        return [-float(epoch)] * len(vals)
    windows = np.stack(vals)  # (S, N)
    correct = np.zeros(len(vals), int)
    for begin in range(0, windows.shape[1], EVAL_BATCH):
        chunk = windows[:, begin: begin + EVAL_BATCH]
        logits, _ = forward(net, X[chunk])
        correct += (logits.argmax(axis=-1) == y[chunk]).sum(axis=-1)
    return [int(c) / windows.shape[1] for c in correct]


def accuracy_of(net: Network, X: np.ndarray, y: np.ndarray, batch: int = EVAL_BATCH) -> float:
    """Accuracy of the float network (arg-max of its logits)."""
    correct = 0
    for begin in range(0, len(y), batch):
        logits, _ = forward(net, X[begin: begin + batch])
        correct += int((logits.argmax(axis=1) == y[begin: begin + batch]).sum())
    return correct / len(y)
