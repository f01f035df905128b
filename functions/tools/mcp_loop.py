"""A private asyncio loop on a daemon thread, so synchronous transitions can use async MCP.

The mcp client is async and its sessions live on one loop; baton's transitions are
synchronous and run on many threads. Each call submits a coroutine to the loop and
waits for it; the logic exists once, in async form.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread"]

T = TypeVar("T")


async def _cancel_others() -> None:
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)


class LoopThread:
    """An event loop running on its own thread until ``close()``."""

    def __init__(self, name: str = "baton-mcp") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    @property
    def running(self) -> bool:
        """Whether the loop still accepts work."""
        return self._thread.is_alive() and not self._loop.is_closed()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and wait; TimeoutError (task cancelled) after ``timeout``."""
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no answer within {timeout}s") from None

    def close(self, timeout: float = 10.0) -> None:
        """Cancel what still runs (its callers get CancelledError), stop the loop, join."""
        if self._loop.is_closed():
            return
        if self.running:
            with contextlib.suppress(TimeoutError):
                self.run(_cancel_others(), timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._loop.close()
