"""Which status changes become Events a person reads on the run."""

from __future__ import annotations

from functions.observe.run_events import RunEvent, journal_events, status_events


def _cond(type_: str, status: str, reason: str, message: str) -> dict[str, str]:
    return {"type": type_, "status": status, "reason": reason, "message": message}


def test_acceptance_and_start_are_told() -> None:
    """A run accepted by validate shows Validated, then Started naming its agent."""
    after = {
        "phase": "Running",
        "conditions": [_cond("Accepted", "True", "Validated", "spec and references are valid")],
    }
    assert status_events({}, after, "sre") == [
        RunEvent("Validated", "spec and references are valid"),
        RunEvent("Started", "the run started (agent sre)"),
    ]


def test_waiting_on_a_reference_is_a_warning_once() -> None:
    """Pending on a missing Agent is one Warning; re-validating without change adds none."""
    pending = {
        "phase": "Pending",
        "conditions": [_cond("Accepted", "False", "AgentNotFound", 'agent "x" not found')],
    }
    assert status_events({}, pending) == [
        RunEvent("AgentNotFound", 'agent "x" not found', "Warning")
    ]
    assert status_events(pending, dict(pending, lastEventTime="later")) == []


def test_a_model_retry_repeats_with_the_same_message() -> None:
    """Each extra model attempt is RetryingModel with one message, so they count up."""
    cond = _cond("ModelAvailable", "False", "RateLimited", "429 from the API")
    first = status_events({"modelAttempts": 0}, {"modelAttempts": 1, "conditions": [cond]})
    second = status_events(
        {"modelAttempts": 1, "conditions": [cond]}, {"modelAttempts": 2, "conditions": [cond]}
    )
    assert first == second == [
        RunEvent(
            "RetryingModel", "the model call failed (RateLimited: 429 from the API); retrying",
            "Warning",
        )
    ]  # fmt: skip


def test_terminal_phases_carry_the_reason() -> None:
    """Failed names its reason (a budget, a timeout); Succeeded sums the run up."""
    failed = status_events(
        {"phase": "Running"},
        {"phase": "Failed", "error": {"reason": "Timeout", "message": "ran longer than 5m"}},
    )
    assert failed == [RunEvent("Timeout", "ran longer than 5m", "Warning")]
    done = status_events(
        {"phase": "Running"},
        {"phase": "Succeeded", "durationMs": 12, "step": 2, "toolCalls": 1,
         "tokenUsage": {"total": 791}, "costEstimate": "0.0033"},
    )  # fmt: skip
    assert done == [
        RunEvent(
            "Succeeded",
            "finished in 12 ms: 2 model turns, 1 tool call, 791 tokens, cost $0.0033",
        )
    ]


def test_approval_and_delivery() -> None:
    """Awaiting approval is Normal (a step, not a fault); a posted answer is Delivered."""
    ask = _cond("ToolApproved", "False", "AwaitingApproval", "tool calc (call c1) waits")
    assert status_events(
        {"phase": "Running"}, {"phase": "AwaitingApproval", "conditions": [ask]}
    ) == [RunEvent("AwaitingApproval", "tool calc (call c1) waits")]
    posted = _cond("Delivered", "True", "Posted", "posted to slack")
    assert status_events({}, {"conditions": [posted]}) == [RunEvent("Delivered", "posted to slack")]


def test_a_denied_tool_is_told_from_the_journal() -> None:
    """A tool result saying the policy denied it is a ToolDenied warning."""
    entry = {"content": "tool delete_run is denied by the agent's tool policy", "is_error": True}
    assert journal_events("tool/1/c1", entry) == [
        RunEvent("ToolDenied", "tool delete_run is denied by the agent's tool policy", "Warning")
    ]
    assert journal_events("tool/1/c1", {"content": "42", "is_error": False}) == []
