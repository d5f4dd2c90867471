"""The listening test: stimuli and gold questions, the ratings store, the server's refusals and leaks,
screening and MOS, durability and load."""

from __future__ import annotations

import csv
import json
import random
import re
import sqlite3
import struct
import threading
import time

import httpx
import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from listening_support import ADMIN_TOKEN, SAMPLE_RATE, SYSTEMS, Server, cli, make_generated, make_test
from starlette.testclient import TestClient

from vocoder_energy.listening.cli import bind_warning
from vocoder_energy.listening.gold import ANCHOR, ANCHOR_CUTOFF_HZ, ANCHOR_SNR_DB, band_limit
from vocoder_energy.listening.mos import mos_table, read_ratings, read_screening, screen_raters
from vocoder_energy.listening.progress import export_ratings
from vocoder_energy.listening.ratings import GROUND_TRUTH, SCALE
from vocoder_energy.listening.server import STATIC, create_app
from vocoder_energy.listening.stimuli import Design, build_test, read_key

ALL_SYSTEMS = [*SYSTEMS, GROUND_TRUTH]


@pytest.fixture
def built(tmp_path):
    test_dir, key, manifest = make_test(tmp_path)
    return test_dir, key, manifest, tmp_path / "data" / "ratings.sqlite"


@pytest.fixture
def client(built):
    test_dir, key, _, db = built
    with TestClient(create_app(test_dir, key, db, admin_token=ADMIN_TOKEN)) as client:
        yield client


def join(client, **body):
    response = client.post("/api/join", json=body)
    assert response.status_code == 201, response.text
    data = response.json()
    return data["participant"], {"Authorization": f"Bearer {data['token']}"}


def rate(client, headers, participant, stimulus, score):
    return client.post(
        "/api/ratings", headers=headers, json={"participant": participant, "stimulus": stimulus, "score": score}
    )


def riff_chunks(data: bytes) -> list[bytes]:
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    chunks, offset = [], 12
    while offset + 8 <= len(data):
        name, size = data[offset : offset + 4], struct.unpack("<I", data[offset + 4 : offset + 8])[0]
        chunks.append(name)
        offset += 8 + size + (size & 1)
    return chunks


# --- stimuli -----------------------------------------------------------------------------------------


def test_stimuli_cover_the_same_utterances_for_every_system_at_one_loudness(built):
    test_dir, key_path, manifest, _ = built
    key = read_key(key_path)
    firsts = [row for row in key.values() if not row["repeat_of"] and not row["gold"]]
    by_system = {s: sorted(r["utterance"] for r in firsts if r["system"] == s) for s in ALL_SYSTEMS}
    assert len(by_system[GROUND_TRUTH]) == 3 and all(u == by_system[GROUND_TRUTH] for u in by_system.values())
    assert {s["id"] for s in manifest["stimuli"]} == {r["stimulus"] for r in firsts}
    meter = pyloudnorm.Meter(SAMPLE_RATE)
    lengths = {}
    for stimulus, row in key.items():
        audio, rate_ = sf.read(test_dir / "audio" / f"{stimulus}.wav")
        assert rate_ == SAMPLE_RATE
        assert meter.integrated_loudness(audio) == pytest.approx(-23.0, abs=0.2), row
        lengths.setdefault(row["utterance"], set()).add(len(audio))
        if row["repeat_of"]:  # the repeat is the same clip under another ID
            first = sf.read(test_dir / "audio" / f"{row['repeat_of']}.wav")[0]
            assert np.array_equal(audio, first) and key[row["repeat_of"]]["system"] == row["system"]
    # WaveGrad's longer clips are trimmed: duration must not tell systems apart (nor gold questions).
    assert all(len(sizes) == 1 for sizes in lengths.values()), lengths


def high_band_fraction(audio: np.ndarray, cutoff_hz: float) -> float:
    """The share of ``audio``'s energy above ``cutoff_hz``."""
    power = np.abs(np.fft.rfft(audio)) ** 2
    return float(power[np.fft.rfftfreq(len(audio), 1 / SAMPLE_RATE) > cutoff_hz].sum() / power.sum())


