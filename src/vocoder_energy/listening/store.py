"""The ratings store: SQLite in WAL mode, one transaction per rating, committed before the reply.

Raters, their stimulus order and their ratings live in one database file beside nothing else of the
test. A rating is keyed by (participant, stimulus): sending it again is harmless, sending a different
score for it is refused, so the first answer stands. Killing the server loses nothing committed.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import secrets
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from vocoder_energy.listening.gold import kinds
from vocoder_energy.listening.ratings import SCALE

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS raters (
    participant TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    invited INTEGER NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS assignments (
    participant TEXT NOT NULL REFERENCES raters(participant),
    position INTEGER NOT NULL,
    stimulus TEXT NOT NULL,
    fetched TEXT,
    PRIMARY KEY (participant, position),
    UNIQUE (participant, stimulus)
);
CREATE TABLE IF NOT EXISTS ratings (
    participant TEXT NOT NULL,
    stimulus TEXT NOT NULL,
    score INTEGER NOT NULL CHECK (score BETWEEN {SCALE[0]} AND {SCALE[1]}),
    created TEXT NOT NULL,
    PRIMARY KEY (participant, stimulus),
    FOREIGN KEY (participant, stimulus) REFERENCES assignments(participant, stimulus)
);
"""


class RatingError(Exception):
    """A request the store refuses; ``status`` is the HTTP status the server answers with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class State:
    participant: str
    total: int
    done: int
    current: str | None  # the next stimulus to rate; None when finished


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def token_hash(token: str) -> str:
    """Tokens are stored hashed: a copy of the database does not let anyone act as a rater."""
    return hashlib.sha256(token.encode()).hexdigest()


class Store:
    """Ratings of one test (``test`` = test.json) in the SQLite file ``path``.

    ``gold`` ({stimulus: "low" | "high"}, from the key) are the gold questions; test.json only says how
    many each rater gets, so the served directory does not tell them apart.
    """

    def __init__(self, path: str | Path, test: dict, gold: dict[str, str] | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.test_id = test["test"]
        self.seed = int(test["seed"])
        self.ratings_per_rater = int(test["ratings_per_rater"])
        self.repeats = int(test["repeats"])
        self.gold_count = int(test.get("gold", 0))
        self.gold_pools = {kind: sorted(s for s, k in (gold or {}).items() if k == kind) for kind in ("low", "high")}
        for kind in kinds(self.gold_count):
            if kinds(self.gold_count).count(kind) > len(self.gold_pools[kind]):
                raise ValueError(
                    f"the test gives each rater {self.gold_count} gold question(s) but its key lists "
                    f"{len(self.gold_pools[kind])} '{kind}' gold stimuli: wrong --key for this --test?"
                )
        self.primaries = [s["id"] for s in test["stimuli"]]
        self.repeat_of = {s["repeat"]: s["id"] for s in test["stimuli"]}
        self.repeat_id = {s["id"]: s["repeat"] for s in test["stimuli"]}
        self.stimuli = set(self.primaries) | set(self.repeat_of) | set(gold or {})
        with self.connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
            db.execute("INSERT OR IGNORE INTO meta VALUES ('test', ?)", (self.test_id,))
            stored = db.execute("SELECT value FROM meta WHERE name = 'test'").fetchone()[0]
        if stored != self.test_id:
            raise ValueError(
                f"{self.path} holds ratings of another test ({stored}, this one is {self.test_id}): "
                f"export them, then move the file away or pass another --db"
            )

    @contextlib.contextmanager
    def connect(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """A connection per operation (threads of the server never share one), closed afterwards.

        ``durable``: a commit is fsynced before the reply leaves (FULL); otherwise (NORMAL) it survives
        a killed server but not a power cut - until the next durable commit, which syncs it too.
        """
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            db.execute("PRAGMA foreign_keys=ON")
            yield db
        finally:
            db.close()

    @contextlib.contextmanager
    def transaction(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        with self.connect(durable) as db:
            self._begin(db)
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @staticmethod
    def _begin(db: sqlite3.Connection, patience: float = 30.0) -> None:
        """Take the write lock (one writer at a time), retrying every few ms: SQLite's own busy handler
        sleeps up to 100 ms between tries, which under load made the latency tail seconds long."""
        db.execute("PRAGMA busy_timeout=0")
        deadline = time.monotonic() + patience
        while True:
            try:
                db.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as err:
                if ("locked" not in str(err) and "busy" not in str(err)) or time.monotonic() > deadline:
                    raise
                time.sleep(random.uniform(0.0005, 0.003))
        db.execute(f"PRAGMA busy_timeout={int(patience * 1000)}")

    # --- raters -------------------------------------------------------------------------------------

    def join(self, invitation: str | None = None) -> tuple[str, str]:
        """A rater's (participant ID, token): a new anonymous one, or the invited one (again on return)."""
        token = invitation if invitation is not None else secrets.token_urlsafe(24)
        with self.transaction() as db:
            row = db.execute("SELECT participant FROM raters WHERE token_hash = ?", (token_hash(token),)).fetchone()
            if row:
                return row[0], token
            participant = "P-" + secrets.token_hex(4).upper()
            db.execute(
                "INSERT INTO raters VALUES (?, ?, ?, ?)",
                (participant, token_hash(token), invitation is not None, now()),
            )
            order = self._draw(db, participant)
            db.executemany(
                "INSERT INTO assignments (participant, position, stimulus) VALUES (?, ?, ?)",
                [(participant, position, stimulus) for position, stimulus in enumerate(order)],
            )
        return participant, token

    def _draw(self, db: sqlite3.Connection, participant: str) -> list[str]:
        """The rater's stimuli: the least-assigned so far (a balanced design), in a random order, plus
        ``repeats`` of them again under their second ID, each after its first presentation, and the gold
        questions (also the least-assigned of their kind) at random places."""
        rng = random.Random(f"{self.seed}:{participant}")
        counts = Counter(dict(db.execute("SELECT stimulus, COUNT(*) FROM assignments GROUP BY stimulus").fetchall()))
        ranked = sorted(self.primaries, key=lambda s: (counts[s], rng.random()))
        chosen = ranked[: self.ratings_per_rater]
        order = chosen + [self.repeat_id[s] for s in rng.sample(chosen, self.repeats)]
        rng.shuffle(order)
        for position, stimulus in enumerate(order):
            if stimulus in self.repeat_of:
                first = order.index(self.repeat_of[stimulus])
                if first > position:
                    order[first], order[position] = order[position], order[first]
        gold_kinds = kinds(self.gold_count)
        for kind in ("low", "high"):
            pool = sorted(self.gold_pools[kind], key=lambda s: (counts[s], rng.random()))
            for stimulus in pool[: gold_kinds.count(kind)]:
                order.insert(rng.randint(0, len(order)), stimulus)
        return order

    def participant(self, token: str) -> str | None:
        with self.connect() as db:
            row = db.execute("SELECT participant FROM raters WHERE token_hash = ?", (token_hash(token),)).fetchone()
        return row[0] if row else None

    def state(self, participant: str) -> State:
        with self.connect() as db:
            total = db.execute("SELECT COUNT(*) FROM assignments WHERE participant = ?", (participant,)).fetchone()[0]
            done = db.execute("SELECT COUNT(*) FROM ratings WHERE participant = ?", (participant,)).fetchone()[0]
            row = db.execute(
                "SELECT a.stimulus FROM assignments a LEFT JOIN ratings r "
                "ON r.participant = a.participant AND r.stimulus = a.stimulus "
                "WHERE a.participant = ? AND r.score IS NULL ORDER BY a.position LIMIT 1",
                (participant,),
            ).fetchone()
        return State(participant, total, done, row[0] if row else None)

    # --- stimuli and ratings ------------------------------------------------------------------------

    def check_assigned(self, participant: str, stimulus: str) -> None:
        if stimulus not in self.stimuli:
            raise RatingError(404, "unknown stimulus: it is not part of this test")
        with self.connect() as db:
            row = db.execute(
                "SELECT 1 FROM assignments WHERE participant = ? AND stimulus = ?", (participant, stimulus)
            ).fetchone()
        if not row:
            raise RatingError(403, "this stimulus is not in your list")

    def mark_fetched(self, participant: str, stimulus: str) -> None:
        """Record that the rater loaded the clip (a rating needs it); the first time counts. Not fsynced on
        its own (a page reload fetches the clip again); the rating's commit syncs it."""
        self.check_assigned(participant, stimulus)
        with self.transaction(durable=False) as db:
            db.execute(
                "UPDATE assignments SET fetched = ? WHERE participant = ? AND stimulus = ? AND fetched IS NULL",
                (now(), participant, stimulus),
            )

    def rate(self, participant: str, stimulus: str, score: int) -> bool:
        """Store one rating; True if new, False if the same rating was already there (a resubmission)."""
        low, high = SCALE
        if isinstance(score, bool) or not isinstance(score, int) or not low <= score <= high:
            raise RatingError(422, f"score must be an integer from {low} to {high}")
        self.check_assigned(participant, stimulus)
        with self.transaction() as db:
            fetched = db.execute(
                "SELECT fetched FROM assignments WHERE participant = ? AND stimulus = ?", (participant, stimulus)
            ).fetchone()[0]
            if fetched is None:
                raise RatingError(409, "play the clip before rating it")
            row = db.execute(
                "SELECT score FROM ratings WHERE participant = ? AND stimulus = ?", (participant, stimulus)
            ).fetchone()
            if row is not None:
                if row[0] != score:
                    raise RatingError(409, f"this clip is already rated ({row[0]}); a rating cannot be changed")
                return False
            db.execute("INSERT INTO ratings VALUES (?, ?, ?, ?)", (participant, stimulus, score, now()))
        return True

    # --- researcher's views -------------------------------------------------------------------------

    def ratings(self) -> list[tuple[str, str, int, str]]:
        """Every rating as (participant, stimulus, score, timestamp), in the order they arrived."""
        with self.connect() as db:
            return db.execute(
                "SELECT participant, stimulus, score, created FROM ratings ORDER BY created, participant"
            ).fetchall()

    def rater_progress(self) -> list[tuple[str, int, int, str]]:
        """(participant, rated, assigned, joined) per rater."""
        with self.connect() as db:
            return db.execute(
                "SELECT r.participant, (SELECT COUNT(*) FROM ratings x WHERE x.participant = r.participant), "
                "(SELECT COUNT(*) FROM assignments a WHERE a.participant = r.participant), r.created "
                "FROM raters r ORDER BY r.created"
            ).fetchall()

    def assigned_counts(self) -> dict[str, int]:
        with self.connect() as db:
            return dict(db.execute("SELECT stimulus, COUNT(*) FROM assignments GROUP BY stimulus").fetchall())
