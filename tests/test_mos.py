"""MOS statistics: validation errors naming the rows, known values, and interval coverage on simulated raters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from vocoder_energy.listening.mos import (
    RatingsError,
    anchor_check,
    mos_table,
    read_ratings,
    read_screening,
    screen_raters,
)
from vocoder_energy.listening.ratings import RATINGS_COLUMNS

SYSTEMS = ["hifigan_S", "melgan_S"]


def write(tmp_path, rows, name="ratings.csv"):
    path = tmp_path / name
    pd.DataFrame(rows, columns=RATINGS_COLUMNS).to_csv(path, index=False)
    return path


def good_rows():
    rows = []
    for listener in ("ann", "bob"):
        for system in (*SYSTEMS, "ground_truth"):
            for utterance in ("LJ001-0001", "LJ001-0002"):
                rows.append((listener, f"{system}:{utterance}", system, utterance, 4, "2026-11-24T12:00:00"))
    return rows


def test_valid_ratings_are_read_with_integer_scores(tmp_path):
    ratings = read_ratings(write(tmp_path, good_rows()), SYSTEMS, ["LJ001-0001", "LJ001-0002"])
    assert len(ratings) == 12 and ratings["score"].dtype.kind == "i"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.__setitem__(3, r[3][:4] + (7,) + r[3][5:]), r"score must be an integer from 1 to 5 \(line\(s\) 5"),
        (lambda r: r.__setitem__(2, r[2][:4] + (3.5,) + r[2][5:]), r"line\(s\) 4"),
        (
            lambda r: r.__setitem__(0, r[0][:2] + ("wavenet_S",) + r[0][3:]),
            r"unknown system\(s\) wavenet_S on line\(s\) 2",
        ),
        (
            lambda r: r.__setitem__(1, r[1][:3] + ("LJ999-0001",) + r[1][4:]),
            r"unknown utterance\(s\) LJ999-0001 on line\(s\) 3",
        ),
        (lambda r: r.append(r[5]), r"duplicate ratings .* on line\(s\) 7, 14"),
    ],
)
def test_bad_ratings_are_rejected_naming_file_and_line(tmp_path, change, message):
    rows = good_rows()
    change(rows)
    path = write(tmp_path, rows)
    with pytest.raises(RatingsError, match=message) as error:
        read_ratings(path, SYSTEMS, ["LJ001-0001", "LJ001-0002"])
    assert str(path) in str(error.value)


def test_a_missing_column_is_named(tmp_path):
    path = tmp_path / "ratings.csv"
    pd.DataFrame(good_rows(), columns=RATINGS_COLUMNS).drop(columns="score").to_csv(path, index=False)
    with pytest.raises(RatingsError, match="missing column.*score"):
        read_ratings(path)


# ------------------------------------------------------------------------------------- gold questions
def with_anchor(scores: dict[str, int]) -> list[tuple]:
    """good_rows() plus each listener's rating of the anchor (the low gold question)."""
    rows = good_rows()
    for listener, score in scores.items():
        rows.append((listener, "anchor:LJ001-0001", "anchor", "LJ001-0001", score, "2026-11-24T12:00:00"))
    return rows


def test_the_anchor_is_a_known_system_but_never_a_row_of_the_mos_table(tmp_path):
    ratings = read_ratings(write(tmp_path, with_anchor({"ann": 1, "bob": 2})), SYSTEMS, ["LJ001-0001", "LJ001-0002"])
    assert (ratings["system"] == "anchor").sum() == 2
    table = mos_table(ratings, resamples=100)
    assert set(table["system"]) == {*SYSTEMS, "ground_truth"}
    assert "MOS 1.50 over 2 vote(s) of 2 rater(s), expected 1-2: as expected" in anchor_check(ratings)
    assert anchor_check(ratings[ratings["system"] != "anchor"]) is None


def test_without_raters_csv_a_rater_who_rates_the_anchor_5_is_excluded(tmp_path):
    rows = with_anchor({"ann": 1, "bob": 5})
    rows += [(r[0].replace("bob", "cy"), *r[1:]) for r in rows if r[0] == "bob" and r[2] != "anchor"]
    ratings = read_ratings(write(tmp_path, rows))
    ratings.loc[(ratings["listener"] == "bob") & (ratings["system"] != "anchor"), "score"] = 1  # and drags all down
    kept, message = screen_raters(ratings, None, max_failures=0)
    assert set(kept["listener"]) == {"ann", "cy"}  # cy rated no anchor: nothing failed
    assert message.startswith("screening: 1 of 3 rater(s) excluded from MOS") and message.endswith(": bob")
    assert "(from their anchor ratings (no raters.csv))" in message
    assert (mos_table(kept, resamples=100)["mos"] == 4).all()
    assert set(screen_raters(ratings, None, max_failures=1)[0]["listener"]) == {"ann", "bob", "cy"}