def test_gold_questions_are_a_degraded_anchor_and_the_ground_truth_recorded_only_in_the_key(built):
    test_dir, key_path, manifest, _ = built
    key = read_key(key_path)
    gold = {s: row for s, row in key.items() if row["gold"]}
    truth = {
        r["utterance"]: s for s, r in key.items() if r["system"] == GROUND_TRUTH and not (r["repeat_of"] or r["gold"])
    }
    utterances = sorted(truth)
    # One gold clip of each kind per utterance: the anchor (its own system) and the ground truth again.
    for kind, system, expected in (("low", ANCHOR, "1-2"), ("high", GROUND_TRUTH, "4-5")):
        rows = [r for r in gold.values() if r["gold"] == kind]
        assert sorted(r["utterance"] for r in rows) == utterances, kind
        assert all((r["system"], r["expected"], r["repeat_of"]) == (system, expected, "") for r in rows), rows
    assert manifest["gold"] == 2 and not any(s in (test_dir / "test.json").read_text() for s in gold)

    def wav(stimulus):
        return sf.read(test_dir / "audio" / f"{stimulus}.wav")[0]

    for stimulus, row in gold.items():
        audio, reference = wav(stimulus), wav(truth[row["utterance"]])
        if row["gold"] == "high":  # the ground-truth clip itself, under another ID
            assert np.array_equal(audio, reference)
            continue
        # The anchor: nothing above the cut-off (the ground truth has plenty there)...
        assert high_band_fraction(audio, ANCHOR_CUTOFF_HZ + 50) < 1e-6
        assert high_band_fraction(reference, ANCHOR_CUTOFF_HZ + 50) > 1e-3
        # ...and, below it, noise at the configured SNR: what the band-limited ground truth does not explain.
        gains = float(row["gain_db"]) - float(key[truth[row["utterance"]]]["gain_db"])  # each clip's loudness gain
        speech = band_limit(reference, SAMPLE_RATE, ANCHOR_CUTOFF_HZ) * 10 ** (gains / 20)
        noise = audio - speech
        assert 10 * np.log10((speech @ speech) / (noise @ noise)) == pytest.approx(ANCHOR_SNR_DB, abs=0.1)


def test_without_gold_questions_none_are_built_or_drawn(tmp_path):
    test_dir, key_path, manifest = make_test(
        tmp_path, Design(utterances=2, ratings_per_rater=4, repeats=1, seed=0, gold=0)
    )
    assert not any(row["gold"] for row in read_key(key_path).values()) and manifest["gold"] == 0
    with TestClient(create_app(test_dir, key_path, tmp_path / "db.sqlite", admin_token=ADMIN_TOKEN)) as client:
        _, headers = join(client)
        assert client.get("/api/state", headers=headers).json()["total"] == 4 + 1


def test_nothing_served_names_a_system_and_the_key_lies_outside(built):
    test_dir, key_path, _, _ = built
    assert not key_path.resolve().is_relative_to(test_dir.resolve())
    served = [p for p in test_dir.rglob("*") if p.is_file()]
    for path in served:
        data = path.read_bytes()
        for name in [*ALL_SYSTEMS, "melgan", "hifigan", "wavegrad", "LJ050"]:
            assert name.encode() not in data and name not in path.name, (path, name)
        if path.suffix == ".wav":
            assert riff_chunks(data) == [b"fmt ", b"data"], path  # no LIST/INFO metadata


