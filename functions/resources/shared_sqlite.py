"""A connection to a SQLite file that other processes read and write at the same time."""

from __future__ import annotations

import sqlite3

__all__ = ["connect_shared"]


def connect_shared(path: str, schema: str) -> sqlite3.Connection:
    """Autocommit (transactions begun by hand), WAL, a 30 s busy wait; ``schema`` applied.

    ``synchronous=NORMAL``: a power cut may lose the last commits, never corrupt the file;
    for logs whose rows can be lost (run events, Kubernetes-style Events), not for the store.
    """
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(schema)
    return conn
