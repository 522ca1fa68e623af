"""Non-domination, the one geometric fact the search's progress and the results share."""

from __future__ import annotations

import numpy as np


def non_dominated(points: np.ndarray) -> np.ndarray:
    """Mask of the rows of ``points`` (N, M), all objectives minimized, that no other row
    dominates (no worse in every objective and better in one). Equal rows both stay."""
    mask = np.ones(len(points), dtype=bool)
    for row, point in enumerate(points):
        no_worse = np.all(points <= point, axis=1)
        better = np.any(points < point, axis=1)
        mask[row] = not np.any(no_worse & better)
    return mask


def hypervolume_2d(points: np.ndarray, reference: tuple[float, float] | np.ndarray) -> float:
    """Area that ``points`` (N, 2), both objectives minimized, dominate up to ``reference``."""
    inside = points[(points[:, 0] < reference[0]) & (points[:, 1] < reference[1])]
    area, ceiling = 0.0, float(reference[1])
    for x, y in inside[np.lexsort((inside[:, 1], inside[:, 0]))]:
        if y < ceiling:
            area += (reference[0] - x) * (ceiling - y)
            ceiling = y
    return float(area)