def test_too_many_utterances_is_refused_naming_the_config_keys(tmp_path):
    generated = make_generated(tmp_path / "generated", utterances=2)
    with pytest.raises(ValueError, match=r"listening\.utterances is 5 .* evaluation\.test_clips"):
        build_test(generated, tmp_path / "test", tmp_path / "key.csv", Design(5, 4, 1, 0), SAMPLE_RATE)
    with pytest.raises(ValueError, match=r"listening\.ratings_per_rater is 99"):
        build_test(generated, tmp_path / "test", tmp_path / "key.csv", Design(2, 99, 1, 0), SAMPLE_RATE)
    with pytest.raises(ValueError, match=r"listening\.gold is 5: .* 3 distinct utterance\(s\)"):
        build_test(generated, tmp_path / "test", tmp_path / "key.csv", Design(2, 4, 1, 0, gold=5), SAMPLE_RATE)
    with pytest.raises(ValueError, match="must not lie inside the served directory"):
        build_test(generated, tmp_path / "test", tmp_path / "test" / "key.csv", Design(2, 4, 1, 0), SAMPLE_RATE)


# --- a rater's way through, and the design --------------------------------------------------------------


def test_a_rater_goes_through_in_the_servers_order_and_resumes(client, built):
    _, key_path, _, db = built
    key = read_key(key_path)
    participant, headers = join(client)
    state = client.get("/api/state", headers=headers).json()
    assert (state["total"], state["done"]) == (6 + 2 + 2, 0)  # ratings, repeats, gold questions
    seen = []
    while state["current"] is not None:
        stimulus = state["current"]
        assert client.get(f"/api/audio/{stimulus}", headers=headers).headers["content-type"] == "audio/wav"
        response = rate(client, headers, participant, stimulus, 1 + len(seen) % 5)
        assert response.status_code == 201, response.text
        seen.append(stimulus)
        state = client.get("/api/state", headers=headers).json()  # as a reload would ask
        assert state["done"] == len(seen)
    repeats = [s for s in seen if key[s]["repeat_of"]]
    assert len(repeats) == 2 and len(set(seen)) == 10
    assert sorted(key[s]["gold"] for s in seen if key[s]["gold"]) == ["high", "low"]
    for repeat in repeats:  # each repeat comes after its first presentation
        assert seen.index(key[repeat]["repeat_of"]) < seen.index(repeat)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT COUNT(*) FROM ratings").fetchone()[0] == 10


def test_raters_get_a_balanced_share_of_every_stimulus(client, built):
    _, key_path, manifest, _ = built
    for _ in range(8):  # 8 raters x 6 = 48 = 4 votes for each of the 12 stimuli
        join(client)
    counts = client.app.state.store.assigned_counts()
    primaries = [s["id"] for s in manifest["stimuli"]]
    assert sorted(counts.get(s, 0) for s in primaries) == [4] * 12
    key = read_key(key_path)
    for kind in ("low", "high"):  # 8 raters x 1 over 3 gold clips of each kind
        assert sorted(counts.get(s, 0) for s, row in key.items() if row["gold"] == kind) == [2, 3, 3]


def test_invitations_admit_only_listed_tokens_and_return_the_same_rater(built):
    test_dir, key, _, db = built
    app = create_app(test_dir, key, db, admin_token=ADMIN_TOKEN, invitations={"invite-alice-0001", "invite-bob-00002"})
    with TestClient(app) as client:
        assert client.post("/api/join", json={}).status_code == 403
        assert client.post("/api/join", json={"invitation": "invite-eve-000003"}).status_code == 403
        first, _ = join(client, invitation="invite-alice-0001")
        again, _ = join(client, invitation="invite-alice-0001")
        other, _ = join(client, invitation="invite-bob-00002")
        assert first == again != other


# --- screening: gold questions --------------------------------------------------------------------------


def rate_all(client, key, score_of) -> str:
    """A rater who rates each clip ``score_of(its key row)``; returns the participant ID."""
    participant, headers = join(client)
    state = client.get("/api/state", headers=headers).json()
    while state["current"]:
        stimulus = state["current"]
        client.get(f"/api/audio/{stimulus}", headers=headers)
        state = rate(client, headers, participant, stimulus, score_of(key[stimulus])).json()
    return participant


