"""gunicorn's gthread worker with a read deadline: a slow sender cannot hold a thread.

gunicorn reads a request's headers and body in one of its threads with a blocking socket
and no time limit; 32 clients that send half a request and stop hold all 32 threads of a
function (health checks then time out) for as long as they like. Here every request must
arrive whole (headers and body) within ``BATON_READ_DEADLINE`` seconds (default 10) of its
first byte; past that, the read fails and the connection closes (the app answers 408 when
it was reading the body). The time the app takes to answer is not bounded by this.
Use it with ``worker_class = "functions.serve.worker.DeadlineThreadWorker"``.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any, Final

from gunicorn.http.errors import NoMoreData
from gunicorn.workers.gthread import ThreadWorker

__all__ = ["DEFAULT_READ_DEADLINE", "DeadlineThreadWorker", "ReadDeadlineExceeded"]

DEFAULT_READ_DEADLINE: Final = 10.0


class ReadDeadlineExceeded(NoMoreData, TimeoutError):  # type: ignore[misc]
    """The request did not arrive within the read deadline.

    A ``NoMoreData`` so gunicorn closes the connection quietly (as for a client gone), a
    ``TimeoutError`` so its body drain gives up as on any socket timeout.
    """

    def __str__(self) -> str:
        return "the request did not arrive within the read deadline"


class DeadlineSocket:
    """A socket whose reads fail once the deadline of the current request has passed."""

    def __init__(self, sock: socket.socket, seconds: float) -> None:
        self._sock = sock
        self._seconds = seconds
        self._deadline = time.monotonic() + seconds
        self._timeout: float | None = None

    def restart(self) -> None:
        """A new request starts: a new deadline."""
        self._deadline = time.monotonic() + self._seconds

    def settimeout(self, value: float | None) -> None:
        self._timeout = value
        self._sock.settimeout(value)

    def gettimeout(self) -> float | None:
        return self._timeout

    def setblocking(self, flag: bool) -> None:
        self._timeout = None if flag else 0.0
        self._sock.setblocking(flag)

    def recv(self, size: int, *flags: int) -> bytes:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise ReadDeadlineExceeded()
        if self._timeout == 0.0:  # non-blocking: the poller's business
            return self._sock.recv(size, *flags)
        wait = remaining if self._timeout is None else min(remaining, self._timeout)
        self._sock.settimeout(wait)
        try:
            return self._sock.recv(size, *flags)
        except TimeoutError:
            if time.monotonic() >= self._deadline:
                raise ReadDeadlineExceeded() from None
            raise
        finally:
            self._sock.settimeout(self._timeout)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def read_deadline(env: Any = None) -> float:
    """``BATON_READ_DEADLINE`` in seconds (default 10)."""
    env = os.environ if env is None else env
    return float(env.get("BATON_READ_DEADLINE") or DEFAULT_READ_DEADLINE)


class DeadlineThreadWorker(ThreadWorker):  # type: ignore[misc]
    """gthread, with each request's reading bounded by the read deadline."""

    def handle(self, conn: Any) -> Any:
        if isinstance(conn.sock, DeadlineSocket):
            conn.sock.restart()
        elif not conn.initialized:
            # Wrapped before the parser exists, so the parser reads through the wrapper.
            conn.sock = DeadlineSocket(conn.sock, read_deadline())
        return super().handle(conn)
