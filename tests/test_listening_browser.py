"""A rater's whole listening test in a real headless Chromium (Debian's), through Playwright: instructions,
play, rate, reload mid-way, finish; then the export has every rating exactly once, gold questions too."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import pytest
from listening_support import ADMIN_TOKEN, Server, cli, make_test

from vocoder_energy.listening.stimuli import Design, read_key

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without the background-networking flags Chromium's own connections fail on a closed network.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}  # an iPhone 12-sized viewport


def launch(playwright, user_data: Path, viewport: dict, **options):
    return playwright.chromium.launch_persistent_context(
        str(user_data), executable_path=CHROMIUM, headless=True, args=FLAGS, viewport=viewport, **options
    )


@pytest.fixture(scope="module")
def playwright():
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip package playwright is not installed")
    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium chromium-driver)")
    with sync_api.sync_playwright() as p:
        try:
            p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS).close()
        except Exception as err:  # e.g. a Chromium too old for this Playwright
            pytest.skip(f"Chromium at {CHROMIUM} does not start under Playwright: {err}")
        yield p


def rate_current(page, score: int, screenshot: Path | None = None) -> str:
    """Play the clip to its end, choose ``score``, press Next; returns the counter text it showed."""
    counter = page.inner_text("#counter")
    page.wait_for_selector("#play:not([disabled])")
    # No rating before playing: the score buttons and Next are disabled.
    assert page.is_disabled(f"input[name=score][value='{score}']") and page.is_disabled("#next")
    page.evaluate(
        "() => { window.__played = false; document.getElementById('audio')"
        ".addEventListener('playing', () => { window.__played = true; }, { once: true }); }"
    )
    page.click("#play")
    page.wait_for_function("() => window.__played === true")  # the clip really plays...
    page.wait_for_selector("#scores:not([disabled])")  # ...and to its `ended` event, which unlocks the rating
    page.check(f"input[name=score][value='{score}']")
    if screenshot:
        page.screenshot(path=screenshot, full_page=True)
    page.click("#next")
    page.wait_for_function(
        "(before) => document.getElementById('counter').innerText !== before"
        " || !document.getElementById('done').hidden",
        arg=counter,
    )
    return counter


@pytest.mark.slow
def test_a_rater_goes_through_the_whole_test_in_chromium(playwright, tmp_path):
    test_dir, key_path, _ = make_test(
        tmp_path, Design(utterances=2, ratings_per_rater=5, repeats=1, seed=2), seconds=0.5
    )
    db, out = tmp_path / "data" / "ratings.sqlite", tmp_path / "data" / "ratings.csv"
    shots = Path(os.environ.get("LISTENING_SCREENSHOTS", tmp_path / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    with Server(test_dir, key_path, db) as server:
        context = launch(playwright, tmp_path / "profile", DESKTOP)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.on(
            "response", lambda response: response.status >= 400 and errors.append(f"{response.status} {response.url}")
        )
        page.goto(server.url + "/")
        intro = page.inner_text("#intro")  # the instructions first, with the paper's scale
        assert page.is_visible("#intro") and "1 (bad)" in intro and "5 (excellent" in intro
        page.screenshot(path=shots / "intro-desktop.png", full_page=True)
        page.click("#start")
        page.wait_for_selector("#rating:not([hidden])")
        participant = page.inner_text("#participant").split()[-1]
        assert page.inner_text("#counter") == "Clip 1 of 8"  # 5 clips, 1 repeat, 2 gold questions
        page.screenshot(path=shots / "rating-desktop.png", full_page=True)

        scores = {}
        scores[rate_current(page, 4)] = 4
        scores[rate_current(page, 2)] = 2
        page.reload()  # mid-way: the page picks up where the rater stopped
        page.wait_for_selector("#rating:not([hidden])")
        assert page.inner_text("#counter") == "Clip 3 of 8"
        assert page.inner_text("#participant").endswith(participant)
        page.set_viewport_size(PHONE)
        page.wait_for_selector("#play:not([disabled])")
        page.screenshot(path=shots / "rating-phone.png", full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling
        scores[rate_current(page, 5, screenshot=shots / "rated-phone.png")] = 5
        for score in (3, 1, 4, 2, 5):
            scores[rate_current(page, score)] = score
        page.wait_for_selector("#done:not([hidden])")
        assert "Thank you" in page.inner_text("#done")
        page.screenshot(path=shots / "done-phone.png", full_page=True)
        page.reload()  # a finished rater coming back sees the end, not a new test
        page.wait_for_selector("#done:not([hidden])")
        assert errors == []

        admin = context.new_page()  # the researcher's progress view, with the admin token
        admin.goto(server.url + "/admin")
        admin.fill("#token", "wrong-token")
        admin.click("button[type=submit]")
        admin.wait_for_selector("#message:not([hidden])")
        assert "admin token" in admin.inner_text("#message") and admin.is_hidden("#report")
        admin.fill("#token", ADMIN_TOKEN)
        admin.click("button[type=submit]")
        admin.wait_for_selector("#report:not([hidden])")
        admin.screenshot(path=shots / "admin-desktop.png", full_page=True)
        assert participant in admin.inner_text("#raters") and "8" in admin.inner_text("#raters")
        assert "ground_truth" in admin.inner_text("#systems")
        context.close()

    result = cli("export", "--test", str(test_dir), "--key", str(key_path), "--db", str(db), "--out", str(out))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(open(out)))
    pairs = list(csv.DictReader(open(out.with_name("consistency.csv"))))
    gold = list(csv.DictReader(open(out.with_name("gold.csv"))))
    (rater,) = csv.DictReader(open(out.with_name("raters.csv")))
    assert len(rows) == 5 + 1 and len(pairs) == 1 and len(gold) == 2  # the anchor's rating is a row too
    assert {r["listener"] for r in rows} == {participant}
    assert len({r["stimulus"] for r in rows}) == 6  # each exactly once
    key = read_key(key_path)
    assert all(key[r["stimulus"]]["system"] == r["system"] for r in rows)
    assert sorted(r["system"] for r in rows if key[r["stimulus"]]["gold"]) == ["anchor"]
    assert sorted(g["kind"] for g in gold) == ["high", "low"]
    high = [int(g["score"]) for g in gold if g["kind"] == "high"]  # only in gold.csv, not a vote
    exported = sorted([int(r["score"]) for r in rows] + [int(pairs[0]["repeat_score"])] + high)
    assert exported == sorted(scores.values()) and len(scores) == 8
    failed = sum(g["failed"] == "True" for g in gold)
    assert (rater["listener"], rater["gold_answered"], rater["gold_failed"]) == (participant, "2", str(failed))
