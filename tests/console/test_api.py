"""The console's JSON API on the embedded server: lists, a run's page, actions and their auth."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from functions.cli.manifests import apply
from functions.ports import Resource, Store
from functions.serve.app import create_app
from functions.serve.settings import Settings
from tests.console.conftest import SAMPLES
from tests.console.test_browser import ASK, SLOW

SESSION = """
apiVersion: baton.dev/v1alpha1
kind: Model
metadata: {name: chatty}
spec:
  provider: scripted
  script:
    - {text: "Hello, ask me anything."}
    - {text: "You said: {{task}}"}
---
apiVersion: baton.dev/v1alpha1
kind: Agent
metadata: {name: chat}
spec: {modelRef: {name: chatty}}
---
apiVersion: baton.dev/v1alpha1
kind: AgentRun
metadata: {name: session-run}
spec: {agentRef: {name: chat}, mode: server, task: "Hi"}
"""


class Console:
    """A test client of the embedded server with its console, and its store."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.client = app.test_client()
        self.store: Store = app.extensions["baton"]["store"]

    def apply(self, text: str) -> None:
        docs = [d for d in yaml.safe_load_all(text) if d]
        for d in docs:
            d["metadata"].setdefault("namespace", "default")
        apply(self.store, docs, rerun=True)

    def run(self, name: str) -> Resource:
        return self.store.get("AgentRun", "default", name)

    def wait(self, name: str, phases: set[str], timeout: float = 20) -> Resource:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.run(name)
            if (run.get("status") or {}).get("phase") in phases:
                return run
            time.sleep(0.02)
        raise AssertionError(f"{name} not in {phases}: {self.run(name).get('status')}")

    def finished_page(self, name: str, timeout: float = 20) -> Any:
        """The run's page once its chain ended: run.finished is logged just after the phase
        is written (by the thread that wrote it), and the finalize step's end is that event."""
        deadline = time.monotonic() + timeout
        while True:
            page = self.get(f"runs/default/{name}").get_json()
            if any(e["type"] == "run.finished" for e in page["events"]):
                return page
            assert time.monotonic() < deadline, f"run.finished never logged: {page['events']}"
            time.sleep(0.02)

    def get(self, path: str) -> Any:
        return self.client.get("/console/api/" + path)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.client.post("/console/api/runs/default/" + path, json=body, **kwargs)


@pytest.fixture
def console(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Console]]:
    """A factory: the embedded server bound (as it believes) to ``host``, with ``token``."""
    apps: list[Any] = []

    def make(host: str = "127.0.0.1", token: str | None = None) -> Console:
        monkeypatch.setenv("BATON_BIND_HOST", host)
        if token is None:
            monkeypatch.delenv("BATON_INGRESS_TOKEN", raising=False)
        else:
            monkeypatch.setenv("BATON_INGRESS_TOKEN", token)
        app = create_app(None, settings=Settings(store=f"sqlite:///{tmp_path}/state.db"))
        apps.append(app)
        return Console(app)

    yield make
    for app in apps:
        app.extensions["baton"]["close"]()


