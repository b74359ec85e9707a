"""The probe's state on disk (SQLite): what was sampled, asked, answered and
sent, so that a killed probe resumes without asking any prompt twice.

A prompt is one (endpoint, profile, post). Its life: ``pending`` (sampled, not
yet answered; failures only count attempts and keep it pending), ``answered``
(the reply is stored, in the same transaction that ends the asking) and
``emitted`` (the sink has it). A kill between answer and emission re-sends the
stored answer on restart (the sink drops it if it is there already); it never
asks again. Every write is one committed transaction (WAL, synchronous=FULL).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.probe.sampling import Candidate

SCHEMA = """
CREATE TABLE IF NOT EXISTS posts (
  post_id TEXT PRIMARY KEY, topic TEXT NOT NULL, grp TEXT NOT NULL, window INTEGER NOT NULL,
  created_ms INTEGER NOT NULL, text TEXT NOT NULL, top TEXT NOT NULL, labels TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS posts_key ON posts (topic, grp, window);
CREATE TABLE IF NOT EXISTS prompts (
  endpoint TEXT NOT NULL, profile TEXT NOT NULL, post_id TEXT NOT NULL,
  state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_reason TEXT,
  answer TEXT, tokens INTEGER, updated REAL NOT NULL,
  PRIMARY KEY (endpoint, profile, post_id)
);
CREATE INDEX IF NOT EXISTS prompts_state ON prompts (state);
CREATE TABLE IF NOT EXISTS budget (
  endpoint TEXT NOT NULL, window_start INTEGER NOT NULL, tokens INTEGER NOT NULL,
  PRIMARY KEY (endpoint, window_start)
);
"""


@dataclass(frozen=True)
class Prompt:
    endpoint: str
    profile: str
    post: Candidate
    attempts: int

    @property
    def key(self) -> tuple[str, str, str]:
        return self.endpoint, self.profile, self.post.post_id


class Ledger:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # one thread at a time uses it, but not always the one that opened it (the Kafka loop)
        self.db = sqlite3.connect(str(path), isolation_level=None, timeout=30, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def _tx(self, statements: Iterable[tuple[str, tuple]]) -> None:
        cur = self.db.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            for sql, args in statements:
                cur.execute(sql, args)
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")

    def add_post(self, c: Candidate, window_ms: int, max_per_key: int, asks: list[tuple[str, str]]) -> str:
        """Store a sampled post and its prompts (one per endpoint and profile).
        Returns sampled, seen (stored before) or capped (its topic, group and
        window have ``max_per_key`` posts already)."""
        if self.db.execute("SELECT 1 FROM posts WHERE post_id = ?", (c.post_id,)).fetchone():
            return "seen"
        (n,) = self.db.execute("SELECT COUNT(*) FROM posts WHERE topic = ? AND grp = ? AND window = ?",
                               (c.subject, c.group, window_ms)).fetchone()
        if n >= max_per_key:
            return "capped"
        now = time.time()
        self._tx([
            ("INSERT INTO posts VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
             (c.post_id, c.subject, c.group, window_ms, c.created_ms, c.text, json.dumps(c.top), json.dumps(c.labels))),
            *[("INSERT OR IGNORE INTO prompts (endpoint, profile, post_id, state, updated) "
               "VALUES (?, ?, ?, 'pending', ?)", (e, p, c.post_id, now)) for e, p in asks],
        ])
        return "sampled"

    def ensure_prompts(self, asks: list[tuple[str, str]]) -> int:
        """Prompts for endpoints or profiles added to the file since posts were
        sampled; returns how many were added."""
        before = self.db.total_changes
        now = time.time()
        self._tx([("INSERT OR IGNORE INTO prompts (endpoint, profile, post_id, state, updated) "
                   "SELECT ?, ?, post_id, 'pending', ? FROM posts", (e, p, now)) for e, p in asks])
        return self.db.total_changes - before

    def pending(self, endpoint: str, profiles: list[str], limit: int, retry_seconds: float = 0.0) -> list[Prompt]:
        """Pending prompts of one endpoint that are due, fewest attempts and oldest post first.
        A prompt that failed n times is due ``retry_seconds * 2**min(n - 1, 6)`` after its last failure."""
        marks = ",".join("?" * len(profiles))
        rows = self.db.execute(
            f"SELECT q.profile, q.attempts, p.post_id, p.text, p.topic, p.grp, p.created_ms, p.top, p.labels "
            f"FROM prompts q JOIN posts p USING (post_id) WHERE q.endpoint = ? AND q.state = 'pending' "
            f"AND q.profile IN ({marks}) "
            f"AND (q.attempts = 0 OR q.updated + ? * (1 << min(q.attempts - 1, 6)) <= ?) "
            f"ORDER BY q.attempts, p.created_ms, p.post_id, q.profile LIMIT ?",
            (endpoint, *profiles, retry_seconds, time.time(), limit),
        ).fetchall()
        return [
            Prompt(endpoint, prof, Candidate(pid, text, topic, grp, created, json.loads(top), json.loads(labels)), att)
            for prof, att, pid, text, topic, grp, created, top, labels in rows
        ]

    def answered(self, prompt: Prompt, record: dict[str, Any], tokens: int, budget_window: int) -> None:
        """Store the answer and charge its tokens to the endpoint's budget, in one transaction."""
        self._tx([
            ("UPDATE prompts SET state = 'answered', answer = ?, tokens = ?, attempts = attempts + 1, "
             "updated = ? WHERE endpoint = ? AND profile = ? AND post_id = ? AND state = 'pending'",
             (json.dumps(record, ensure_ascii=False), tokens, time.time(), *prompt.key)),
            ("INSERT INTO budget VALUES (?, ?, ?) ON CONFLICT (endpoint, window_start) "
             "DO UPDATE SET tokens = tokens + excluded.tokens", (prompt.endpoint, budget_window, tokens)),
        ])

    def failed(self, prompt: Prompt, reason: str) -> None:
        self._tx([("UPDATE prompts SET attempts = attempts + 1, last_reason = ?, updated = ? "
                   "WHERE endpoint = ? AND profile = ? AND post_id = ? AND state = 'pending'",
                   (reason, time.time(), *prompt.key))])

    def unemitted(self) -> list[tuple[tuple[str, str, str], dict[str, Any]]]:
        rows = self.db.execute("SELECT endpoint, profile, post_id, answer FROM prompts WHERE state = 'answered' "
                               "ORDER BY updated").fetchall()
        return [((e, p, i), json.loads(a)) for e, p, i, a in rows]

    def emitted(self, keys: list[tuple[str, str, str]]) -> None:
        now = time.time()
        self._tx([("UPDATE prompts SET state = 'emitted', updated = ? WHERE endpoint = ? AND profile = ? "
                   "AND post_id = ?", (now, *k)) for k in keys])

    def budget_used(self, endpoint: str, window_start: int) -> int:
        row = self.db.execute("SELECT tokens FROM budget WHERE endpoint = ? AND window_start = ?",
                              (endpoint, window_start)).fetchone()
        return int(row[0]) if row else 0

    def counts(self, endpoint: str | None = None) -> dict[str, int]:
        where, args = ("WHERE endpoint = ?", (endpoint,)) if endpoint else ("", ())
        rows = self.db.execute(f"SELECT state, COUNT(*) FROM prompts {where} GROUP BY state", args).fetchall()
        return {"pending": 0, "answered": 0, "emitted": 0, **dict(rows)}

    def failing(self) -> dict[str, int]:
        """Pending prompts that failed at least once, by their last reason."""
        rows = self.db.execute("SELECT last_reason, COUNT(*) FROM prompts WHERE state = 'pending' "
                               "AND attempts > 0 GROUP BY last_reason").fetchall()
        return dict(rows)