def test_a_rater_who_rates_the_anchor_5_is_flagged_and_left_out_of_the_mos(client, built, tmp_path):
    key = read_key(built[1])
    careless = rate_all(client, key, lambda row: 5)
    careful = [rate_all(client, key, lambda row: 1 if row["system"] == ANCHOR else 4) for _ in range(2)]
    out = tmp_path / "export" / "ratings.csv"
    assert export_ratings(client.app.state.store, key, out) == (3 * 7, 3 * 2, 3 * 2, 3)
    raters = {row["listener"]: row for row in csv.DictReader(open(out.with_name("raters.csv")))}
    assert (raters[careless]["gold_answered"], raters[careless]["gold_failed"]) == ("2", "1")
    assert [raters[p]["gold_failed"] for p in careful] == ["0", "0"]
    gold = [
        (g["system"], g["failed"]) for g in csv.DictReader(open(out.with_name("gold.csv"))) if g["listener"] == careless
    ]
    assert sorted(gold) == [(ANCHOR, "True"), (GROUND_TRUTH, "False")]

    utterances = {row["utterance"] for row in key.values()}
    ratings = read_ratings(out, SYSTEMS, utterances)  # the anchor is a known system
    assert set(ratings.loc[ratings["system"] == ANCHOR, "listener"]) == {careless, *careful}
    screening = read_screening(out.with_name("raters.csv"))
    kept, message = screen_raters(ratings, screening, max_failures=0)
    assert set(kept["listener"]) == set(careful) and "1 of 3 rater(s) excluded from MOS" in message
    assert careless in message and "max_gold_failures=0" in message
    table = mos_table(kept, resamples=100).set_index("system")
    assert ANCHOR not in table.index and set(table.index) <= set(ALL_SYSTEMS) and (table["mos"] == 4).all()
    kept, message = screen_raters(ratings, screening, max_failures=1)  # one failure allowed: all stay
    assert set(kept["listener"]) == {careless, *careful} and "0 of 3" in message


# --- refusals: each gets a 4xx with a message and changes nothing ------------------------------------------


def stored(db):
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT participant, stimulus, score, created FROM ratings ORDER BY 1, 2").fetchall()


def test_resubmitting_a_rating_is_idempotent_and_a_change_is_refused(client, built):
    db = built[3]
    participant, headers = join(client)
    stimulus = client.get("/api/state", headers=headers).json()["current"]
    client.get(f"/api/audio/{stimulus}", headers=headers)
    assert rate(client, headers, participant, stimulus, 4).status_code == 201
    before = stored(db)
    again = rate(client, headers, participant, stimulus, 4)
    assert again.status_code == 200 and again.json()["new"] is False
    changed = rate(client, headers, participant, stimulus, 2)
    assert changed.status_code == 409 and "already rated" in changed.json()["error"]
    assert stored(db) == before and len(before) == 1 and before[0][2] == 4


@pytest.mark.parametrize("score", [0, 6, -1, "3", 3.0, 2.5, True, None, [3]])
def test_a_bad_score_is_refused(client, built, score):
    participant, headers = join(client)
    stimulus = client.get("/api/state", headers=headers).json()["current"]
    client.get(f"/api/audio/{stimulus}", headers=headers)
    response = rate(client, headers, participant, stimulus, score)
    assert response.status_code == 422 and "integer from 1 to 5" in response.json()["error"]
    assert stored(built[3]) == []


def test_the_rating_page_offers_exactly_the_score_scale():
    """The page's buttons are static HTML: they must be the scale the store and MOS accept (1 to 5)."""
    page = (STATIC / "index.html").read_text()
    scores = sorted(int(v) for v in re.findall(r'name="score" value="(\d+)"', page))
    # ITU-T P.800's ACR scale, as the page's labels (Bad ... Excellent) say.
    assert scores == list(range(SCALE[0], SCALE[1] + 1)) == [1, 2, 3, 4, 5]