def test_the_list_filters_and_counts_by_phase(console: Callable[..., Console]) -> None:
    """Counts cover every phase; agent, phase, label and name filters narrow the rows."""
    c = console()
    c.apply((SAMPLES / "tools.yaml").read_text())
    c.apply((SAMPLES / "hello.yaml").read_text())
    c.apply(ASK.replace("name: ask-run}", "name: ask-run, labels: {team: ops}}"))
    for name in ("tools-demo", "hello"):
        c.wait(name, {"Succeeded"})
    c.wait("ask-run", {"AwaitingApproval"})
    doc = c.get("runs").get_json()
    assert {r["name"] for r in doc["runs"]} == {"tools-demo", "hello", "ask-run"}
    assert doc["counts"]["Succeeded"] == 2 and doc["counts"]["AwaitingApproval"] == 1
    assert doc["counts"]["Failed"] == 0
    by_phase = c.get("runs?phase=Succeeded").get_json()
    assert {r["name"] for r in by_phase["runs"]} == {"tools-demo", "hello"}
    assert by_phase["counts"] == doc["counts"]  # counts ignore the phase filter: tabs
    assert [r["name"] for r in c.get("runs?agent=careful").get_json()["runs"]] == ["ask-run"]
    assert [r["name"] for r in c.get("runs?label=team=ops").get_json()["runs"]] == ["ask-run"]
    assert [r["name"] for r in c.get("runs?q=HELL").get_json()["runs"]] == ["hello"]
    tools = next(r for r in doc["runs"] if r["name"] == "tools-demo")
    assert (tools["tokens"], tools["cost"], tools["agent"]) == (791, "0.003321", "sre")


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("phase=Done", "phase 'Done'"),
        ("label=team", "label 'team'"),
        ("limit=0", "limit '0'"),
        ("limit=abc", "limit 'abc'"),
        ("namespace=Bad_NS", "namespace 'Bad_NS'"),
        ("agent=../x", "agent '../x'"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(
    console: Callable[..., Console], query: str, named: str
) -> None:
    """The answer says which filter is wrong, as JSON."""
    reply = console().get(f"runs?{query}")
    assert reply.status_code == 400
    assert reply.get_json()["reason"] == "BadFilter"
    assert named in reply.get_json()["message"]


def test_unknown_and_invalid_run_names(console: Callable[..., Console]) -> None:
    """An unknown run is 404, an invalid name 400; both JSON, neither reaches a traceback."""
    c = console()
    missing = c.get("runs/default/nope")
    assert missing.status_code == 404 and "default/nope" in missing.get_json()["message"]
    bad = c.get("runs/default/Not_A_Name")
    assert bad.status_code == 400 and bad.get_json()["reason"] == "BadName"
    assert c.get("nothing-here").status_code == 404
    assert c.post("nope/explode").status_code == 404


def test_a_run_page_adds_up(console: Callable[..., Console]) -> None:
    """Each model step's cost and tokens add up to what the run's status says."""
    c = console()
    c.apply((SAMPLES / "tools.yaml").read_text())
    run = c.wait("tools-demo", {"Succeeded"})
    page = c.finished_page("tools-demo")
    models = [s for s in page["steps"] if s["kind"] == "model"]
    assert sum(Decimal(s["cost"]) for s in models) == Decimal(run["status"]["costEstimate"])
    assert sum(s["tokens"]["total"] for s in models) == run["status"]["tokenUsage"]["total"]
    assert all(s["durationMs"] is not None and s["durationMs"] >= 0 for s in page["steps"])
    starts = [s["start"] for s in page["steps"]]
    assert starts == sorted(starts)  # the chain in order
    kinds = [i["kind"] for i in page["transcript"]]
    assert kinds == ["system", "user", "assistant", "tool_result", "assistant"]
    assert page["conditions"][0]["reason"] == "Validated"
    assert page["totals"] == {
        "runs": 1,
        "tokens": 791,
        "cost": "0.003321",
        "modelCalls": 2,
        "toolCalls": 1,
    }


def test_a_sub_agent_tree_totals_every_run(console: Callable[..., Console]) -> None:
    """The parent's page nests both children; totals are the sum over the three runs."""
    c = console()
    c.apply((SAMPLES / "subagents.yaml").read_text())
    parent = c.wait("research-demo", {"Succeeded"})
    page = c.get("runs/default/research-demo").get_json()
    nested = [s["run"] for s in page["steps"] if "run" in s]
    assert [n["run"]["parent"] for n in nested] == ["research-demo", "research-demo"]
    runs = [parent, *(c.run(n["run"]["name"]) for n in nested)]
    assert page["totals"]["runs"] == 3
    assert page["totals"]["tokens"] == sum(r["status"]["tokenUsage"]["total"] for r in runs)
    assert Decimal(page["totals"]["cost"]) == sum(
        Decimal(r["status"]["costEstimate"]) for r in runs
    )


def test_actions_are_off_beyond_loopback_without_a_token(console: Callable[..., Console]) -> None:
    """Bound to 0.0.0.0 with no token: reading works, cancelling is refused and changes nothing."""
    c = console(host="0.0.0.0")
    c.apply(SLOW)
    c.wait("slow-run", {"Running"})
    assert c.get("info").get_json()["actions"] == "off"
    reply = c.post("slow-run/cancel", {})
    assert reply.status_code == 403
    assert "BATON_INGRESS_TOKEN" in reply.get_json()["message"]
    assert "baton.dev/cancel" not in (c.run("slow-run")["metadata"].get("annotations") or {})
    assert c.get("runs/default/slow-run").status_code == 200


def test_actions_need_the_bearer_token(console: Callable[..., Console]) -> None:
    """With a token: none or a wrong one is 401; the right one cancels the run."""
    c = console(host="0.0.0.0", token="s3cret-token")
    c.apply(SLOW)
    c.wait("slow-run", {"Running"})
    missing = c.post("slow-run/cancel", {})
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = c.post("slow-run/cancel", {}, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "s3cret" not in wrong.get_data(as_text=True)
    ok = c.post(
        "slow-run/cancel", {"by": "alice"}, headers={"Authorization": "Bearer s3cret-token"}
    )
    assert ok.status_code == 202
    run = c.wait("slow-run", {"Cancelled"})
    assert run["metadata"]["annotations"]["baton.dev/cancel"] == "alice"
    again = c.post("slow-run/cancel", {}, headers={"Authorization": "Bearer s3cret-token"})
    assert again.status_code == 409 and again.get_json()["reason"] == "Finished"


def test_reject_tells_the_model_and_approve_names_what_it_waits_on(
    console: Callable[..., Console],
) -> None:
    """Approving a call the run does not wait on is 409 naming the call it does wait on."""
    c = console()
    c.apply(ASK)
    c.wait("ask-run", {"AwaitingApproval"})
    wrong = c.post("ask-run/approve", {"calls": ["other"]})
    assert wrong.status_code == 409 and "call-time" in wrong.get_json()["message"]
    assert c.post("ask-run/approve", {"calls": "call-time"}).status_code == 400
    reply = c.post("ask-run/reject", {"calls": ["call-time"], "by": "bob"})
    assert reply.status_code == 202 and reply.get_json() == {
        "decided": ["call-time"],
        "rejected": True,
    }
    c.wait("ask-run", {"Succeeded"})
    page = c.get("runs/default/ask-run").get_json()
    (result,) = [i for i in page["transcript"] if i["kind"] == "tool_result"]
    assert result["isError"] and "bob" in result["text"]


def test_input_to_a_session(console: Callable[..., Console]) -> None:
    """A Serving run takes input from the console and answers it; bad bodies are 4xx."""
    c = console()
    c.apply(SESSION)
    c.wait("session-run", {"Serving"})
    assert c.post("session-run/input", {"text": ""}).status_code == 400
    assert c.post("session-run/input", {"text": "x" * 100_001}).status_code == 400
    not_json = c.client.post("/console/api/runs/default/session-run/input", data=b"{nope")
    assert not_json.status_code == 400 and "JSON" in not_json.get_json()["message"]
    huge = c.client.post("/console/api/runs/default/session-run/input", data=b" " * 300_000)
    assert huge.status_code == 413
    assert c.post("session-run/input", {"text": "ping", "id": "m1"}).status_code == 202
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        items = c.get("runs/default/session-run").get_json()["transcript"]
        if (
            any(i["kind"] == "user" and i["text"] == "ping" for i in items)
            and items[-1]["kind"] == "assistant"
        ):
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"no answer to the input: {items}")
    c.apply((SAMPLES / "hello.yaml").read_text())
    c.wait("hello", {"Succeeded"})
    refused = c.post("hello/input", {"text": "more?"})
    assert refused.status_code == 409 and refused.get_json()["reason"] == "NotASession"


def test_the_catalog_says_which_runs_used_what_and_hides_credentials(
    console: Callable[..., Console],
) -> None:
    """Agents, models and MCP servers with their runs; URL credentials stay out."""
    c = console()
    c.apply((SAMPLES / "tools.yaml").read_text())
    c.apply(
        "apiVersion: baton.dev/v1alpha1\nkind: MCPServer\nmetadata: {name: remote}\n"
        "spec: {transport: http, url: 'https://user:pw-s3cret@mcp.example.com/x?key=s3cret'}\n"
    )
    c.wait("tools-demo", {"Succeeded"})
    doc = c.get("catalog").get_json()
    (sre,) = [a for a in doc["agents"] if a["name"] == "sre"]
    assert sre["runs"] == 1 and sre["recent"] == ["tools-demo"] and sre["model"] == "claude-sre"
    (model,) = [m for m in doc["models"] if m["name"] == "claude-sre"]
    assert model["runs"] == 1 and model["agents"] == ["sre"]
    (server,) = doc["mcpServers"]
    assert server["where"] == "https://mcp.example.com/x"
    assert "s3cret" not in c.get("catalog").get_data(as_text=True)
