"""Durable emulator state: one SQLite file in the data directory.

Every change runs in its own ``BEGIN IMMEDIATE`` transaction, so a read-modify-write (a PATCH,
a training changing state) never interleaves with another thread's, and a crash never leaves
half a resource behind. Resources are stored as the JSON documents the API returns.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS projects (id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS resources (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    document TEXT NOT NULL,
    advance_at REAL,
    UNIQUE (kind, id)
);
CREATE INDEX IF NOT EXISTS resources_by_scope ON resources (kind, project_id, seq);
CREATE TABLE IF NOT EXISTS contents (owner_id TEXT PRIMARY KEY, data BLOB NOT NULL);
"""

Document = dict[str, Any]


@dataclass(frozen=True)
class Stored:
    """A resource with its insertion sequence, which orders lists and keys their pagination."""

    seq: int
    document: Document


class Store:
    """Thread-safe access to the SQLite file; one connection serialised by a lock."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.RLock()
        self._connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=NORMAL")  # WAL keeps commits atomic; skip an fsync each
        self._connection.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield self._connection
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    def setting(self, key: str, default: Callable[[], str]) -> str:
        """A persisted value, created from ``default`` on first use (signing secret, fake API key)."""
        with self.transaction() as db:
            row = db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
            if row:
                return str(row[0])
            value = default()
            db.execute("INSERT INTO settings (key, value) VALUES (?, ?)", (key, value))
            return value

    def ensure_project(self, project_id: str, name: str, created_at: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO projects (id, name, created_at) VALUES (?, ?, ?)",
                       (project_id, name, created_at))

    def project(self, project_id: str) -> tuple[str, str] | None:
        """``(name, created_at)`` of a known project."""
        with self._lock:
            row = self._connection.execute("SELECT name, created_at FROM projects WHERE id = ?",
                                           (project_id,)).fetchone()
        return tuple(row) if row else None

    def insert(self, kind: str, document: Document, advance_at: float | None = None) -> None:
        metadata = document["metadata"]
        with self.transaction() as db:
            db.execute("INSERT INTO resources (kind, id, project_id, document, advance_at) VALUES (?, ?, ?, ?, ?)",
                       (kind, metadata["id"], metadata.get("project_id", ""), json.dumps(document), advance_at))

    def get(self, kind: str, resource_id: str) -> Document | None:
        with self._lock:
            row = self._connection.execute("SELECT document FROM resources WHERE kind = ? AND id = ?",
                                           (kind, resource_id)).fetchone()
        document: Document | None = json.loads(row[0]) if row else None
        return document

    def update(self, kind: str, resource_id: str,
               change: Callable[[Document], float | None]) -> Document | None:
        """Apply ``change`` to the stored document atomically; it edits in place and returns the
        next ``advance_at``. ``None`` when the resource does not exist."""
        with self.transaction() as db:
            row = db.execute("SELECT document FROM resources WHERE kind = ? AND id = ?",
                             (kind, resource_id)).fetchone()
            if row is None:
                return None
            document: Document = json.loads(row[0])
            advance_at = change(document)
            db.execute("UPDATE resources SET document = ?, advance_at = ? WHERE kind = ? AND id = ?",
                       (json.dumps(document), advance_at, kind, resource_id))
            return document

    def delete(self, kind: str, resource_id: str) -> bool:
        with self.transaction() as db:
            deleted = db.execute("DELETE FROM resources WHERE kind = ? AND id = ?", (kind, resource_id)).rowcount
            db.execute("DELETE FROM contents WHERE owner_id = ? OR owner_id LIKE ?",
                       (resource_id, f"{resource_id}/%"))
        return deleted > 0

    def list(self, kind: str, project_id: str) -> builtins.list[Stored]:
        """A project's resources of one kind, newest first (as WML lists them)."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT seq, document FROM resources WHERE kind = ? AND project_id = ? ORDER BY seq DESC",
                (kind, project_id)).fetchall()
        return [Stored(seq, json.loads(document)) for seq, document in rows]

    def ids_in_states(self, kind: str, states: tuple[str, ...]) -> builtins.list[str]:
        """Ids whose ``entity.status.state`` is one of ``states``, across projects."""
        marks = ", ".join("?" for _ in states)
        with self._lock:
            rows = self._connection.execute(
                f"SELECT id FROM resources WHERE kind = ? AND json_extract(document, '$.entity.status.state') "
                f"IN ({marks})", (kind, *states)).fetchall()
        return [row[0] for row in rows]

    def due(self, kind: str, now: float) -> builtins.list[str]:
        with self._lock:
            rows = self._connection.execute(
                "SELECT id FROM resources WHERE kind = ? AND advance_at <= ? ORDER BY advance_at",
                (kind, now)).fetchall()
        return [row[0] for row in rows]

    def next_due(self, kind: str) -> float | None:
        with self._lock:
            row = self._connection.execute("SELECT MIN(advance_at) FROM resources WHERE kind = ?",
                                           (kind,)).fetchone()
        due: float | None = row[0]
        return due

    def put_content(self, owner_id: str, data: bytes) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO contents (owner_id, data) VALUES (?, ?)", (owner_id, data))

    def content(self, owner_id: str) -> bytes | None:
        with self._lock:
            row = self._connection.execute("SELECT data FROM contents WHERE owner_id = ?", (owner_id,)).fetchone()
        return bytes(row[0]) if row else None
