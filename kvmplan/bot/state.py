"""The bot's memory: one SQLite file (default `<outbox>/kvmplan-bot.sqlite`).

What was seen (messages keyed by Message-ID and content hash, source
cursors), what each series version is doing, and what was produced for it.
Every step that changes the outbox is bracketed by transactions here, so a
kill -9 at any instant leaves a state the next run can finish from:

    waiting ──ready──▶ analyzing ──worker ok──▶ delivering ──files written──▶ replied
       ▲                  │  │                      (outputs stored in the
       └──crash, retry────┘  └─timeout / limit──▶ limit      database first)
                             └─crashed max_attempts times──▶ failed
    waiting ──no patch ever arrived──▶ skipped

A run that finds a series in `analyzing` restarts the analysis (killing a
worker left over from a killed run); one in `delivering` rewrites its files
from the stored outputs, skipping those already there.
"""

from __future__ import annotations

import sqlite3
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SCHEMA_VERSION = "1"

STATUSES = ("waiting", "analyzing", "delivering", "replied", "limit", "failed", "skipped")
DONE = ("replied", "limit", "failed", "skipped")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cursors (source TEXT PRIMARY KEY, cursor TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (source TEXT NOT NULL, item TEXT NOT NULL,
                                  PRIMARY KEY (source, item));
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    msgid TEXT NOT NULL,
    hash TEXT NOT NULL,
    kind TEXT NOT NULL,          -- cover | patch | reply | other | too-large | conflict
    subject TEXT NOT NULL,
    date REAL,                   -- Date: header, seconds since the epoch
    seen REAL NOT NULL,          -- when the bot read it
    origin TEXT NOT NULL,
    series TEXT,                 -- series key (cover and patch only)
    idx INTEGER,                 -- k of k/M
    raw BLOB,                    -- zlib'd message (cover and patch only)
    UNIQUE (msgid, hash)
);
CREATE INDEX IF NOT EXISTS messages_msgid ON messages (msgid);
CREATE INDEX IF NOT EXISTS messages_series ON messages (series);
CREATE TABLE IF NOT EXISTS series (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    root TEXT NOT NULL,
    version INTEGER NOT NULL,
    expected INTEGER NOT NULL,
    sender TEXT NOT NULL,
    title TEXT NOT NULL,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    last_date REAL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    incomplete TEXT NOT NULL DEFAULT '',   -- missing patch numbers when reviewed incomplete
    worker INTEGER,                        -- process group of a running analysis
    name TEXT NOT NULL DEFAULT '',         -- its name in the outbox
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS outputs (
    series TEXT NOT NULL,
    path TEXT NOT NULL,          -- relative to the outbox
    kind TEXT NOT NULL,          -- reply | check | review
    msgid TEXT NOT NULL DEFAULT '',
    data BLOB NOT NULL,
    PRIMARY KEY (series, path)
);
CREATE TABLE IF NOT EXISTS sends (
    msgid TEXT PRIMARY KEY,
    series TEXT NOT NULL,
    path TEXT NOT NULL,
    status TEXT NOT NULL,        -- pending | sent | no-recipient | failed
    attempts INTEGER NOT NULL DEFAULT 0,
    detail TEXT NOT NULL DEFAULT '',
    updated REAL NOT NULL
);
"""


class StateError(Exception):
    """The state file is unusable (one line, naming it)."""


@dataclass(frozen=True)
class SeriesRow:
    seq: int
    key: str
    root: str
    version: int
    expected: int
    sender: str
    title: str
    first_seen: float
    last_seen: float
    last_date: float | None
    status: str
    reason: str
    attempts: int
    incomplete: str
    worker: int | None
    name: str


@dataclass(frozen=True)
class Member:
    msgid: str
    kind: str
    idx: int | None
    raw: bytes | None


@dataclass(frozen=True)
class Output:
    path: str
    kind: str
    msgid: str
    data: bytes


class State:
    def __init__(self, path: Path, readonly: bool = False) -> None:
        """Open (or create) the state; `readonly` for a look while a bot runs."""
        self.path = path
        try:
            if readonly:
                if not path.is_file():
                    raise StateError(f"{path}: no bot state here")
                self.db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                                          isolation_level=None, timeout=30)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                self.db = sqlite3.connect(str(path), isolation_level=None, timeout=30)
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=FULL")
                self.db.executescript(_SCHEMA)
            row = self.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None and not readonly:
                self.db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            elif row is None or row[0] != SCHEMA_VERSION:
                raise StateError(f"{path}: state schema {row[0] if row else 'missing'}, "
                                 f"this kvmplan reads {SCHEMA_VERSION}")
        except (sqlite3.Error, OSError) as exc:
            raise StateError(f"{path}: cannot open the bot state: {exc}") from None

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- sources -------------------------------------------------------------

    def cursor(self, source: str) -> str | None:
        row = self.db.execute("SELECT cursor FROM cursors WHERE source=?", (source,)).fetchone()
        return None if row is None else str(row[0])

    def seen_item(self, source: str, item: str) -> bool:
        return self.db.execute("SELECT 1 FROM items WHERE source=? AND item=?",
                               (source, item)).fetchone() is not None

    @staticmethod
    def save_cursor(db: sqlite3.Connection, source: str, cursor: str, items: tuple[str, ...]) -> None:
        db.execute("INSERT INTO cursors VALUES (?, ?) ON CONFLICT(source) DO UPDATE "
                   "SET cursor=excluded.cursor", (source, cursor))
        db.executemany("INSERT OR IGNORE INTO items VALUES (?, ?)", [(source, i) for i in items])

    # -- messages ------------------------------------------------------------

    @staticmethod
    def known(db: sqlite3.Connection, msgid: str) -> set[str]:
        """Content hashes already stored under `msgid`."""
        return {r[0] for r in db.execute("SELECT hash FROM messages WHERE msgid=?", (msgid,))}

    @staticmethod
    def add_message(db: sqlite3.Connection, *, msgid: str, hash: str, kind: str, subject: str,
                    date: float | None, origin: str, series: str | None, idx: int | None,
                    raw: bytes | None) -> None:
        db.execute(
            "INSERT OR IGNORE INTO messages (msgid, hash, kind, subject, date, seen, origin, "
            "series, idx, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (msgid, hash, kind, subject, date, time.time(), origin, series, idx,
             None if raw is None else zlib.compress(raw, 6)))

    def archive_clock(self, ceiling: float) -> float | None:
        """The newest Date: of any mail read (dates beyond `ceiling` ignored)."""
        row = self.db.execute("SELECT max(date) FROM messages WHERE date <= ?", (ceiling,)).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def members(self, key: str) -> list[Member]:
        rows = self.db.execute("SELECT msgid, kind, idx, raw FROM messages WHERE series=? "
                               "ORDER BY idx, seq", (key,))
        return [Member(r[0], r[1], r[2], None if r[3] is None else zlib.decompress(r[3]))
                for r in rows]

    def indexes(self, key: str) -> set[int]:
        """The patch numbers k of a series that arrived."""
        return {r[0] for r in self.db.execute(
            "SELECT DISTINCT idx FROM messages WHERE series=? AND kind='patch'", (key,))}

    def message_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM messages").fetchone()[0])

    # -- series --------------------------------------------------------------

    _COLS = ("seq, key, root, version, expected, sender, title, first_seen, last_seen, last_date, "
             "status, reason, attempts, incomplete, worker, name")

    def series(self, key: str) -> SeriesRow | None:
        row = self.db.execute(f"SELECT {self._COLS} FROM series WHERE key=?", (key,)).fetchone()
        return None if row is None else SeriesRow(*row)

    def series_in(self, *statuses: str) -> list[SeriesRow]:
        marks = ", ".join("?" * len(statuses))
        rows = self.db.execute(f"SELECT {self._COLS} FROM series WHERE status IN ({marks}) "
                               "ORDER BY seq", statuses)
        return [SeriesRow(*r) for r in rows]

    def all_series(self) -> list[SeriesRow]:
        return [SeriesRow(*r) for r in self.db.execute(f"SELECT {self._COLS} FROM series ORDER BY seq")]

    @staticmethod
    def touch_series(db: sqlite3.Connection, *, key: str, root: str, version: int, expected: int,
                     sender: str, title: str, date: float | None, cover: bool) -> None:
        now = time.time()
        db.execute(
            "INSERT INTO series (key, root, version, expected, sender, title, first_seen, "
            "last_seen, last_date, status, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'waiting', ?) "
            "ON CONFLICT(key) DO UPDATE SET last_seen=excluded.last_seen, "
            "last_date=max(coalesce(series.last_date, excluded.last_date), "
            "coalesce(excluded.last_date, series.last_date))"
            + (", title=excluded.title" if cover else ""),
            (key, root, version, expected, sender, title, now, now, date, now))

    @staticmethod
    def set_status(db: sqlite3.Connection, key: str, status: str, reason: str | None = None,
                   **more: object) -> None:
        assert status in STATUSES, status
        sets = ["status=?", "updated=?"]
        args: list[object] = [status, time.time()]
        if reason is not None:
            sets.append("reason=?")
            args.append(reason)
        for col, value in more.items():
            assert col in ("attempts", "incomplete", "worker", "name"), col
            sets.append(f"{col}=?")
            args.append(value)
        db.execute(f"UPDATE series SET {', '.join(sets)} WHERE key=?", (*args, key))

    # -- outputs and sends ---------------------------------------------------

    @staticmethod
    def store_outputs(db: sqlite3.Connection, key: str, outputs: list[Output]) -> None:
        db.execute("DELETE FROM outputs WHERE series=?", (key,))
        db.executemany("INSERT INTO outputs VALUES (?, ?, ?, ?, ?)",
                       [(key, o.path, o.kind, o.msgid, o.data) for o in outputs])

    def outputs(self, key: str) -> list[Output]:
        rows = self.db.execute("SELECT path, kind, msgid, data FROM outputs WHERE series=? "
                               "ORDER BY path", (key,))
        return [Output(r[0], r[1], r[2], bytes(r[3])) for r in rows]

    @staticmethod
    def drop_bulky_outputs(db: sqlite3.Connection, key: str) -> None:
        """Once delivered, only the replies are kept (SMTP may still need them)."""
        db.execute("DELETE FROM outputs WHERE series=? AND kind != 'reply'", (key,))

    @staticmethod
    def queue_sends(db: sqlite3.Connection, key: str, replies: list[Output]) -> None:
        db.executemany("INSERT OR IGNORE INTO sends (msgid, series, path, status, updated) "
                       "VALUES (?, ?, ?, 'pending', ?)",
                       [(o.msgid, key, o.path, time.time()) for o in replies])

    def pending_sends(self) -> list[tuple[str, str, str, int]]:
        rows = self.db.execute("SELECT msgid, series, path, attempts FROM sends "
                               "WHERE status='pending' ORDER BY series, path")
        return [(str(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in rows]

    def reply_text(self, key: str, path: str) -> bytes | None:
        row = self.db.execute("SELECT data FROM outputs WHERE series=? AND path=?",
                              (key, path)).fetchone()
        return None if row is None else bytes(row[0])

    @staticmethod
    def set_send(db: sqlite3.Connection, msgid: str, status: str, detail: str,
                 attempts: int) -> None:
        db.execute("UPDATE sends SET status=?, detail=?, attempts=?, updated=? WHERE msgid=?",
                   (status, detail, attempts, time.time(), msgid))

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in STATUSES}
        for status, n in self.db.execute("SELECT status, count(*) FROM series GROUP BY status"):
            out[status] = n
        return out
