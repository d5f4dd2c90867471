"""Is a measurement stable? Unstable when the energy per workload spreads too much across its load windows
(relative standard deviation) or when the device warmed up too much from the first load window to the
last (thermal drift); each reason is stated with its number and threshold."""

from __future__ import annotations

import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Thresholds:
    max_spread: float = 0.10  # relative standard deviation of J per workload across load windows
    max_drift_celsius: float = 5.0  # mean temperature of the last load window minus the first's


def _mean(values: list) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None


def stability(load_windows: list[dict], trace_windows: list[dict], thresholds: Thresholds) -> dict:
    """``load_windows``: the protocol's records (joules, repeats); ``trace_windows``: the sampler's."""
    per_workload = [w["joules"] / w["repeats"] for w in load_windows if w["repeats"]]
    spread = None
    if len(per_workload) >= 2 and statistics.fmean(per_workload) > 0:
        spread = statistics.stdev(per_workload) / statistics.fmean(per_workload)
    loads = [w for w in trace_windows if w["phase"] == "load"]
    first = _mean(loads[0]["celsius"]) if loads else None
    last = _mean(loads[-1]["celsius"]) if loads else None
    drift = None if first is None or last is None else last - first
    reasons = []
    if spread is not None and spread > thresholds.max_spread:
        reasons.append(
            f"energy per workload spreads {spread:.1%} across {len(per_workload)} windows "
            f"(> {thresholds.max_spread:.0%})"
        )
    if drift is not None and drift > thresholds.max_drift_celsius:
        reasons.append(
            f"the device warmed {drift:.1f} C from the first load window to the last "
            f"(> {thresholds.max_drift_celsius:g} C)"
        )
    unchecked = []
    if spread is None:
        unchecked.append("spread (fewer than 2 load windows)")
    if drift is None:
        unchecked.append("thermal drift (no temperature reading)")
    return {
        "stable": not reasons,
        "reasons": reasons,
        "spread": spread,
        "drift_celsius": drift,
        "unchecked": unchecked,
        "thresholds": {"max_spread": thresholds.max_spread, "max_drift_celsius": thresholds.max_drift_celsius},
    }