def test_raters_csv_decides_and_must_cover_every_listener(tmp_path):
    ratings = read_ratings(write(tmp_path, with_anchor({"ann": 1, "bob": 1})))
    screening = tmp_path / "raters.csv"
    screening.write_text("listener,rated,gold_answered,gold_failed\nann,9,2,0\nbob,9,2,2\n")
    kept, message = screen_raters(ratings, read_screening(screening), max_failures=1, source=str(screening))
    assert set(kept["listener"]) == {"ann"} and f"(from {screening}): bob" in message  # failed the high gold
    screening.write_text("listener,gold_answered,gold_failed\nann,2,0\n")
    with pytest.raises(RatingsError, match="no screening of listener\\(s\\) bob"):
        screen_raters(ratings, read_screening(screening), max_failures=0)
    screening.write_text("listener,gold_answered,gold_failed\nann,2,x\n")
    with pytest.raises(RatingsError, match=r"raters\.csv: gold counts must be whole numbers >= 0 \(line\(s\) 2"):
        read_screening(screening)
    screening.write_text("listener,gold_answered,gold_failed\nann,2,0\nann,2,0\n")
    with pytest.raises(RatingsError, match=r"a listener listed twice on line\(s\) 2, 3"):
        read_screening(screening)
    screening.write_text("listener,gold_answered,gold_failed\nann,2,1\nbob,2,1\n")
    with pytest.raises(RatingsError, match="every rater \\(2\\) failed more than listening.max_gold_failures=0"):
        screen_raters(ratings, read_screening(screening), max_failures=0)


def test_mos_and_t_interval_on_known_votes(tmp_path):
    rows = [(f"l{i}", f"s{i}", "hifigan_S", f"u{i}", score, "") for i, score in enumerate([3, 4, 5, 4])]
    table = mos_table(read_ratings(write(tmp_path, rows)), resamples=200).set_index("system")
    half = stats.t.ppf(0.975, 3) * np.std([3, 4, 5, 4], ddof=1) / 2
    assert table.loc["hifigan_S", "mos"] == 4.0
    assert table.loc["hifigan_S", "t_ci_high"] - 4.0 == pytest.approx(half)
    assert (table.loc["hifigan_S", "model"], table.loc["hifigan_S", "size"]) == ("hifigan", "S")
    assert 3.0 <= table.loc["hifigan_S", "boot_ci_low"] <= 4.0 <= table.loc["hifigan_S", "boot_ci_high"] <= 5.0


# ------------------------------------------------------------------------------------- simulated raters
TRUE_CENTRES = {"hifigan_S": 3.6, "melgan_S": 2.1, "ground_truth": 4.3}
LISTENER_SD, UTTERANCE_SD, NOISE_SD = 0.6, 0.3, 0.7


def true_mos(centre: float) -> float:
    """E[clip(round(centre + z), 1, 5)] for z ~ N(0, total sd): the population MOS of the simulation."""
    sd = np.sqrt(LISTENER_SD**2 + UTTERANCE_SD**2 + NOISE_SD**2)
    edges = np.array([-np.inf, 1.5, 2.5, 3.5, 4.5, np.inf])
    return float(np.diff(stats.norm.cdf((edges - centre) / sd)) @ np.arange(1, 6))


def simulate(rng, listeners=12, utterances=8) -> pd.DataFrame:
    """Every listener rates every (system, utterance): a harsh or lenient listener shifts all their votes."""
    bias, item = rng.normal(0, LISTENER_SD, listeners), rng.normal(0, UTTERANCE_SD, utterances)
    frames = []
    for system, centre in TRUE_CENTRES.items():
        latent = centre + bias[:, None] + item[None, :] + rng.normal(0, NOISE_SD, (listeners, utterances))
        score = np.clip(np.round(latent), 1, 5).astype(int)
        l_idx, u_idx = np.meshgrid(range(listeners), range(utterances), indexing="ij")
        frames.append(
            pd.DataFrame(
                {
                    "listener": [f"L{i}" for i in l_idx.ravel()],
                    "stimulus": [f"{system}-{j}" for j in u_idx.ravel()],
                    "system": system,
                    "utterance": [f"u{j}" for j in u_idx.ravel()],
                    "score": score.ravel(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_bootstrap_interval_covers_the_true_mos_at_about_the_nominal_rate():
    rng = np.random.default_rng(2026)
    truth = {system: true_mos(centre) for system, centre in TRUE_CENTRES.items()}
    simulations, covered_boot, covered_t = 150, 0, 0
    for i in range(simulations):
        table = mos_table(simulate(rng), resamples=200, seed=i).set_index("system")
        for system, value in truth.items():
            covered_boot += table.loc[system, "boot_ci_low"] <= value <= table.loc[system, "boot_ci_high"]
            covered_t += table.loc[system, "t_ci_low"] <= value <= table.loc[system, "t_ci_high"]
    boot, plain = covered_boot / (simulations * 3), covered_t / (simulations * 3)
    print(f"coverage of 95 % intervals: bootstrap {boot:.3f}, t over votes {plain:.3f}")
    assert 0.88 <= boot <= 0.995
    # Listener bias makes votes correlated: the plain t-interval is far too narrow (why the bootstrap exists).
    assert plain < 0.8 < boot


def test_without_clustering_both_intervals_are_about_right():
    rng = np.random.default_rng(7)
    covered_boot = covered_t = 0
    for i in range(100):
        votes = simulate(rng)
        votes["score"] = rng.integers(2, 5, len(votes))  # independent votes, uniform on 2..4: true MOS 3
        table = mos_table(votes, resamples=200, seed=i).set_index("system")
        covered_boot += int(((table["boot_ci_low"] <= 3) & (3 <= table["boot_ci_high"])).sum())
        covered_t += int(((table["t_ci_low"] <= 3) & (3 <= table["t_ci_high"])).sum())
    assert 0.88 <= covered_t / 300 <= 0.99
    assert 0.88 <= covered_boot / 300 <= 1.0
