"""Pareto analysis over any objectives, each with its direction, through moocore: the non-dominated set,
Pareto ranks, per-family sub-fronts, hypervolume with a stated reference point, and "possibly efficient"
points whose quality interval reaches the front.

A quality objective is analysed against each cost separately (the paper's Figure 2 panels) and against all
costs together (the N-objective front). Rows with a missing value are never on a front and dominate
nothing. Where a partition column is given for a cost (the energy method), fronts are computed within each
partition, so measured and estimated energies never share a front.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import moocore
import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Objective:
    column: str
    higher_is_better: bool
    label: str
    log: bool = False  # spans decades: hypervolume (and figures) on log10 values
    short: str = ""  # the suffix of its output columns (e.g. "gflops"); defaults to the column

    @property
    def key(self) -> str:
        return self.short or self.column


# Prefixes of the per-row columns ``pareto_analysis`` adds (then the objective set's suffix).
ANALYSIS_PREFIXES = ("on_front_", "rank_", "on_family_front_", "possibly_efficient_")


def _group_rows(count: int, groups: Sequence | None) -> list[np.ndarray]:
    """Row indices of each group of ``groups`` (one hashable label per row; all rows when None).

    A missing label (None, NaN) belongs to no group: such a row is never on a front and has no rank.
    """
    if groups is None:
        return [np.arange(count)]
    members: dict = {}
    for row, label in enumerate(groups):
        if not _missing(label):
            members.setdefault(label, []).append(row)
    return [np.array(rows) for rows in members.values()]


def _as_points(points, maximise: list[bool]) -> np.ndarray:
    """``points`` as a float array of one row per point and one column per objective (also when empty)."""
    points = np.asarray(points, dtype=float)
    return points.reshape(len(points), len(maximise))


def _missing(label) -> bool:
    return label is None or (isinstance(label, float) and np.isnan(label))


def nondominated(points: np.ndarray, maximise: list[bool], groups: Sequence | None = None) -> np.ndarray:
    """Weakly non-dominated rows of ``points`` (n, k), through moocore: the package's one Pareto front.

    Ties are kept; rows with a non-finite value are never on the front (and dominate nothing). With
    ``groups`` (a label per row), each group has its own front: e.g. measured and estimated energies
    never share one.
    """
    points = _as_points(points, maximise)
    mask = np.zeros(len(points), dtype=bool)
    finite = np.all(np.isfinite(points), axis=1)
    for rows in _group_rows(len(points), groups):
        rows = rows[finite[rows]]
        if len(rows):
            mask[rows] = moocore.is_nondominated(points[rows], maximise=maximise, keep_weakly=True)
    return mask


def ranks(points: np.ndarray, maximise: list[bool], groups: Sequence | None = None) -> np.ndarray:
    """Pareto rank of each row, 1 = the front, 2 = the front once rank 1 is removed, ...; NaN if missing.
    With ``groups``, ranks within each group (as ``nondominated``)."""
    points = _as_points(points, maximise)
    out = np.full(len(points), np.nan)
    finite = np.all(np.isfinite(points), axis=1)
    for rows in _group_rows(len(points), groups):
        rows = rows[finite[rows]]
        if len(rows):
            out[rows] = moocore.pareto_rank(points[rows], maximise=maximise) + 1
    return out


def reference_point(points: np.ndarray, maximise: list[bool], margin: float = 0.1) -> np.ndarray:
    """The nadir (worst value per objective) pushed outward by ``margin`` of each objective's range
    (by ``margin`` itself where all values agree), so that every point adds volume."""
    finite = points[np.all(np.isfinite(points), axis=1)]
    worst = np.where(maximise, finite.min(axis=0), finite.max(axis=0))
    spread = np.ptp(finite, axis=0)
    pad = margin * np.where(spread > 0, spread, 1.0)
    return np.where(maximise, worst - pad, worst + pad)


def hypervolume(points: np.ndarray, maximise: list[bool], reference: np.ndarray) -> float:
    """Volume dominated by the finite rows of ``points`` up to ``reference`` (moocore)."""
    finite = points[np.all(np.isfinite(points), axis=1)]
    if not len(finite):
        return float("nan")
    return float(moocore.hypervolume(finite, ref=reference, maximise=maximise))


def _values(frame: pd.DataFrame, objectives: list[Objective]) -> np.ndarray:
    return np.column_stack([frame[o.column].to_numpy(float) for o in objectives])


def _scaled(values: np.ndarray, objectives: list[Objective]) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.column_stack([np.log10(values[:, i]) if o.log else values[:, i] for i, o in enumerate(objectives)])


def _analyse_set(
    frame: pd.DataFrame,
    objectives: list[Objective],
    suffix: str,
    family: str,
    quality_optimistic: str | None,
    partition: str | None,
) -> dict:
    """Front, rank, family sub-front and "possibly efficient" columns for one objective set."""
    maximise = [o.higher_is_better for o in objectives]
    values = _values(frame, objectives)
    groups = frame[partition].to_numpy() if partition else np.zeros(len(frame))
    # Each family's own front (the paper's sub-Pareto fronts) lies within its partition.
    families = [None if _missing(group) else (group, fam) for group, fam in zip(groups, frame[family].to_numpy())]
    out = {
        f"on_front_{suffix}": nondominated(values, maximise, groups),
        f"rank_{suffix}": ranks(values, maximise, groups),
        f"on_family_front_{suffix}": nondominated(values, maximise, families),
    }
    if quality_optimistic is not None:
        # Dominated, but at the optimistic end of its quality interval it would join the front.
        possibly = np.zeros(len(frame), dtype=bool)
        for i in np.flatnonzero(~out[f"on_front_{suffix}"]):
            rows = np.flatnonzero(groups == groups[i])
            trial = values[rows].copy()
            here = int(np.flatnonzero(rows == i)[0])
            trial[here, 0] = frame[quality_optimistic].to_numpy(float)[i]
            possibly[i] = nondominated(trial, maximise)[here]
        out[f"possibly_efficient_{suffix}"] = possibly
    return out


def pareto_analysis(
    frame: pd.DataFrame,
    quality: Objective,
    costs: list[Objective],
    family: str = "model",
    quality_ci: tuple[str, str] | None = None,
    partitions: dict[str, str] | None = None,
) -> tuple[pd.DataFrame, dict]:
    """``frame`` with front, rank, family-front and possibly-efficient columns per cost (suffix: the cost's
    key) and for all objectives together (suffix ``all``), and the hypervolumes with their reference points.

    ``quality_ci`` names the (low, high) interval columns of the quality; ``partitions`` maps a cost column
    to a column whose values must not share a front (e.g. ``energy_method``: measured vs estimated).
    """
    partitions = partitions or {}
    optimistic = None
    if quality_ci is not None:
        optimistic = quality_ci[1] if quality.higher_is_better else quality_ci[0]
    result = frame.copy()
    volumes = {}
    sets = [(cost.key, [quality, cost], partitions.get(cost.column)) for cost in costs]
    if len(costs) > 1:
        joint_partition = next((partitions[c.column] for c in costs if c.column in partitions), None)
        sets.append(("all", [quality, *costs], joint_partition))
    for suffix, objectives, partition in sets:
        for column, values in _analyse_set(frame, objectives, suffix, family, optimistic, partition).items():
            result[column] = values
        maximise = [o.higher_is_better for o in objectives]
        groups = frame[partition] if partition else pd.Series("all", index=frame.index)
        for group in pd.unique(groups):
            scaled = _scaled(_values(frame[groups == group], objectives), objectives)
            if not np.all(np.isfinite(scaled), axis=1).any():
                continue
            reference = reference_point(scaled, maximise)
            volumes[suffix if not partition else f"{suffix} ({group})"] = {
                "hypervolume": hypervolume(scaled, maximise, reference),
                "objectives": [
                    f"{'max' if o.higher_is_better else 'min'} {'log10 ' if o.log else ''}{o.column}"
                    for o in objectives
                ],
                "reference_point": reference.tolist(),
                "reference_rule": "nadir of the analysed points pushed outward by 10% of each objective's range",
                "points": int(np.all(np.isfinite(scaled), axis=1).sum()),
            }
    return result, volumes
