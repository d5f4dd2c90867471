"""MOS from listening-test ratings: validation, per-system MOS with a t-interval and a bootstrap interval.

Ratings are the long-format CSV the listening test exports (``data/listening/ratings.csv``), one row per
vote: ``listener,stimulus,system,utterance,score,timestamp``; ``system`` is ``{model}_{size}`` or
``ground_truth``, or ``anchor`` (the low gold question, see ``listening.gold``: reported on its own as a
sanity check, never a system of the MOS table); ``score`` an integer on the ITU-T P.800 ACR scale (1 Bad
... 5 Excellent).

Raters who failed more than ``listening.max_gold_failures`` gold questions are left out: their failures
come from the export's screening report (``raters.csv`` beside the ratings), or where there is none,
from their ratings of the anchor.

Votes cluster by listener (a harsh rater lowers every system) and by utterance, so the plain t-interval
over votes is too narrow; the bootstrap resamples listeners and utterances (both with replacement, a
two-way crossed bootstrap), which keeps that clustering in the spread of the resampled MOS.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from vocoder_energy.core.intervals import t_interval
from vocoder_energy.listening.gold import ANCHOR, EXPECTED, failed
from vocoder_energy.listening.ratings import GROUND_TRUTH, RATERS_NAME, RATINGS_COLUMNS, SCALE

SCREENING_COLUMNS = ["listener", "gold_answered", "gold_failed"]  # what MOS needs of the export's raters.csv


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
    missing = [c for c in RATINGS_COLUMNS if c not in frame.columns]
    if missing:
        raise RatingsError(f"{path}: missing column(s) {', '.join(missing)} (expected {','.join(RATINGS_COLUMNS)})")
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
        unknown = ~frame["system"].isin(set(systems) | {GROUND_TRUTH, ANCHOR})
        if unknown.any():
            raise RatingsError(
                f"{path}: unknown system(s) {', '.join(sorted(frame.loc[unknown, 'system'].unique()))} on line(s) "
                f"{_rows(frame, unknown)} (configured: {', '.join(sorted(systems))}, {GROUND_TRUTH}, {ANCHOR})"
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


def read_screening(path: str | Path) -> pd.DataFrame:
    """The export's per-rater screening (``raters.csv``): at least listener, gold_answered, gold_failed."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype={"listener": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise RatingsError(f"{path}: cannot read the raters' screening CSV ({err})") from err
    missing = [c for c in SCREENING_COLUMNS if c not in frame.columns]
    if missing:
        raise RatingsError(f"{path}: missing column(s) {', '.join(missing)}; export the ratings again")
    counts = frame[["gold_answered", "gold_failed"]].apply(pd.to_numeric, errors="coerce")
    bad = ~(counts.notna() & (counts >= 0) & (counts == counts.round())).all(axis=1) | frame["listener"].isna()
    if bad.any():
        raise RatingsError(f"{path}: gold counts must be whole numbers >= 0 (line(s) {_rows(frame, bad)})")
    duplicated = frame.duplicated("listener", keep=False)
    if duplicated.any():
        raise RatingsError(f"{path}: a listener listed twice on line(s) {_rows(frame, duplicated)}")
    frame[["gold_answered", "gold_failed"]] = counts.astype(int)
    return frame


def screen_raters(
    ratings: pd.DataFrame, screening: pd.DataFrame | None, max_failures: int, source: str = RATERS_NAME
) -> tuple[pd.DataFrame, str]:
    """The ratings without the raters who failed more than ``max_failures`` gold questions, and a line
    for the log saying how many were left out and why.

    ``screening`` is the export's raters.csv; without it a rater's failures are their anchor ratings
    outside the expected range (the high gold's answers are only in raters.csv).
    """
    listeners = sorted(ratings["listener"].unique())
    if screening is not None:
        unlisted = sorted(set(listeners) - set(screening["listener"]))
        if unlisted:
            raise RatingsError(
                f"{source}: no screening of listener(s) {', '.join(unlisted[:5])} who have ratings; export the "
                f"ratings and {RATERS_NAME} together (vocoder-energy-listen export)"
            )
        failures = screening.set_index("listener")["gold_failed"].reindex(listeners)
    else:
        anchor = ratings[ratings["system"] == ANCHOR]
        misses = anchor[[failed(score, "low") for score in anchor["score"]]]
        failures = misses.groupby("listener").size().reindex(listeners, fill_value=0)
        source = f"their {ANCHOR} ratings (no {RATERS_NAME})"
    excluded = sorted(failures[failures > max_failures].index)
    if len(excluded) == len(listeners) and listeners:
        raise RatingsError(
            f"every rater ({len(listeners)}) failed more than listening.max_gold_failures={max_failures} gold "
            f"question(s) (from {source}): check the gold clips, or raise listening.max_gold_failures"
        )
    message = (
        f"screening: {len(excluded)} of {len(listeners)} rater(s) excluded from MOS for failing more than "
        f"listening.max_gold_failures={max_failures} gold question(s) (from {source})"
        + (f": {', '.join(excluded)}" if excluded else "")
    )
    return ratings[~ratings["listener"].isin(excluded)].reset_index(drop=True), message


def anchor_check(ratings: pd.DataFrame) -> str | None:
    """A line on the anchor's MOS (it should be low, within its expected answers), or None unrated."""
    votes = ratings.loc[ratings["system"] == ANCHOR, "score"]
    if votes.empty:
        return None
    low, high = EXPECTED["low"]
    mos = votes.mean()
    verdict = "as expected" if mos <= high else "HIGHER than expected: check the anchor or the raters"
    return (
        f"{ANCHOR} (low gold, not a system): MOS {mos:.2f} over {len(votes)} vote(s) of "
        f"{ratings.loc[ratings['system'] == ANCHOR, 'listener'].nunique()} rater(s), expected {low}-{high}: {verdict}"
    )


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
    """One row per system: MOS, the t-interval over votes, the bootstrap interval, vote and listener counts.
    The anchor is no system: its votes are left out (see ``anchor_check``)."""
    ratings = ratings[ratings["system"] != ANCHOR]
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
    # Family names have no "_" (the schema's pattern); a released checkpoint's label may (hifigan_LJ_V1).
    model_size = table["system"].str.split("_", n=1, expand=True)
    table.insert(1, "model", np.where(table["system"] == GROUND_TRUTH, GROUND_TRUTH, model_size[0]))
    table.insert(2, "size", np.where(table["system"] == GROUND_TRUTH, "", model_size[1]))
    return table
