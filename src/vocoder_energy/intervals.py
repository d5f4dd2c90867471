"""Confidence intervals shared by the objective metrics and the MOS statistics."""

from __future__ import annotations

import numpy as np
from scipy import stats


def t_interval(values, confidence: float = 0.95) -> dict:
    """Mean of the finite ``values`` with a Student-t interval: mean +- t(1-a/2, n-1) * s / sqrt(n).

    A single value has no spread to estimate: its interval is NaN, not zero.
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return {"mean": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "n": 0}
    mean = float(x.mean())
    if n < 2:
        return {"mean": mean, "ci_low": float("nan"), "ci_high": float("nan"), "n": 1}
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * x.std(ddof=1) / np.sqrt(n))
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "n": n}
