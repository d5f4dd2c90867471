"""What the researcher sees of a listening test: the ratings CSV, the raters' screening and progress.

These are the only places where stimulus IDs meet system names and gold status (through the key); the
rating page never calls them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

from vocoder_energy.core.files import write_csv
from vocoder_energy.listening.gold import failed
from vocoder_energy.listening.ratings import RATINGS_COLUMNS, raters_path
from vocoder_energy.listening.store import Store

CONSISTENCY_COLUMNS = ["listener", "stimulus", "repeat", "system", "utterance", "score", "repeat_score"]
GOLD_COLUMNS = ["listener", "stimulus", "system", "utterance", "score", "timestamp", "kind", "expected", "failed"]
RATERS_COLUMNS = [
    "listener",
    "rated",
    "assigned",
    "gold_answered",
    "gold_failed",
    "repeat_pairs",
    "repeat_mean_abs_difference",
]


def split_ratings(store: Store, key: dict[str, dict[str, str]]) -> tuple[list[dict], list[dict], list[dict]]:
    """(ratings of first presentations, pairs of (first, repeat) ratings, gold answers) joined with the key.

    The low anchor's ratings are first presentations too (system ``anchor``, which MOS leaves out); the
    high gold's are not: they repeat a ground-truth clip the rater may also rate as a vote.
    """
    firsts, repeats, gold = [], {}, []
    for listener, stimulus, score, timestamp in store.ratings():
        entry = key.get(stimulus)
        if entry is None:
            raise ValueError(f"stimulus {stimulus} has ratings but is not in the key: wrong --key for this --db?")
        if entry["repeat_of"]:
            repeats[(listener, entry["repeat_of"])] = (stimulus, score)
            continue
        row = dict(zip(RATINGS_COLUMNS, [listener, stimulus, entry["system"], entry["utterance"], score, timestamp]))
        if entry["gold"]:
            gold.append(
                row | {"kind": entry["gold"], "expected": entry["expected"], "failed": failed(score, entry["gold"])}
            )
        if entry["gold"] != "high":
            firsts.append(row)
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
    return firsts, pairs, gold


def screening(store: Store, pairs: list[dict], gold: list[dict]) -> list[dict]:
    """Per rater: ratings given and assigned, gold questions answered and failed, repeated pairs and
    their mean absolute score difference (None without pairs)."""
    rows = []
    for listener, rated, assigned, _ in store.rater_progress():
        own_gold = [g for g in gold if g["listener"] == listener]
        differences = [abs(p["score"] - p["repeat_score"]) for p in pairs if p["listener"] == listener]
        rows.append(
            {
                "listener": listener,
                "rated": rated,
                "assigned": assigned,
                "gold_answered": len(own_gold),
                "gold_failed": sum(g["failed"] for g in own_gold),
                "repeat_pairs": len(differences),
                "repeat_mean_abs_difference": (round(sum(differences) / len(differences), 3) if differences else None),
            }
        )
    return rows


def export_ratings(store: Store, key: dict[str, dict[str, str]], out: str | Path) -> tuple[int, int, int, int]:
    """Write the long-format ratings CSV (first presentations, the low anchor's as system ``anchor``)
    and, beside it, consistency.csv (the repeated stimuli's two scores), gold.csv (every answer to a
    gold question) and raters.csv (the screening per rater); returns how many rows each got."""
    firsts, pairs, gold = split_ratings(store, key)
    raters = screening(store, pairs, gold)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for path, columns, rows in (
        (out, RATINGS_COLUMNS, firsts),
        (out.with_name("consistency.csv"), CONSISTENCY_COLUMNS, pairs),
        (out.with_name("gold.csv"), GOLD_COLUMNS, gold),
        (raters_path(out), RATERS_COLUMNS, raters),
    ):
        write_csv(rows, columns, path)  # a reader never sees half a file
    return len(firsts), len(pairs), len(gold), len(raters)


def progress(store: Store, key: dict[str, dict[str, str]]) -> dict:
    """Progress per rater (rated / assigned, gold failed / answered, repeats) and per system (ratings,
    mean score, assigned stimuli)."""
    firsts, pairs, gold = split_ratings(store, key)
    joined = {p: when for p, _, _, when in store.rater_progress()}
    raters = [
        {"participant": row["listener"], **row, "joined": joined[row["listener"]]}
        for row in screening(store, pairs, gold)
    ]
    scores = defaultdict(list)
    for row in firsts:
        scores[row["system"]].append(row["score"])
    assigned = Counter()
    for stimulus, count in store.assigned_counts().items():
        entry = key.get(stimulus)
        if entry and not entry["repeat_of"] and entry["gold"] != "high":
            assigned[entry["system"]] += count
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
