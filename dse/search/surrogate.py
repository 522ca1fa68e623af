"""A small Gaussian process: the accuracy model of the cost-aware sampler.

Pure numpy. A linear trend (least squares on a few trend features, e.g. the log parameter
count: accuracy grows with capacity) plus a Matern-5/2 process over features scaled to
[0, 1] for what the trend misses; the length scale and the noise share are chosen from a
fixed grid by the marginal likelihood (a handful of Cholesky factorizations of at most a few
hundred points: milliseconds, and deterministic).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

LENGTH_SCALES = (0.1, 0.2, 0.4, 0.8, 1.6)
NOISE_SHARES = (0.01, 0.05, 0.2, 0.5)  # of the standardized residuals' variance
RIDGE = 0.1  # on the trend's slopes (features in [0, 1]): a few points give a tame trend


@dataclass(frozen=True)
class GaussianProcess:
    """A fitted process: predict with :func:`predict`."""

    X: np.ndarray  # (n, F) training features
    beta: np.ndarray  # (p + 1,) the trend's intercept and slopes
    alpha: np.ndarray  # (n,) K^-1 (y - mean), standardized
    factor: np.ndarray  # (n, n) lower Cholesky factor of K + noise
    length_scale: float
    noise: float
    y_std: float  # of the residuals: the process works on residual / y_std


def matern52(A: np.ndarray, B: np.ndarray, length_scale: float) -> np.ndarray:
    """Matern-5/2 covariance (unit variance) between the rows of A and B."""
    d2 = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2 * A @ B.T
    r = np.sqrt(5 * np.maximum(d2, 0)) / length_scale
    return (1 + r + r * r / 3) * np.exp(-r)


def fit(X: np.ndarray, y: np.ndarray, trend: np.ndarray) -> GaussianProcess:
    """Trend by ridge regression on ``trend`` (n, p), then the process of largest marginal
    likelihood over the grid of hyperparameters for the residuals."""
    design = _design(trend)
    penalty = RIDGE * np.eye(design.shape[1])
    penalty[0, 0] = 0  # the intercept is free
    beta = np.linalg.solve(design.T @ design + penalty, design.T @ y)
    residual = y - design @ beta
    y_std = float(residual.std()) or 1.0
    z = residual / y_std
    best: tuple[float, GaussianProcess] | None = None
    for length_scale, noise in itertools.product(LENGTH_SCALES, NOISE_SHARES):
        K = matern52(X, X, length_scale) + (noise + 1e-9) * np.eye(len(X))
        factor = np.linalg.cholesky(K)
        alpha = np.linalg.solve(factor.T, np.linalg.solve(factor, z))
        likelihood = -0.5 * z @ alpha - np.log(np.diag(factor)).sum()
        if best is None or likelihood > best[0]:
            best = likelihood, GaussianProcess(X, beta, alpha, factor, length_scale, noise,
                                               y_std)
    assert best is not None
    return best[1]


def _design(trend: np.ndarray) -> np.ndarray:
    return np.column_stack([np.ones(len(trend)), trend])


def predict(gp: GaussianProcess, X: np.ndarray,
            trend: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of a new observation at the rows of X (the noise of one
    training included: that score, not the noise-free mean, is what joins the front)."""
    k = matern52(X, gp.X, gp.length_scale)
    mean = k @ gp.alpha
    v = np.linalg.solve(gp.factor, k.T)
    variance = np.maximum(1 - (v * v).sum(0), 0) + gp.noise
    return _design(trend) @ gp.beta + gp.y_std * mean, gp.y_std * np.sqrt(variance)
