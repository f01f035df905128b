"""SqliteStore: the Store protocol on one SQLite file, with Kubernetes semantics.

Every write appends the object to a change log; the row id is the write's
resourceVersion (global, increasing) and watches follow the log, so several
processes sharing the file see each other's writes. The log keeps the last
``keep_changes`` rows (plus each live object's newest); a watch from before that
gets ``Expired`` (the API server's 410 Gone). As on a kube-apiserver with the
status subresource, create drops ``status``, ``update`` never changes it and
``update_status`` changes nothing else.
"""

from __future__ import annotations

import builtins
import os
import random
import sqlite3
import time
import uuid
from collections.abc import Collection, Mapping
from typing import Any

from functions.ports import Conflict, Invalid, NotFound, Resource
from functions.resources import sqlite_journal as journal
from functions.resources.jsontext import dumps as _dumps
from functions.resources.jsontext import loads as _loads
from functions.resources.schema import kind_info, validate_and_default
from functions.resources.sqlite_db import Database
from functions.resources.sqlite_watch import Watch, log_change, materialize

__all__ = ["SqliteStore"]

_NAME_SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # the API server's generateName alphabet
_SELECT = (
    "SELECT o.rv, c.body FROM objects o JOIN changes c ON c.rv = o.rv "
    "WHERE o.kind = ? AND o.namespace = ? AND o.name = ?"
)


