"""Take the console screenshots in docs/: ``make screenshots`` (needs ``make tools``).

Starts ``baton serve`` on a scratch store, applies the samples and a few runs in other
phases, and photographs the run list and a run page in headless Chromium.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
BATON = str(Path(sys.executable).parent / "baton")

EXTRA = """
apiVersion: baton.dev/v1alpha1
kind: Model
metadata: {name: slow-model}
spec:
  provider: scripted
  pricing: {inputPerMTok: 3, outputPerMTok: 15}
  script:
    - {text: "Looking into it.", delayMs: 600000, usage: {input: 200, output: 20}}
---
apiVersion: baton.dev/v1alpha1
kind: Agent
metadata: {name: analyst}
spec:
  modelRef: {name: slow-model}
---
apiVersion: baton.dev/v1alpha1
kind: AgentRun
metadata: {name: quarterly-report}
spec: {agentRef: {name: analyst}, task: Summarise the quarter.}
---
apiVersion: baton.dev/v1alpha1
kind: Model
metadata: {name: ops-model}
spec:
  provider: scripted
  pricing: {inputPerMTok: 3, outputPerMTok: 15}
  script:
    - text: "I will restart the deployment."
      toolCalls: [{id: call-restart, name: calculate, input: {expression: "2+2"}}]
      usage: {input: 300, output: 40}
    - {text: "Done.", usage: {input: 350, output: 10}}
---
apiVersion: baton.dev/v1alpha1
kind: Agent
metadata: {name: ops}
spec:
  modelRef: {name: ops-model}
  tools: [{builtin: calculate}]
  toolPolicy: {ask: ["*"]}
---
apiVersion: baton.dev/v1alpha1
kind: AgentRun
metadata: {name: restart-web, labels: {team: platform}}
spec: {agentRef: {name: ops}, task: Restart the web deployment.}
---
apiVersion: baton.dev/v1alpha1
kind: AgentRun
metadata: {name: broken-ref}
spec: {agentRef: {name: no-such-agent}, task: Anything., timeout: 1s}
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str) -> None:
    for _ in range(300):
        try:
            with urllib.request.urlopen(url + "healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("baton serve did not start")


def main() -> int:
    """Serve, fill, photograph."""
    from playwright.sync_api import expect, sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        port = _port()
        env = {**os.environ, "PORT": str(port), "BATON_BIND_HOST": "127.0.0.1"}
        env.update(BATON_STORE=f"sqlite:///{tmp}/state.db", BATON_DB=f"{tmp}/state.db")
        server = subprocess.Popen([BATON, "serve"], env=env, cwd=tmp, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}/"
            _wait(url)
            extra = Path(tmp) / "extra.yaml"
            extra.write_text(EXTRA)
            for sample in ("hello.yaml", "tools.yaml", "subagents.yaml"):
                subprocess.run(
                    [BATON, "apply", "-f", str(REPO / "config" / "samples" / sample)],
                    env=env, cwd=tmp, check=True, stdout=subprocess.DEVNULL,
                )  # fmt: skip
                time.sleep(0.4)
            subprocess.run(
                [BATON, "apply", "-f", str(extra)], env=env, cwd=tmp, check=True,
                stdout=subprocess.DEVNULL,
            )  # fmt: skip
            time.sleep(3)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path="/usr/bin/chromium", args=["--no-sandbox"]
                )
                page = browser.new_page(viewport={"width": 1360, "height": 760})
                page.add_init_script("localStorage.setItem('baton.console.theme', 'light')")
                page.goto(url + "console/#/runs?children=1")
                expect(page.locator('tr[data-name="restart-web"]')).to_have_attribute(
                    "data-phase", "AwaitingApproval"
                )
                page.screenshot(path=str(DOCS / "console-runs.png"))
                page.set_viewport_size({"width": 1360, "height": 1000})
                page.goto(url + "console/#/runs/default/research-demo")
                expect(page.locator(".tl-child")).to_have_count(2)
                page.screenshot(path=str(DOCS / "console-run.png"))
                dark = browser.new_page(viewport={"width": 1360, "height": 900})
                dark.add_init_script("localStorage.setItem('baton.console.theme', 'dark')")
                dark.goto(url + "console/#/runs/default/restart-web")
                expect(dark.locator('.tl-row[data-state="awaiting approval"]')).to_have_count(1)
                dark.click('button[data-tab="transcript"]')
                dark.click('button[data-tab="timeline"]')
                dark.screenshot(path=str(DOCS / "console-approval-dark.png"))
                browser.close()
        finally:
            server.terminate()
            try:
                server.wait(timeout=5)
            except subprocess.TimeoutExpired:  # the slow model's call holds a worker thread
                server.kill()
                server.wait()
    print("wrote docs/console-runs.png, docs/console-run.png, docs/console-approval-dark.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
