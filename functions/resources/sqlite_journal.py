"""The run journal in SQLite: one row per (run uid, key), written once, read in order.

The transcript lives here rather than in the AgentRun's status, so a run's object
stays small however long it runs; rows go with their run (SqliteStore.delete).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from functions.ports import NotFound, Resource
from functions.resources.jsontext import dumps, loads
from functions.resources.sqlite_db import Database

__all__ = ["append", "read"]


def append(db: Database, run: Resource, key: str, entry: Mapping[str, Any]) -> bool:
    """Record ``entry`` under ``key`` for the run once; False if the key was taken."""
    uid = run["metadata"]["uid"]
    body = dumps(entry)

    def insert(conn: sqlite3.Connection) -> bool:
        added = conn.execute(
            "INSERT OR IGNORE INTO journal (run_uid, key, entry) "
            "SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM objects WHERE uid = ?)",
            (uid, key, body, uid),
        ).rowcount
        if added:
            return True
        if conn.execute("SELECT 1 FROM objects WHERE uid = ?", (uid,)).fetchone() is None:
            # An orphan entry would never be collected: the run is gone (or never was).
            raise NotFound(f'agentruns.baton.dev with uid "{uid}" not found')
        return False

    return db.write(insert)


def read(db: Database, run: Resource) -> list[tuple[str, dict[str, Any]]]:
    """The run's journal in write order as (key, entry) pairs."""
    with db.reading() as conn:
        rows = conn.execute(
            "SELECT key, entry FROM journal WHERE run_uid = ? ORDER BY id",
            (run["metadata"]["uid"],),
        ).fetchall()
    return [(key, loads(entry)) for key, entry in rows]
