"""A worker SIGKILLed while it holds an event loses nothing and repeats no side effect."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from events.bus import Subscription
from events.types import TOOL_COMPLETED, TOOL_REQUESTED
from tests.fakes.events import valid_event
from tests.nats.conftest import MakeBus, Recorder

ROOT = Path(__file__).resolve().parents[2]


def _wait_for_file(path: Path, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"worker exited with {process.returncode} before {path.name}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path.name} did not appear within {timeout} s")
        time.sleep(0.02)


@pytest.fixture
def start_worker(nats_url: str, tmp_path: Path) -> Iterator[object]:
    """Start worker processes on the test's server; any still running are killed after."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(*flags: str) -> subprocess.Popen[bytes]:
        args = [sys.executable, "-m", "tests.nats.worker_proc", nats_url, str(tmp_path), *flags]
        process = subprocess.Popen(args, cwd=ROOT)
        processes.append(process)
        _wait_for_file(tmp_path / f"ready-{process.pid}", process)
        return process

    yield start
    for process in processes:
        process.kill()
        process.wait(timeout=10)


def test_event_held_by_a_killed_worker_is_redelivered_and_processed_once(
    make_bus: MakeBus, start_worker: object, tmp_path: Path
) -> None:
    """SIGKILL mid-handler: a restarted worker gets the event, the effect happens once."""
    completed = Recorder()
    bus = make_bus()
    bus.subscribe(
        Subscription("finalize", {"type": TOOL_COMPLETED}, lambda e: completed.add(e) or [])
    )

    first = start_worker("--block")  # type: ignore[operator]
    bus.publish(valid_event(TOOL_REQUESTED, "uid/1/tool/t1", tool="write_file"))
    _wait_for_file(tmp_path / "holding", first)
    first.kill()
    first.wait(timeout=10)
    assert completed.events == []  # the killed worker never finished it

    second = start_worker()  # type: ignore[operator]
    assert completed.wait_for(1, timeout=20)[0].get_id() == "uid/1/tool/t1/completed"
    assert (tmp_path / f"handled-by-{first.pid}").read_text() == "uid/1/tool/t1"
    assert (tmp_path / f"handled-by-{second.pid}").read_text() == "uid/1/tool/t1"
    assert (tmp_path / "effects").read_text().splitlines() == ["uid/1/tool/t1"]
