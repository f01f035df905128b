"""Fixtures for the console: ``baton serve`` under real gunicorn, and a real Chromium.

The browser is Debian's ``chromium`` (installed by ``make tools``) driven by playwright
with that executable: playwright's own browser download is never used.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from functions.cli.manifests import apply
from functions.ports import Resource
from functions.resources.sqlite import SqliteStore
from tests.fixtures.http import Served, request, serve_function
from tests.fixtures.kube import require_component

BATON = str(Path(sys.executable).parent / "baton")
SAMPLES = Path(__file__).resolve().parents[2] / "config" / "samples"


def chromium_path() -> str | None:
    """The system Chromium, if installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class Console:
    """A served console and the store behind it."""

    served: Served
    store: SqliteStore

    @property
    def url(self) -> str:
        """The console's page."""
        return self.served.url + "console/"

    def apply(self, text: str) -> list[Resource]:
        """Create the resources of a YAML text (the server's runtime picks runs up)."""
        docs = [d for d in yaml.safe_load_all(text) if d]
        for doc in docs:
            doc["metadata"].setdefault("namespace", "default")
        return [a.obj for a in apply(self.store, docs, rerun=True)]

    def sample(self, name: str) -> list[Resource]:
        """Apply one of config/samples."""
        return self.apply((SAMPLES / name).read_text())

    def run(self, name: str) -> Resource:
        """The run as stored now."""
        return self.store.get("AgentRun", "default", name)

    def wait_chain_end(self, name: str, timeout: float = 30) -> None:
        """Until the server logged the run's run.finished: it lands just after the phase is
        written, and a run page loaded on a terminal phase is not loaded again."""
        deadline = time.monotonic() + timeout
        while True:
            reply = request(f"{self.served.url}console/api/runs/default/{name}")
            events = json.loads(reply.body).get("events", []) if reply.status == 200 else []
            if any(e["type"] == "run.finished" for e in events):
                return
            assert time.monotonic() < deadline, f"run.finished of {name} never logged: {events}"
            time.sleep(0.05)


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    """``baton serve`` (the embedded server, console mounted) on a fresh SQLite store."""
    db = tmp_path / "state.db"
    store = SqliteStore(str(db))
    with serve_function(
        None, store=f"sqlite:///{db}", log_dir=tmp_path, command=[BATON, "serve"]
    ) as served:
        yield Console(served, store)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (the system one) through playwright, for one test module.

    Playwright's sync API keeps an event loop running in the main thread while it lives:
    held past its module it would break every later test that calls ``asyncio.run``.
    """
    path = chromium_path()
    if path is None:
        require_component("chromium is not installed (make tools installs it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_component("playwright is not installed (the test extra has it)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=path, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser page (1400x900), closed after the test."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"the page raised: {errors}"
