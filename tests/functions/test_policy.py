"""Tool policy: deny wins, allow lists narrow, ask parks, overrides only narrow."""

from __future__ import annotations

import pytest

from functions.run.policy import decide


@pytest.mark.parametrize(
    ("name", "policy", "verdict"),
    [
        ("calculate", {}, "allow"),
        ("calculate", None, "allow"),
        ("delete_run", {"deny": ["delete_*"]}, "deny"),
        ("calculate", {"deny": ["delete_*"]}, "allow"),
        ("calculate", {"allow": ["get_*"]}, "deny"),
        ("get_resource", {"allow": ["get_*"]}, "allow"),
        ("get_resource", {"allow": ["get_*"], "ask": ["get_*"]}, "ask"),
        ("get_resource", {"allow": ["*"], "deny": ["get_*"], "ask": ["get_*"]}, "deny"),
        ("Calculate", {"deny": ["calculate"]}, "allow"),
    ],
)
def test_one_policy(name, policy, verdict):
    """Glob patterns, case-sensitive; deny beats ask beats allow; allow lists exclude the rest."""
    assert decide(name, policy) == verdict


def test_a_run_override_can_narrow_but_not_widen():
    """The agent's deny or ask stands whatever the run's override says."""
    agent = {"deny": ["shell"], "ask": ["write_*"]}
    assert decide("shell", agent, {"allow": ["*"]}) == "deny"
    assert decide("write_file", agent, {"allow": ["write_*"]}) == "ask"
    assert decide("read_file", agent, {"deny": ["read_*"]}) == "deny"
    assert decide("read_file", agent, {"ask": ["read_*"]}) == "ask"
    assert decide("read_file", agent, {}) == "allow"
