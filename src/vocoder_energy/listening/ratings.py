"""The ratings a listening test hands to the analysis: where they lie, their columns, the score scale and
the ground truth's system name (the export writes them, MOS and the workflow read them).

``ratings.csv`` holds one row per vote (first presentations); the export writes the raters' screening,
``raters.csv``, beside it. The workflow's rules (``workflow/rules/common.smk``), the CLI's default and
the analysis' messages all take these paths from here.
"""

from __future__ import annotations

from pathlib import Path

RATINGS_PATH = "data/listening/ratings.csv"
RATERS_NAME = "raters.csv"  # the export's screening per rater (gold questions), beside the ratings
RATINGS_COLUMNS = ["listener", "stimulus", "system", "utterance", "score", "timestamp"]
SCALE = (1, 5)  # ITU-T P.800 absolute category rating: integers from 1 (bad) to 5 (excellent)
GROUND_TRUTH = "ground_truth"  # the system name of the reference recordings (the paper's tables use it too)


def raters_path(ratings: str | Path) -> Path:
    """The screening file the export writes beside ``ratings``."""
    return Path(ratings).with_name(RATERS_NAME)


RATERS_PATH = str(raters_path(RATINGS_PATH))