def _now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class SqliteStore:
    """Kubernetes-shaped resource store and run journal in one SQLite file.

    Thread-safe. Build it in the process that uses it (after a fork, e.g. in
    gunicorn's post_fork): SQLite connections must not cross a fork.
    """

    # Its calls use this process's CPU and disk, never a network: the embedded runtime
    # can run its transitions one at a time (functions.runtime.gate).
    local = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        keep_changes: int = 20_000,
        poll_interval: float = 0.05,
    ) -> None:
        self.db = Database(path)
        self.keep_changes = max(1, keep_changes)
        # How often a watch looks for other processes' writes; this process's wake it at once.
        self.poll_interval = poll_interval
        self._trim_every = max(1, self.keep_changes // 10)

    def close(self) -> None:
        """Close the store's connections."""
        self.db.close()

    # -- reads ------------------------------------------------------------

    def get(self, kind: str, namespace: str, name: str) -> Resource:
        """The object, or NotFound."""
        with self.db.reading() as conn:
            row = conn.execute(_SELECT, (kind, namespace, name)).fetchone()
        if row is None:
            raise NotFound(f'{kind_info(kind).resource} "{name}" not found')
        return materialize(*row)

    def list(
        self,
        kind: str,
        namespace: str | None = None,
        label_selector: Mapping[str, str] | None = None,
    ) -> builtins.list[Resource]:
        """Objects of ``kind`` (in ``namespace``; with all the labels), by namespace and name."""
        kind_info(kind)
        with self.db.reading() as conn:
            return self._list(conn, kind, namespace, label_selector)

    def _list(
        self,
        conn: sqlite3.Connection,
        kind: str,
        namespace: str | None,
        label_selector: Mapping[str, str] | None,
    ) -> builtins.list[Resource]:
        sql = "SELECT o.rv, c.body FROM objects o JOIN changes c ON c.rv = o.rv WHERE o.kind = ?"
        args: builtins.list[Any] = [kind]
        if namespace is not None:
            sql += " AND o.namespace = ?"
            args.append(namespace)
        for key, value in (label_selector or {}).items():
            sql += " AND json_extract(c.body, ?) = ?"
            args += [f'$.metadata.labels."{key}"', value]
        rows = conn.execute(sql + " ORDER BY o.namespace, o.name", args).fetchall()
        return [materialize(rv, body) for rv, body in rows]

    # -- writes -----------------------------------------------------------

    def create(self, obj: Resource) -> Resource:
        """Store a new object; Conflict when the name is taken."""
        new: Resource = _json_copy(obj)  # never touch the caller's dict
        meta = new.get("metadata")
        if isinstance(meta, dict):
            if not meta.get("name") and meta.get("generateName"):
                suffix = "".join(random.choices(_NAME_SUFFIX_CHARS, k=5))
                meta["name"] = f"{meta['generateName']}{suffix}"
            meta["namespace"] = meta.get("namespace") or "default"
        new.pop("status", None)  # status belongs to the status subresource
        validate_and_default(new)
        info = kind_info(new["kind"])
        meta = new["metadata"]
        meta["uid"] = str(uuid.uuid4())
        meta["generation"] = 1
        meta["creationTimestamp"] = _now_rfc3339()

        def insert(conn: sqlite3.Connection) -> Resource:
            rv = self._append(conn, "ADDED", new)
            try:
                conn.execute(
                    "INSERT INTO objects (kind, namespace, name, uid, rv) VALUES (?, ?, ?, ?, ?)",
                    (info.kind, meta["namespace"], meta["name"], meta["uid"], rv),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f'{info.resource} "{meta["name"]}" already exists') from None
            return new

        return self.db.write(insert)

    def update(self, obj: Resource) -> Resource:
        """Write spec and metadata; generation moves when spec changes; status is kept."""
        new: Resource = _json_copy(obj)
        validate_and_default(new)
        kind, namespace, name, expected_rv = _identity(new)

        def replace(conn: sqlite3.Connection) -> Resource:
            stored = self._stored(conn, kind, namespace, name, expected_rv, new)
            meta = new["metadata"]
            meta["namespace"] = namespace
            for server_field in ("uid", "creationTimestamp", "generation"):
                meta[server_field] = stored["metadata"][server_field]
            if new.get("spec") != stored.get("spec"):
                meta["generation"] = stored["metadata"]["generation"] + 1
            new.pop("status", None)
            if "status" in stored:
                new["status"] = stored["status"]
            if new == stored:
                return stored  # no change: no new resourceVersion, no watch event
            self._replace(conn, new)
            return new

        return self.db.write(replace)

    def update_status(self, obj: Resource) -> Resource:
        """Write status only; everything else in ``obj`` is ignored."""
        return self.commit(obj)

    def commit(
        self, obj: Resource, journal: Mapping[str, Mapping[str, Any]] | None = None
    ) -> Resource:
        """Write ``obj``'s status and append ``journal`` (each key once) in one transaction.

        A stale resourceVersion raises Conflict and nothing is written, journal included.
        """
        probe = {
            "apiVersion": obj.get("apiVersion"),
            "kind": obj.get("kind"),
            "metadata": obj.get("metadata"),
        }
        if "status" in obj:
            probe["status"] = _json_copy(obj["status"])
        if not isinstance(probe["metadata"], dict) or not probe["metadata"].get("name"):
            validate_and_default(probe, subresource="status")  # raises: names what is missing
        kind, namespace, name, expected_rv = _identity(probe)
        entries = [(key, _dumps(entry)) for key, entry in (journal or {}).items()]

        def replace_status(conn: sqlite3.Connection) -> Resource:
            stored = self._stored(conn, kind, namespace, name, expected_rv, probe)
            # Checked against what it replaces: a commit changes a few fields of a status.
            validate_and_default(probe, subresource="status", stored=stored)
            uid = stored["metadata"]["uid"]
            conn.executemany(
                "INSERT OR IGNORE INTO journal (run_uid, key, entry) VALUES (?, ?, ?)",
                [(uid, key, body) for key, body in entries],
            )
            if stored.get("status") == probe.get("status"):
                return stored
            if "status" in probe:
                stored["status"] = probe["status"]
            else:
                stored.pop("status", None)
            self._replace(conn, stored)
            return stored

        return self.db.write(replace_status)

    def delete(self, kind: str, namespace: str, name: str) -> None:
        """Remove the object (and a run's journal); NotFound when it is not there."""
        info = kind_info(kind)

        def remove(conn: sqlite3.Connection) -> None:
            row = conn.execute(_SELECT, (kind, namespace, name)).fetchone()
            if row is None:
                raise NotFound(f'{info.resource} "{name}" not found')
            gone = materialize(*row)
            uid = gone["metadata"]["uid"]
            conn.execute("DELETE FROM objects WHERE uid = ?", (uid,))
            conn.execute("DELETE FROM journal WHERE run_uid = ?", (uid,))
            self._append(conn, "DELETED", gone)

        self.db.write(remove)

    # -- journal ----------------------------------------------------------

    def append_journal(self, run: Resource, key: str, entry: Mapping[str, Any]) -> bool:
        """Record ``entry`` under ``key`` for the run once; False if the key was taken."""
        return journal.append(self.db, run, key, entry)

    def read_journal(self, run: Resource) -> builtins.list[tuple[str, dict[str, Any]]]:
        """The run's journal in write order as (key, entry) pairs."""
        return journal.read(self.db, run)

    # -- watch ------------------------------------------------------------

    def watch(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        since: str | None = None,
        timeout: float | None = None,
        changes: Collection[str] | None = None,
    ) -> Watch:
        """Changes after resourceVersion ``since`` (None: from now; "0": current objects first).

        Ends after ``timeout`` seconds without an event; raises Expired when the
        change log no longer reaches back to ``since``. The returned iterator's
        ``resource_version`` is where to continue after it ends.
        """
        kind_info(kind)
        return Watch.starting(
            self.db,
            kind,
            namespace,
            since,
            lambda conn: self._list(conn, kind, namespace, None),
            timeout=timeout,
            poll_interval=self.poll_interval,
            changes=changes,
        )

    # -- internals --------------------------------------------------------

    def _stored(
        self,
        conn: sqlite3.Connection,
        kind: str,
        namespace: str,
        name: str,
        expected_rv: str,
        new: Resource,
    ) -> Resource:
        row = conn.execute(_SELECT, (kind, namespace, name)).fetchone()
        info = kind_info(kind)
        if row is None:
            raise NotFound(f'{info.resource} "{name}" not found')
        stored = materialize(*row)
        uid = new["metadata"].get("uid")
        if str(row[0]) != expected_rv or (uid and uid != stored["metadata"]["uid"]):
            raise Conflict(
                f'Operation cannot be fulfilled on {info.resource} "{name}": the object has '
                "been modified; please apply your changes to the latest version and try again"
            )
        return stored

    def _replace(self, conn: sqlite3.Connection, obj: Resource) -> None:
        rv = self._append(conn, "MODIFIED", obj)
        conn.execute("UPDATE objects SET rv = ? WHERE uid = ?", (rv, obj["metadata"]["uid"]))

    def _append(self, conn: sqlite3.Connection, change: str, obj: Resource) -> int:
        """Log ``obj`` as a change; set and return its new resourceVersion."""
        self.db.note_change(obj["kind"], change)
        return log_change(conn, change, obj, keep=self.keep_changes, trim_every=self._trim_every)


def _json_copy(value: Any) -> Any:
    """A deep copy through JSON, refusing what the API server could not store either."""
    try:
        return _loads(_dumps(value))
    except TypeError as error:
        raise Invalid(f"the object is not JSON: {error}", field="") from None


def _identity(obj: Resource) -> tuple[str, str, str, str]:
    meta = obj["metadata"]
    rv = meta.get("resourceVersion")
    if not rv:
        raise Invalid(
            f'{obj["kind"]}.baton.dev "{meta.get("name", "")}" is invalid: '
            "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update",
            field="metadata.resourceVersion",
        )
    return obj["kind"], meta.get("namespace") or "default", meta["name"], str(rv)
