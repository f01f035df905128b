"""The console in a real browser: the live list, a run's timeline, approving from the page."""

from __future__ import annotations

import re
from typing import Any

from tests.console.conftest import Console

SLOW = """
apiVersion: baton.dev/v1alpha1
kind: Model
metadata: {name: slow}
spec:
  provider: scripted
  script:
    - {text: "Checking.", delayMs: 1500, toolCalls: [{name: calculate, input: {expression: "6*7"}}]}
    - {text: "It is 42.", delayMs: 1500}
---
apiVersion: baton.dev/v1alpha1
kind: Agent
metadata: {name: thinker}
spec:
  modelRef: {name: slow}
  tools: [{builtin: calculate}]
---
apiVersion: baton.dev/v1alpha1
kind: AgentRun
metadata: {name: slow-run}
spec: {agentRef: {name: thinker}, task: "What is 6*7?"}
"""

ASK = """
apiVersion: baton.dev/v1alpha1
kind: Model
metadata: {name: asker}
spec:
  provider: scripted
  script:
    - text: "I need the time."
      toolCalls: [{id: call-time, name: current_time, input: {timezone: UTC}}]
    - {text: "Done: {{last_tool_result}}"}
---
apiVersion: baton.dev/v1alpha1
kind: Agent
metadata: {name: careful}
spec:
  modelRef: {name: asker}
  tools: [{builtin: current_time}]
  toolPolicy: {ask: ["current_*"]}
---
apiVersion: baton.dev/v1alpha1
kind: AgentRun
metadata: {name: ask-run}
spec: {agentRef: {name: careful}, task: "What time is it?"}
"""


def _row(page: Any, name: str) -> Any:
    return page.locator(f'table.runs tr[data-name="{name}"]')


def test_the_list_updates_while_a_run_progresses(console: Console, page: Any) -> None:
    """A run appears, is Running, then Succeeded, and the counts follow: no reload."""
    from playwright.sync_api import expect

    page.goto(console.url)
    expect(page.locator("#live")).to_have_text("live")
    expect(page.locator(".empty")).to_be_visible()
    console.apply(SLOW)
    row = _row(page, "slow-run")
    expect(row).to_have_attribute("data-phase", "Running", timeout=10_000)
    expect(page.locator('.chip[data-phase="Running"] .count')).to_have_text("1")
    expect(row).to_have_attribute("data-phase", "Succeeded", timeout=15_000)
    expect(page.locator('.chip[data-phase="Succeeded"] .count')).to_have_text("1")
    expect(page.locator('.chip[data-phase="Running"] .count')).to_have_text("0")
    expect(row.locator("td").nth(3)).to_have_text("thinker")
    assert console.run("slow-run")["status"]["phase"] == "Succeeded"


def test_filters_narrow_the_list(console: Console, page: Any) -> None:
    """Filtering by agent keeps that agent's runs; a phase chip keeps that phase."""
    from playwright.sync_api import expect

    console.sample("tools.yaml")
    console.apply(ASK)
    page.goto(console.url)
    expect(_row(page, "tools-demo")).to_have_attribute("data-phase", "Succeeded", timeout=10_000)
    expect(_row(page, "ask-run")).to_have_attribute("data-phase", "AwaitingApproval")
    page.fill('input[name="agent"]', "careful")
    page.click("form.filters button[type=submit]")
    expect(_row(page, "tools-demo")).to_have_count(0)
    expect(_row(page, "ask-run")).to_have_count(1)
    page.goto(console.url + "#/runs?phase=Succeeded")
    expect(_row(page, "tools-demo")).to_have_count(1)
    expect(_row(page, "ask-run")).to_have_count(0)


def _steps(page: Any) -> list[str]:
    labels = page.locator(".timeline .tl-row:not(.tl-head) .tl-label").all_inner_texts()
    return [re.sub(r"\s+", " ", t).strip() for t in labels]


def test_the_timeline_of_tools_yaml_shows_every_step(console: Console, page: Any) -> None:
    """validate, context, model call, the tool, model call, finalize: each with a bar."""
    from playwright.sync_api import expect

    console.sample("tools.yaml")
    console.wait_chain_end("tools-demo")  # the page shows the events logged when it loads
    page.goto(console.url + "#/runs/default/tools-demo")
    expect(page.locator(".head .phase")).to_have_text("Succeeded", timeout=10_000)
    steps = _steps(page)
    assert steps[0].endswith("validate") and steps[1].endswith("prepare context")
    assert "model call · step 1 · claude-sre" in steps[2]
    assert "current_time" in steps[3]
    assert "model call · step 2" in steps[4]
    assert steps[5].endswith("finalize")
    assert len(steps) == 6
    assert page.locator(".timeline .track .bar").count() == 6
    expect(page.locator(".tl-totals")).to_contain_text("791 tokens")
    expect(page.locator(".tl-totals")).to_contain_text("$0.003321")
    page.click('button[data-tab="transcript"]')
    expect(page.locator(".msg-tool pre").first).to_contain_text(
        str(console.run("tools-demo")["status"]["result"])[24:34]
    )
    page.click('button[data-tab="events"]')
    expect(page.locator("table.events tbody tr")).to_have_count(8)