def test_refusals_of_tampering(client, built):
    _, key_path, _, db = built
    key = read_key(key_path)
    alice, alice_headers = join(client)
    bob, bob_headers = join(client)
    alice_list = {
        r[0] for r in sqlite3.connect(db).execute("SELECT stimulus FROM assignments WHERE participant=?", (alice,))
    }
    not_alices = next(s for s in key if s not in alice_list)
    own = client.get("/api/state", headers=alice_headers).json()["current"]
    cases = [
        # (request, status, words in the message)
        (lambda: rate(client, alice_headers, alice, own, 3), 409, "play the clip"),
        (lambda: rate(client, alice_headers, alice, "NoSuchStimulus01", 3), 404, "unknown stimulus"),
        (lambda: client.get("/api/audio/NoSuchStimulus01", headers=alice_headers), 404, "unknown stimulus"),
        (lambda: client.get(f"/api/audio/{not_alices}", headers=alice_headers), 403, "not in your list"),
        (lambda: rate(client, alice_headers, alice, not_alices, 3), 403, "not in your list"),
        (lambda: rate(client, bob_headers, alice, own, 3), 403, "another participant"),
        (lambda: rate(client, {}, alice, own, 3), 401, "no rater token"),
        (lambda: rate(client, {"Authorization": "Bearer " + "x" * 32}, alice, own, 3), 401, "unknown rater token"),
        (lambda: client.get("/api/state"), 401, "no rater token"),
        (lambda: client.get("/api/admin/progress", headers=alice_headers), 401, "admin token"),
        (
            lambda: client.post(
                "/api/ratings", headers=alice_headers | {"Content-Type": "application/json"}, content=b"{not json"
            ),
            400,
            "not valid JSON",
        ),
        (lambda: client.post("/api/ratings", headers=alice_headers, json=[1, 2]), 400, "JSON object"),
        (
            lambda: client.post(
                "/api/ratings", headers=alice_headers, json={"participant": alice, "stimulus": own, "score": 3, "x": 1}
            ),
            400,
            "unexpected",
        ),
        (
            lambda: client.post("/api/ratings", headers=alice_headers, content=b'{"a":"' + b"x" * 5000 + b'"}'),
            413,
            "larger than",
        ),
        (lambda: client.post("/api/join", content=b" " * 100_000), 413, "larger than"),
    ]
    for request, status, words in cases:
        before = stored(db)
        response = request()
        assert response.status_code == status, (words, response.status_code, response.text)
        assert words in response.json()["error"], response.text
        assert stored(db) == before == []


def test_a_chunked_oversized_body_is_refused(client, built):
    participant, headers = join(client)

    def chunks():
        for _ in range(100):
            yield b"x" * 1000

    response = client.post("/api/ratings", headers=headers, content=chunks())
    assert response.status_code == 413 and stored(built[3]) == []


@pytest.mark.parametrize(
    "path",
    [
        "/static/../server.py",
        "/static/%2e%2e/server.py",
        "/static/..%2fstore.py",
        "/api/audio/..%2f..%2fprivate%2fkey.csv",
        "/api/audio/../test.json",
        "/api/audio/%2e%2e%2ftest.json",
        "/test.json",
        "/audio/",
        "/static/../../../../etc/passwd",
        "/api/audio/..%5c..%5ctest.json",
    ],
)
def test_path_traversal_is_refused(client, path):
    participant, headers = join(client)
    response = client.get(path, headers=headers)
    assert 400 <= response.status_code < 500, (path, response.status_code)
    assert b"stimulus" not in response.content.lower() or b"error" in response.content
    for secret in [b"import ", b"root:", b"repeat_of", b'"stimuli"']:
        assert secret not in response.content, (path, secret)


