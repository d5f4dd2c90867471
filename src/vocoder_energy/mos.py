"""MOS from listening-test ratings: validation, per-system MOS with a t-interval and a bootstrap interval.

Ratings are the long-format CSV the listening test exports (``data/listening/ratings.csv``), one row per
vote: ``listener,stimulus,system,utterance,score,timestamp``; ``system`` is ``{model}_{size}`` or
``ground_truth``; ``score`` an integer on the ITU-T P.800 ACR scale (1 Bad ... 5 Excellent).

Votes cluster by listener (a harsh rater lowers every system) and by utterance, so the plain t-interval
over votes is too narrow; the bootstrap resamples listeners and utterances (both with replacement, a
two-way crossed bootstrap), which keeps that clustering in the spread of the resampled MOS.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .intervals import t_interval

COLUMNS = ["listener", "stimulus", "system", "utterance", "score", "timestamp"]
GROUND_TRUTH = "ground_truth"
SCALE = (1, 5)


class RatingsError(ValueError):
    """A ratings file that cannot be used; the message names the file and the offending rows."""


def _rows(frame: pd.DataFrame, mask) -> str:
    """CSV line numbers (the header is line 1) of the rows in ``mask``, a few of them."""
    lines = [str(i + 2) for i in np.flatnonzero(np.asarray(mask))]
    return ", ".join(lines[:10]) + (f" and {len(lines) - 10} more" if len(lines) > 10 else "")


def read_ratings(path: str | Path, systems=None, utterances=None) -> pd.DataFrame:
    """The ratings of ``path``, validated: columns, the 1-5 integer scale, known systems and utterances
    (when given), one vote per listener and stimulus. Errors name the file and the CSV lines."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype={"listener": str, "stimulus": str, "system": str, "utterance": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise RatingsError(f"{path}: cannot read the ratings CSV ({err})") from err
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise RatingsError(f"{path}: missing column(s) {', '.join(missing)} (expected {','.join(COLUMNS)})")
    empty = frame[["listener", "stimulus", "system", "utterance", "score"]].isna().any(axis=1)
    if empty.any():
        raise RatingsError(f"{path}: empty field(s) on line(s) {_rows(frame, empty)}")
    score = pd.to_numeric(frame["score"], errors="coerce")
    bad = ~(score.notna() & (score == score.round()) & score.between(*SCALE))
    if bad.any():
        raise RatingsError(
            f"{path}: score must be an integer from {SCALE[0]} to {SCALE[1]} (line(s) {_rows(frame, bad)}, "
            f"e.g. {frame.loc[bad, 'score'].iloc[0]!r})"
        )
    frame["score"] = score.astype(int)
    if systems is not None:
        unknown = ~frame["system"].isin(set(systems) | {GROUND_TRUTH})
        if unknown.any():
            raise RatingsError(
                f"{path}: unknown system(s) {', '.join(sorted(frame.loc[unknown, 'system'].unique()))} on line(s) "
                f"{_rows(frame, unknown)} (configured: {', '.join(sorted(systems))}, {GROUND_TRUTH})"
            )
    if utterances is not None:
        unknown = ~frame["utterance"].isin(set(map(str, utterances)))
        if unknown.any():
            raise RatingsError(
                f"{path}: unknown utterance(s) {', '.join(sorted(frame.loc[unknown, 'utterance'].unique())[:5])} "
                f"on line(s) {_rows(frame, unknown)} (not among the generated test clips)"
            )
    # One stimulus is one (system, utterance): a second vote of a listener on either key is a duplicate.
    for key in (["listener", "stimulus"], ["listener", "system", "utterance"]):
        duplicated = frame.duplicated(key, keep=False)
        if duplicated.any():
            raise RatingsError(
                f"{path}: duplicate ratings of the same {'/'.join(key)} on line(s) {_rows(frame, duplicated)}"
            )
    inconsistent = frame.groupby("stimulus")[["system", "utterance"]].nunique().max(axis=1) > 1
    if inconsistent.any():
        bad_rows = frame["stimulus"].isin(inconsistent[inconsistent].index)
        raise RatingsError(
            f"{path}: a stimulus id names different systems/utterances on line(s) {_rows(frame, bad_rows)}"
        )
    return frame


def bootstrap_mos(
    ratings: pd.DataFrame, resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> pd.DataFrame:
    """Percentile interval of each system's MOS over resampled listeners and utterances.

    Each resample draws listeners and utterances with replacement; a vote counts as often as its
    listener times its utterance was drawn (a weighted mean, all resamples at once).
    """
    listeners, listener_idx = np.unique(ratings["listener"], return_inverse=True)
    utterances, utterance_idx = np.unique(ratings["utterance"], return_inverse=True)
    systems, system_idx = np.unique(ratings["system"], return_inverse=True)
    rng = np.random.default_rng(seed)
    lw = rng.multinomial(len(listeners), np.full(len(listeners), 1 / len(listeners)), size=resamples)
    uw = rng.multinomial(len(utterances), np.full(len(utterances), 1 / len(utterances)), size=resamples)
    weight = (lw[:, listener_idx] * uw[:, utterance_idx]).astype(float)  # (resamples, votes)
    onehot = np.eye(len(systems))[system_idx]  # (votes, systems)
    total = weight @ onehot
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (weight * ratings["score"].to_numpy(float)) @ onehot / total  # NaN: system absent
    alpha = (1 - confidence) / 2
    low, high = np.nanquantile(means, [alpha, 1 - alpha], axis=0)
    return pd.DataFrame({"system": systems, "boot_ci_low": low, "boot_ci_high": high})


def mos_table(ratings: pd.DataFrame, resamples: int = 2000, confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """One row per system: MOS, the t-interval over votes, the bootstrap interval, vote and listener counts."""
    rows = []
    for system, votes in ratings.groupby("system"):
        interval = t_interval(votes["score"], confidence)
        rows.append(
            {
                "system": system,
                "mos": interval["mean"],
                "t_ci_low": interval["ci_low"],
                "t_ci_high": interval["ci_high"],
                "votes": interval["n"],
                "listeners": votes["listener"].nunique(),
                "utterances": votes["utterance"].nunique(),
            }
        )
    table = pd.DataFrame(rows).merge(bootstrap_mos(ratings, resamples, confidence, seed), on="system")
    model_size = table["system"].str.rsplit("_", n=1, expand=True)
    table.insert(1, "model", np.where(table["system"] == GROUND_TRUTH, GROUND_TRUTH, model_size[0]))
    table.insert(2, "size", np.where(table["system"] == GROUND_TRUTH, "", model_size[1]))
    return table