def test_a_page_opened_while_the_run_runs_ends_with_its_whole_chain(
    console: Console, page: Any
) -> None:
    """Opened at once, the page follows the run to its end: all 8 events, run.finished last."""
    from playwright.sync_api import expect

    console.sample("tools.yaml")
    page.goto(console.url + "#/runs/default/tools-demo")
    expect(page.locator(".head .phase")).to_have_text("Succeeded", timeout=15_000)
    page.click('button[data-tab="events"]')
    rows = page.locator("table.events tbody tr")
    expect(rows).to_have_count(8, timeout=15_000)
    expect(rows.last).to_contain_text("run.finished")


def test_the_timeline_nests_sub_agent_runs(console: Console, page: Any) -> None:
    """The subagents sample: both children under their tool calls, each with its own steps."""
    from playwright.sync_api import expect

    console.sample("subagents.yaml")
    page.goto(console.url + "#/runs/default/research-demo")
    expect(page.locator(".head .phase")).to_have_text("Succeeded", timeout=15_000)
    expect(page.locator(".tl-child")).to_have_count(2)
    steps = _steps(page)
    assert sum("researcher ask-" in s for s in steps) == 2
    assert sum("current_time" in s for s in steps) == 2  # each child's own tool call
    assert sum("researcher-model" in s for s in steps) == 4  # two model calls per child
    for child in page.locator(".tl-child a").all_inner_texts():
        assert console.run(child)["spec"]["parent"]["runName"] == "research-demo"
    expect(page.locator(".tl-totals")).to_contain_text(
        "Tree: 3 runs · 6 model calls · 4 tool calls"
    )


def test_approve_from_the_page(console: Console, page: Any) -> None:
    """A run parked on an ask policy goes on when its call is approved in the page."""
    from playwright.sync_api import expect

    console.apply(ASK)
    page.goto(console.url + "#/runs/default/ask-run")
    expect(page.locator(".head .phase")).to_have_text("AwaitingApproval", timeout=10_000)
    row = page.locator('.tl-row[data-state="awaiting approval"]')
    expect(row).to_contain_text("current_time")
    row.locator('button[data-action="approve"]').click()
    expect(page.locator(".head .phase")).to_have_text("Succeeded", timeout=15_000)
    run = console.run("ask-run")
    assert run["metadata"]["annotations"]["baton.dev/approve"] == "call-time"
    assert run["status"]["result"].startswith("Done: ")


def test_thinking_is_shown_collapsed(console: Console, page: Any) -> None:
    """A reply's thinking is folded away under its text; opening it shows the thinking."""
    from playwright.sync_api import expect

    run = console.store.create(
        {
            "apiVersion": "baton.dev/v1alpha1",
            "kind": "AgentRun",
            "metadata": {"name": "thinker-run", "namespace": "default"},
            "spec": {"agentRef": {"name": "not-there-yet"}, "task": "Think first."},
        }
    )
    # The journal as the anthropic adapter records a reply with extended thinking.
    console.store.append_journal(run, "context", {"system": "Be brief.", "messages": []})
    reply = {
        "role": "assistant",
        "content": [
            {
                "type": "thinking",
                "thinking": "The user wants brevity; say one word.",
                "signature": "x",
            },
            {"type": "text", "text": "Done."},
        ],
        "stop_reason": "end_turn",
        "model": "claude-sonnet-4-5",
        "usage": {"input": 10, "output": 5, "cacheRead": 0, "cacheCreation": 0},
    }
    console.store.append_journal(run, "reply/1", reply)
    page.goto(console.url + "#/runs/default/thinker-run")
    page.click('button[data-tab="transcript"]')
    thinking = page.locator("details.thinking")
    expect(thinking).to_have_count(1)
    expect(thinking.locator("pre")).not_to_be_visible()
    expect(page.locator(".msg-assistant .text")).to_have_text("Done.")
    thinking.locator("summary").click()
    expect(thinking.locator("pre")).to_have_text("The user wants brevity; say one word.")


def test_send_input_to_a_session_from_the_page(console: Console, page: Any) -> None:
    """A Serving run's page takes input; the answer appears in its transcript."""
    from playwright.sync_api import expect

    from tests.console.test_api import SESSION

    console.apply(SESSION)
    page.goto(console.url + "#/runs/default/session-run")
    expect(page.locator(".head .phase")).to_have_text("Serving", timeout=10_000)
    page.fill("input.send-input", "ping from the page")
    page.click("form.send button[type=submit]")
    page.click('button[data-tab="transcript"]')
    expect(page.locator(".msg-user p").last).to_have_text("ping from the page", timeout=10_000)
    # The session answers this input too: a second assistant message, after it.
    expect(page.locator(".msg-assistant")).to_have_count(2, timeout=10_000)
    expect(page.locator(".msg").last).to_have_class(re.compile("msg-assistant"))


def test_agents_and_models_say_which_runs_used_them(console: Console, page: Any) -> None:
    """The resources page lists the sample's agent and model with the run that used them."""
    from playwright.sync_api import expect

    console.sample("tools.yaml")
    page.goto(console.url + "#/resources")
    agent = page.locator('section.resources tr[data-name="sre"]')
    expect(agent).to_contain_text("claude-sre", timeout=10_000)
    expect(agent).to_contain_text("1 runs")
    agent.locator("a", has_text="tools-demo").click()
    expect(page.locator(".head h1")).to_have_text("tools-demo")
