"""The event log keeps when each event was made: the timeline's latencies come from it."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from events import types
from events.envelope import make_event
from functions.runtime.eventlog import EventLog


def test_each_recorded_event_keeps_its_time(tmp_path: Path) -> None:
    """Events read back with the time they were made, in order."""
    log = EventLog(str(tmp_path / "state.db"))
    before = time.time()
    for i in range(3):
        log.record(_with_run(make_event(types.LLM_REQUESTED, "/baton/x", {}, id_=f"e{i}")))
    got = log.read("default/r1")
    log.close()
    assert [e.id for e in got] == ["e0", "e1", "e2"]
    assert all(e.time is not None and before - 1 <= e.time <= time.time() + 1 for e in got)
    assert [e.time for e in got] == sorted(e.time for e in got)  # type: ignore[type-var]


def test_a_log_written_before_times_were_kept_still_reads(tmp_path: Path) -> None:
    """A run_events table without a time column is upgraded in place; old rows read as None."""
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    conn.executescript(
        "CREATE TABLE run_events (seq INTEGER PRIMARY KEY AUTOINCREMENT, run TEXT NOT NULL,"
        " uid TEXT NOT NULL DEFAULT '', type TEXT NOT NULL, id TEXT NOT NULL, step INTEGER,"
        " source TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '', UNIQUE(source, id));"
        "INSERT INTO run_events(run, type, id, step, source) VALUES"
        " ('default/r1', 'dev.baton.run.accepted', 'old', 0, '/baton/validate');"
    )
    conn.commit()
    conn.close()
    log = EventLog(str(db))
    log.record(_with_run(make_event(types.LLM_REQUESTED, "/baton/x", {}, id_="new")))
    got = log.read("default/r1")
    log.close()
    assert [(e.id, e.time is None) for e in got] == [("old", True), ("new", False)]


def _with_run(event: Any) -> Any:
    """The event as a transition emits it: about run default/r1."""
    from cloudevents.core.v1.event import CloudEvent

    attributes = {**event.get_attributes(), "batonrun": "default/r1"}
    return CloudEvent(attributes, event.get_data())


def test_a_flush_returns_once_what_the_writer_took_is_committed(tmp_path: Path) -> None:
    """``flush`` (a test's wait_terminal, before the CLI reads) returns only once the rows the
    writer thread already took are committed: another connection then reads them all."""
    path = str(tmp_path / "state.db")
    log, reader = EventLog(path), EventLog(path)
    other = sqlite3.connect(path, timeout=30, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # a writer elsewhere: the log's commit has to wait
    seen: list[list[str]] = []
    try:
        log.record(_with_run(make_event(types.LLM_REQUESTED, "/baton/x", {}, id_="e0")))
        time.sleep(0.2)  # the writer thread takes e0 (after FLUSH_SECONDS) and waits to commit

        def flush_then_read() -> None:
            log.flush()
            seen.append([e.id for e in reader.read("default/r1")])

        flushing = threading.Thread(target=flush_then_read)
        flushing.start()
        time.sleep(0.2)
        other.execute("ROLLBACK")
        flushing.join(30)
    finally:
        other.close()
        log.close()
        reader.close()
    assert seen == [["e0"]]
