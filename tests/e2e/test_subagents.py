"""A parent agent delegates to a sub-agent: a child AgentRun whose answer is the tool result."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import RESEARCH_TEAM, docs_of, run_docs, wait_terminal

MODELS_AND_RUN = """
apiVersion: baton.dev/v1alpha1
kind: Model
metadata: {name: lead-model}
spec:
  provider: scripted
  script:
    - text: "Delegating."
      toolCalls: CALLS
    - text: "The researchers say: {{last_tool_result}}"
---
apiVersion: baton.dev/v1alpha1
kind: Model
metadata: {name: helper-model}
spec:
  provider: scripted
  script:
    - text: "findings on {{task}}"
---
apiVersion: baton.dev/v1alpha1
kind: AgentRun
metadata: {name: lead-run}
spec:
  agentRef: {name: lead}
  task: Research two topics.
"""


def _calls(*topics: str) -> str:
    return (
        "["
        + ", ".join(
            f'{{id: c{i}, name: researcher, input: {{task: "{t}"}}}}' for i, t in enumerate(topics)
        )
        + "]"
    )


def test_parent_resumes_with_its_childrens_answers(embedded: Any) -> None:
    """Two child runs answer; the parent's next turn sees both results and succeeds."""
    rt = embedded()
    run_docs(
        rt,
        docs_of(RESEARCH_TEAM) + docs_of(MODELS_AND_RUN.replace("CALLS", _calls("tides", "winds"))),
    )
    run = wait_terminal(rt, "lead-run")
    assert run["status"]["phase"] == "Succeeded"
    assert run["status"]["result"] == "The researchers say: findings on tides\nfindings on winds"
    children = rt.store.list(
        "AgentRun", "default", {"baton.dev/parent-uid": run["metadata"]["uid"]}
    )
    assert len(children) == 2
    for child in children:
        assert child["status"]["phase"] == "Succeeded"
        assert child["spec"]["parent"]["spawnDepth"] == 1
        assert child["metadata"]["ownerReferences"][0]["uid"] == run["metadata"]["uid"]
    assert run["status"]["toolCalls"] == 2


def test_more_children_than_allowed_are_refused_to_the_model(embedded: Any) -> None:
    """maxChildrenPerAgent 2: the third delegation comes back to the model as an error."""
    rt = embedded()
    run_docs(
        rt, docs_of(RESEARCH_TEAM) + docs_of(MODELS_AND_RUN.replace("CALLS", _calls("a", "b", "c")))
    )
    run = wait_terminal(rt, "lead-run")
    journal = dict(rt.store.read_journal(run))
    refused = [e for k, e in journal.items() if k.startswith("tool/1/") and e["is_error"]]
    assert len(refused) == 1
    assert "subagents.maxChildrenPerAgent" in refused[0]["content"]
    assert (
        len(rt.store.list("AgentRun", "default", {"baton.dev/parent-uid": run["metadata"]["uid"]}))
        == 2
    )
