"""Non-dominated sets of (quality, cost) points, through moocore."""

from __future__ import annotations

import moocore
import numpy as np


def pareto_mask(quality, cost, higher_quality_is_better: bool = False) -> np.ndarray:
    """True for the points no other point beats on both quality and cost (cost is always minimised).

    Ties are kept (weakly non-dominated), and points with a missing value are never on the front.
    """
    points = np.column_stack([np.asarray(quality, dtype=float), np.asarray(cost, dtype=float)])
    mask = np.zeros(len(points), dtype=bool)
    finite = np.all(np.isfinite(points), axis=1)
    if finite.any():
        mask[finite] = moocore.is_nondominated(
            points[finite], maximise=[higher_quality_is_better, False], keep_weakly=True
        )
    return mask
