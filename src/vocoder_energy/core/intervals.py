"""Confidence intervals shared by the objective metrics, the MOS statistics and the energy protocol."""

from __future__ import annotations

import math
import statistics

import numpy as np
from scipy.special import stdtrit  # Student-t quantile (what scipy.stats.t.ppf calls; 0.9 s less to import)


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
    half = t_half_width(x.tolist(), confidence)
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "n": n}


def t_half_width(values: list[float], confidence: float = 0.95) -> float:
    """Half-width of the Student-t interval of the mean of ``values`` (NaN below two values)."""
    if len(values) < 2:
        return math.nan
    return float(stdtrit(len(values) - 1, 0.5 + confidence / 2) * statistics.stdev(values) / len(values) ** 0.5)


def welch_half_width(a: list[float], b: list[float], confidence: float = 0.95) -> float:
    """Half-width of the interval of a quantity built from two independent samples' means, such as
    mean(a) - mean(b): standard error sqrt(var(a)/n + var(b)/m), Welch-Satterthwaite degrees of freedom."""
    if len(a) < 2 or len(b) < 2:
        return math.nan
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    if va + vb == 0:
        return 0.0
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return float(stdtrit(df, 0.5 + confidence / 2) * math.sqrt(va + vb))