def test_no_response_reveals_a_system_name(client, built):
    """Everything a browser can receive - pages, scripts, API answers, audio and headers - over a whole
    rater's session, searched for the system names (and the utterance IDs); the gold questions come
    exactly as the other clips do."""
    secrets = [*ALL_SYSTEMS, ANCHOR, "melgan", "hifigan", "wavegrad", "ground truth", "LJ050"]
    responses = [client.get(p) for p in ["/", "/admin", "/static/app.js", "/static/style.css", "/static/admin.js"]]
    participant, headers = join(client)
    responses.append(client.post("/api/join", json={}))
    state = client.get("/api/state", headers=headers)
    audio = {}
    while state.json()["current"]:
        stimulus = state.json()["current"]
        audio[stimulus] = client.get(f"/api/audio/{stimulus}", headers=headers)
        responses += [state, audio[stimulus]]
        state = rate(client, headers, participant, stimulus, 3)
        assert set(state.json()) == {"stored", "new", "total", "done", "current"}
    responses.append(state)
    key = read_key(built[1])
    gold = [s for s in audio if key[s]["gold"]]
    assert len(gold) == 2 and all(len(s) == len(next(iter(audio))) for s in audio)  # IDs of one form
    for stimulus in gold:  # the same headers as every ordinary clip; the same length as those of its utterance
        ordinary = [s for s in audio if not key[s]["gold"]]
        assert ordinary
        for other in ordinary:
            assert audio[stimulus].headers.keys() == audio[other].headers.keys()
            if key[other]["utterance"] == key[stimulus]["utterance"]:
                assert audio[stimulus].headers["content-length"] == audio[other].headers["content-length"]
    for response in responses:
        assert response.status_code < 300, response.text
        head = "\n".join(f"{k}: {v}" for k, v in response.headers.items()).lower()
        assert "content-disposition" not in head and "last-modified" not in head
        for secret in secrets:
            assert secret.lower().encode() not in response.content.lower(), (response.url, secret)
            assert secret.lower() not in head and secret.lower() not in str(response.url).lower()
    # ... while the admin view, with its token, does name them.
    admin = client.get("/api/admin/progress", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert admin.status_code == 200
    assert {row["system"] for row in admin.json()["systems"]} == {*ALL_SYSTEMS, ANCHOR}
    assert admin.json()["raters"][0]["rated"] == 10 and admin.json()["repeat_pairs"] == 2
    assert admin.json()["raters"][0]["gold_answered"] == 2


def test_a_database_of_another_test_is_refused(built, tmp_path):
    test_dir, key, _, db = built
    create_app(test_dir, key, db, admin_token=ADMIN_TOKEN)
    other_dir, other_key, _ = make_test(tmp_path / "other")
    with pytest.raises(ValueError, match="holds ratings of another test"):
        create_app(other_dir, other_key, db, admin_token=ADMIN_TOKEN)


# --- the real server: export, durability under SIGKILL, load ------------------------------------------


def run_rater(url: str, stats: dict, lock: threading.Lock, resubmit: bool) -> None:
    """One simulated rater over HTTP: join, then fetch and rate each clip; records every acknowledged rating."""
    latencies, acknowledged, errors = [], [], []
    with httpx.Client(base_url=url, timeout=60) as http:

        def call(method, path, **kwargs):
            start = time.perf_counter()
            response = http.request(method, path, **kwargs)
            latencies.append(time.perf_counter() - start)
            if response.status_code >= 400:
                errors.append(f"{method} {path}: {response.status_code} {response.text}")
            return response

        try:
            data = call("POST", "/api/join", json={}).json()
            headers = {"Authorization": f"Bearer {data['token']}"}
            state = call("GET", "/api/state", headers=headers).json()
            for _ in range(100):  # bounded: a rater has far fewer clips
                if state["current"] is None:
                    break
                call("GET", f"/api/audio/{state['current']}", headers=headers)
                score = random.randint(1, 5)
                body = {"participant": data["participant"], "stimulus": state["current"], "score": score}
                response = call("POST", "/api/ratings", headers=headers, json=body)
                if response.status_code in (200, 201):
                    acknowledged.append((data["participant"], body["stimulus"], body["score"]))
                if resubmit:  # as a flaky network would: the same rating again
                    call("POST", "/api/ratings", headers=headers, json=body)
                state = response.json()
        except Exception as error:  # a timeout or dropped connection: reported by the test, not lost with the thread
            errors.append(f"rater stopped: {error!r}")
    with lock:
        stats["latencies"] += latencies
        stats["acknowledged"] += acknowledged
        stats["errors"] += errors


@pytest.mark.slow
def test_fifty_concurrent_raters_lose_nothing_even_when_the_server_is_killed(tmp_path, capsys):
    test_dir, key_path, _ = make_test(tmp_path, Design(utterances=4, ratings_per_rater=10, repeats=2, seed=0))
    db, out = tmp_path / "data" / "ratings.sqlite", tmp_path / "data" / "ratings.csv"
    stats, lock = {"latencies": [], "acknowledged": [], "errors": []}, threading.Lock()
    with Server(test_dir, key_path, db) as server:
        threads = [threading.Thread(target=run_rater, args=(server.url, stats, lock, i % 5 == 0)) for i in range(50)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        elapsed = time.perf_counter() - start
        assert not any(thread.is_alive() for thread in threads), "raters still running after 300 s"
        server.kill()  # SIGKILL: no shutdown handler runs
    latencies = np.array(stats["latencies"])
    with capsys.disabled():
        print(
            f"\nlistening load: 50 raters, {len(latencies)} requests in {elapsed:.1f} s = "
            f"{len(latencies) / elapsed:.0f} req/s; latency p50 {1000 * np.percentile(latencies, 50):.0f} ms, "
            f"p99 {1000 * np.percentile(latencies, 99):.0f} ms"
        )
    assert stats["errors"] == []
    assert len(stats["acknowledged"]) == 50 * (12 + 2)  # ratings, repeats, gold questions

    result = cli("export", "--test", str(test_dir), "--key", str(key_path), "--db", str(db), "--out", str(out))
    assert result.returncode == 0, result.stderr
    key = read_key(key_path)
    rows = list(csv.DictReader(open(out)))
    pairs = list(csv.DictReader(open(out.with_name("consistency.csv"))))
    gold = list(csv.DictReader(open(out.with_name("gold.csv"))))
    assert list(rows[0]) == ["listener", "stimulus", "system", "utterance", "score", "timestamp"]
    exported = {(r["listener"], r["stimulus"], int(r["score"])) for r in rows + gold}
    exported |= {(p["listener"], p["repeat"], int(p["repeat_score"])) for p in pairs}
    # The anchor's ratings are rows of ratings.csv (system `anchor`); the high gold's only in gold.csv.
    assert len(rows) == 50 * (10 + 1) and len(pairs) == 50 * 2 and len(gold) == 50 * 2
    assert exported == set(stats["acknowledged"])
    assert all(key[r["stimulus"]]["system"] == r["system"] and r["system"] in [*ALL_SYSTEMS, ANCHOR] for r in rows)
    raters = list(csv.DictReader(open(out.with_name("raters.csv"))))
    assert len(raters) == 50 and all(r["gold_answered"] == "2" and r["repeat_pairs"] == "2" for r in raters)

    status = cli("status", "--json", "--test", str(test_dir), "--key", str(key_path), "--db", str(db))
    report = json.loads(status.stdout)
    assert report["finished_raters"] == 50 and sum(s["ratings"] for s in report["systems"]) == 550


def test_binding_beyond_loopback_warns():
    assert bind_warning("127.0.0.1", 8000) is None and bind_warning("::1", 8000) is None
    assert bind_warning("localhost", 8000) is None
    for host in ("0.0.0.0", "::", "192.168.1.20", "mos.example.org"):
        assert "WARNING: binding to" in bind_warning(host, 8000)


def test_the_cli_names_what_is_missing(tmp_path):
    result = cli("serve", "--test", str(tmp_path / "nowhere"), "--port", "1")
    assert result.returncode != 0 and "no listening test here" in result.stderr and "listening_test" in result.stderr
    result = cli("export", "--db", str(tmp_path / "none.sqlite"))
    assert result.returncode != 0 and "no ratings database yet" in result.stderr


def test_serve_binds_to_loopback_by_default_and_prints_the_admin_token(built):
    test_dir, key, _, db = built
    with Server(test_dir, key, db) as server:
        server.kill()
        printed = server.process.stdout.read()
    assert f"http://127.0.0.1:{server.port}/" in printed and ADMIN_TOKEN in printed
    assert "WARNING" not in printed
