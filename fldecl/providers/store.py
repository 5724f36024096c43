"""A transactional resource store in SQLite, for providers that keep their resources on disk.

Each write is one transaction, so a process killed mid-apply leaves either the whole record or
none of it. Records look like WML's: an id, a name, tags, timestamps, the attributes fldecl
compares, a status, and a WML-shaped ``entity``. Every query is counted, so benchmarks and tests
can check that reading a stack costs one query per kind.
"""

from __future__ import annotations

import builtins
import dataclasses
import json
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fldecl.core.contract import NAME_ATTRIBUTE, Desired, Observed, Unowned
from fldecl.core.errors import NotFoundError, StateError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    tags TEXT NOT NULL,
    attributes TEXT NOT NULL,
    status TEXT,
    entity TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS resources_kind ON resources (kind);
"""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Record:
    id: str
    kind: str
    name: str
    tags: list[str]
    attributes: dict[str, Any]
    status: str | None
    entity: dict[str, Any]
    created_at: str
    updated_at: str

    @property
    def backend_name(self) -> str:
        """The resource's name in the backend: its ``name`` attribute, as WML would show it (records made before names
        could differ hold only the manifest name)."""
        return str(self.attributes.get(NAME_ATTRIBUTE) or self.entity.get("name") or self.name)

    def observed(self, **overrides: Any) -> Observed:
        """The record as the contract's :class:`Observed`, with ``overrides`` (a status, a replace reason, details)."""
        observed = Observed(self.kind, self.name, self.id, list(self.tags), self.attributes, self.status, created_at=self.created_at,
                            updated_at=self.updated_at, document=self.entity)
        return dataclasses.replace(observed, **overrides) if overrides else observed


class ResourceStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.queries = 0
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, timeout=30, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise StateError(f"cannot open the state file {path}: {_reason(exc)}") from None

    def close(self) -> None:
        self._db.close()

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            self.queries += 1
            self._db.execute("BEGIN IMMEDIATE")
            try:
                rows = self._db.execute(sql, params).fetchall()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return rows

    def list(self, kind: str, tag: str | None = None) -> builtins.list[Record]:
        """Every record of ``kind`` (carrying ``tag``, if given): one query."""
        if tag is None:
            rows = self._run("SELECT * FROM resources WHERE kind = ? ORDER BY created_at", (kind,))
        else:
            rows = self._run(
                "SELECT * FROM resources WHERE kind = ? AND EXISTS (SELECT 1 FROM json_each(resources.tags) WHERE value = ?) "
                "ORDER BY created_at", (kind, tag))
        return [_record(row) for row in rows]

    def get(self, record_id: str) -> Record | None:
        rows = self._run("SELECT * FROM resources WHERE id = ?", (record_id,))
        return _record(rows[0]) if rows else None

    def insert(self, kind: str, name: str, tags: builtins.list[str], attributes: dict[str, Any], status: str | None = None,
               entity: dict[str, Any] | None = None, record_id: str | None = None) -> Record:
        stamp = now_iso()
        record = Record(record_id or str(uuid.uuid4()), kind, name, list(tags), attributes, status, entity or {}, stamp, stamp)
        self._run("INSERT INTO resources VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (
            record.id, kind, name, json.dumps(record.tags), json.dumps(attributes), status, json.dumps(record.entity), stamp, stamp))
        return record

    def update(self, record_id: str, **fields: Any) -> Record:
        """Change some of name, tags, attributes, status, entity in one transaction."""
        allowed = {"name", "tags", "attributes", "status", "entity"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"cannot update {unknown}")
        assignments = ", ".join(f"{key} = ?" for key in fields) + ", updated_at = ?"
        values = [json.dumps(v) if key in ("tags", "attributes", "entity") else v for key, v in fields.items()]
        self._run(f"UPDATE resources SET {assignments} WHERE id = ?", (*values, now_iso(), record_id))
        record = self.get(record_id)
        if record is None:
            raise KeyError(record_id)
        return record

    def delete(self, record_id: str) -> None:
        self._run("DELETE FROM resources WHERE id = ?", (record_id,))

    def same_name(self, kind: str, names: Iterable[str], owner_tag: str) -> builtins.list[Unowned]:
        """The records of ``kind`` without ``owner_tag`` whose backend name is one of ``names``: one query."""
        wanted = set(names)
        return [Unowned(kind, record.backend_name, record.id, tuple(record.tags)) for record in self.list(kind)
                if owner_tag not in record.tags and record.backend_name in wanted]

    def adopt(self, record_id: str, desired: Desired, backend: str,
              recorded: Callable[[Record], dict[str, Any]] = lambda record: {}) -> Record:
        """``fldecl import``: add ``desired``'s tags to the record ``record_id`` of its kind and take it under the manifest's
        name, with what else ``recorded`` says fldecl records of it (fields of :meth:`update`); what it holds stays as it
        is otherwise, for the next plan to compare with the manifest."""
        record = self.get(record_id)
        if record is None or record.kind != desired.kind:
            raise NotFoundError(f"no {desired.kind} with id {record_id} in the {backend} backend")
        tags = record.tags + [tag for tag in desired.tags if tag not in record.tags]
        return self.update(record.id, name=desired.name, tags=tags, **recorded(record))


def _reason(exc: Exception) -> str:
    """Why a store cannot be opened, with what to do about it."""
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    text = str(exc)
    if "not a database" in text:
        return "it is not an SQLite database of fldecl's (restore it from a backup, or move it away to start afresh)"
    if "readonly" in text or "unable to open" in text:
        return f"{text}; the stack directory must be writable: fldecl keeps its state in .fldecl/"
    return text


def _record(row: tuple[Any, ...]) -> Record:
    rid, kind, name, tags, attributes, status, entity, created, updated = row
    return Record(rid, kind, name, json.loads(tags), json.loads(attributes), status, json.loads(entity), created, updated)
