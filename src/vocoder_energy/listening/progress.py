"""What the researcher sees of a listening test: the ratings CSV and progress per rater and per system.

These are the only places where stimulus IDs meet system names (through the key); the rating page
never calls them.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from pathlib import Path

from .store import Store

RATINGS_COLUMNS = ["listener", "stimulus", "system", "utterance", "score", "timestamp"]
CONSISTENCY_COLUMNS = ["listener", "stimulus", "repeat", "system", "utterance", "score", "repeat_score"]


def split_ratings(store: Store, key: dict[str, dict[str, str]]) -> tuple[list[dict], list[dict]]:
    """(ratings of first presentations, pairs of (first, repeat) ratings) joined with the key."""
    firsts, repeats = [], {}
    for listener, stimulus, score, timestamp in store.ratings():
        entry = key.get(stimulus)
        if entry is None:
            raise ValueError(f"stimulus {stimulus} has ratings but is not in the key: wrong --key for this --db?")
        if entry["repeat_of"]:
            repeats[(listener, entry["repeat_of"])] = (stimulus, score)
            continue
        row = [listener, stimulus, entry["system"], entry["utterance"], score, timestamp]
        firsts.append(dict(zip(RATINGS_COLUMNS, row)))
    pairs = []
    for row in firsts:
        repeat = repeats.get((row["listener"], row["stimulus"]))
        if repeat:
            pairs.append(
                {
                    "listener": row["listener"],
                    "stimulus": row["stimulus"],
                    "repeat": repeat[0],
                    "system": row["system"],
                    "utterance": row["utterance"],
                    "score": row["score"],
                    "repeat_score": repeat[1],
                }
            )
    return firsts, pairs


def export_ratings(store: Store, key: dict[str, dict[str, str]], out: str | Path) -> tuple[int, int]:
    """Write the long-format ratings CSV (first presentations) and, beside it, consistency.csv (the
    repeated stimuli's two scores); returns how many rows each got."""
    firsts, pairs = split_ratings(store, key)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for path, columns, rows in (
        (out, RATINGS_COLUMNS, firsts),
        (out.with_name("consistency.csv"), CONSISTENCY_COLUMNS, pairs),
    ):
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, columns)
            writer.writeheader()
            writer.writerows(rows)
        tmp.replace(path)  # a reader never sees half a file
    return len(firsts), len(pairs)


def progress(store: Store, key: dict[str, dict[str, str]]) -> dict:
    """Progress per rater (rated / assigned) and per system (ratings, mean score, assigned stimuli)."""
    firsts, pairs = split_ratings(store, key)
    raters = [
        {"participant": p, "rated": rated, "assigned": assigned, "joined": joined}
        for p, rated, assigned, joined in store.rater_progress()
    ]
    scores = defaultdict(list)
    for row in firsts:
        scores[row["system"]].append(row["score"])
    assigned = Counter()
    for stimulus, count in store.assigned_counts().items():
        if stimulus in key and not key[stimulus]["repeat_of"]:
            assigned[key[stimulus]["system"]] += count
    systems = sorted({entry["system"] for entry in key.values()})
    return {
        "raters": raters,
        "finished_raters": sum(r["rated"] == r["assigned"] for r in raters),
        "systems": [
            {
                "system": system,
                "ratings": len(scores[system]),
                "assigned": assigned[system],
                "mean_score": round(sum(scores[system]) / len(scores[system]), 3) if scores[system] else None,
            }
            for system in systems
        ],
        "repeat_pairs": len(pairs),
        "repeat_mean_abs_difference": (
            round(sum(abs(p["score"] - p["repeat_score"]) for p in pairs) / len(pairs), 3) if pairs else None
        ),
    }
