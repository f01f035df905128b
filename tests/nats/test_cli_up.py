"""`baton up` starts a NATS deployment as separate processes; `baton run --nats` uses it."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.fixtures.nats import require_nats_server

REPO = Path(__file__).resolve().parents[2]


def _baton(*args: str) -> list[str]:
    return [sys.executable, "-m", "functions.cli.main", *args]


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a parent to reap it has stopped: it counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def test_up_runs_the_sample_across_processes_and_stops_cleanly(tmp_path: Path) -> None:
    """Both samples Succeed through `baton up`; Ctrl-C stops every process it started."""
    require_nats_server()
    db = str(tmp_path / "state.db")
    up = subprocess.Popen(
        _baton("--db", db, "up"),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 30
        assert up.stdout is not None
        while time.monotonic() < deadline:
            line = up.stdout.readline()
            lines.append(line)
            if line.startswith("Ctrl-C"):
                break
        text = "".join(lines)
        url = re.search(r"NATS (nats://127\.0\.0\.1:\d+)", text)
        assert url, text
        pids = [int(p) for p in re.findall(r"pid (\d+)", text)]
        assert len(pids) >= 9  # a worker per function plus the source
        run = subprocess.run(
            _baton(
                "--db",
                db,
                "run",
                "--nats",
                url.group(1),
                "--timeout",
                "60",
                "config/samples/tools.yaml",
                "config/samples/hello.yaml",
            ),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        assert "tools-demo: Succeeded" in run.stdout
        assert "hello: Succeeded" in run.stdout
        assert "answer: The current UTC time is" in run.stdout
    finally:
        up.send_signal(signal.SIGINT)
        code = up.wait(timeout=30)
    assert code == 0
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in pids if _alive(p)]


def test_a_worker_waiting_for_nats_says_so_in_one_line_without_the_password(
    tmp_path: Path,
) -> None:
    """A server that is not there: a warning naming it (credentials hidden), no traceback."""
    import threading

    from tests.fixtures.http import free_port

    url = f"nats://baton:hunter2@127.0.0.1:{free_port()}"
    worker = subprocess.Popen(
        _baton("--db", str(tmp_path / "w.db"), "worker", "--nats", url, "--function", "validate"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    assert worker.stderr is not None
    lines: list[str] = []
    first = threading.Event()

    def read() -> None:
        assert worker.stderr is not None
        for line in worker.stderr:
            lines.append(line)
            if "ConnectionRefusedError" in line:
                first.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert first.wait(60), "".join(lines)
        time.sleep(2)  # four more reconnect attempts (every 0.5 s): none may add a line
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        reader.join(10)
    err = "".join(lines)
    said = [line for line in lines if "ConnectionRefusedError" in line]
    assert len(said) == 1, err  # once, not per attempt
    assert "nats://***@127.0.0.1" in said[0]
    assert "Traceback" not in err and "hunter2" not in err
