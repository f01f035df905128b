"""The chain's routing as the Knative manifests encode it (no cluster needed)."""

from __future__ import annotations

from events import types
from tests.fixtures.knative import (
    knative_objects,
    service_functions,
    subscribers,
    triggers,
    triggers_routing,
)

PING = types.PING

# The chain of DESIGN.md ("The chain"), function by function.
EXPECTED = {
    "route": [{"type": types.RUN_REQUESTED}, {"type": types.CHANNEL_MESSAGE}],
    "validate": [{"type": types.RESOURCE_ADD, "kind": "AgentRun"}],
    "prepare-context": [{"type": types.RUN_ACCEPTED}, {"type": types.RUN_INPUT_RECEIVED}],
    "call-llm": [{"type": types.LLM_REQUESTED}],
    "call-tool": [{"type": types.TOOL_REQUESTED}, {"type": types.TOOL_APPROVED}],
    "finalize": [{"type": t} for t in sorted(types.TERMINAL_REQUESTS)],
    "deliver": [{"type": types.RUN_FINISHED}, {"type": types.RUN_REPLIED}],
    "sweep": [
        {"type": types.TICK},
        {"type": PING, "source": "/apis/v1/namespaces/baton-system/pingsources/baton-tick"},
    ],
    # AgentTrigger changes; the events of each trigger come through the objects it generates.
    "trigger": [
        {"type": types.RESOURCE_ADD, "kind": "AgentTrigger"},
        {"type": types.RESOURCE_UPDATE, "kind": "AgentTrigger"},
        {"type": types.RESOURCE_DELETE, "kind": "AgentTrigger"},
    ],
}


def _sorted(routing: dict[str, list[dict[str, str]]]) -> dict[str, list[dict[str, str]]]:
    return {f: sorted(filters, key=lambda d: sorted(d.items())) for f, filters in routing.items()}


def test_triggers_route_the_chain() -> None:
    """Each function gets exactly the event types of the chain, nothing more or less."""
    assert _sorted(triggers_routing()) == _sorted(EXPECTED)


def test_every_event_a_function_emits_has_a_subscriber() -> None:
    """No baton event type falls on the floor, except tool.completed (a record, not a step)."""
    routing = triggers_routing()
    unrouted = {t for t in types.BATON_TYPES if not subscribers(routing, {"type": t})}
    assert unrouted == {types.TOOL_COMPLETED}


def test_routing_matches_extensions_not_just_type() -> None:
    """validate takes AgentRun adds only; an add of another kind reaches no function."""
    routing = triggers_routing()
    run_add = {"type": types.RESOURCE_ADD, "kind": "AgentRun"}
    assert subscribers(routing, run_add) == ["validate"]
    assert subscribers(routing, {**run_add, "kind": "Agent"}) == []
    assert subscribers(routing, {"type": types.RESOURCE_UPDATE, "kind": "AgentRun"}) == []


def test_every_trigger_retries_then_dead_letters() -> None:
    """Every Trigger retries with exponential backoff and ends in the dead-letter Service."""
    services = service_functions()
    for trigger in triggers():
        delivery = trigger.delivery
        assert delivery["retry"] >= 1, trigger.name
        assert delivery["backoffPolicy"] == "exponential", trigger.name
        assert delivery["backoffDelay"].startswith("PT"), trigger.name
        sink = delivery["deadLetterSink"]["ref"]
        assert services[sink["name"]] == "dead-letter", trigger.name


def test_every_function_is_deployed_once_from_one_image() -> None:
    """A Service per function (and the console), all on one image, selected by BATON_FUNCTION."""
    services = service_functions()
    assert sorted(services.values()) == sorted([*EXPECTED, "dead-letter", "webhook", "console"])
    images = {
        c["image"]
        for o in knative_objects()
        if o["kind"] == "Service"
        for c in o["spec"]["template"]["spec"]["containers"]
    }
    assert images == {"baton"}


def test_model_and_tool_calls_get_long_timeouts_and_scale_to_zero() -> None:
    """call-llm and call-tool may run 600 s; internal functions scale to zero."""
    for obj in knative_objects():
        if obj["kind"] != "Service":
            continue
        template = obj["spec"]["template"]
        function = service_functions()[obj["metadata"]["name"]]
        if function in ("call-llm", "call-tool"):
            assert template["spec"]["timeoutSeconds"] == 600
        if function != "webhook":
            assert template["metadata"]["annotations"]["autoscaling.knative.dev/min-scale"] == "0"
        assert template["spec"]["containerConcurrency"] >= 1


def test_every_route_of_the_code_has_a_trigger() -> None:
    """Each (function, filter) the chain serves in-process is a Trigger on Knative too.

    A Trigger may be narrower (sweep's PingSource filter also names the source).
    Reference-mode ApiServerSource events are the exception: the install uses Resource mode.
    """
    from functions import chain

    routing = triggers_routing()
    missing = [
        (route.function, dict(route.filter))
        for route in chain.ROUTES
        if route.filter.get("type") not in types.APISERVER_TYPES - {types.RESOURCE_ADD}
        and not any(
            route.filter.items() <= f.items()
            for f in routing.get(route.function.replace("_", "-"), [])
        )
    ]
    assert missing == []
