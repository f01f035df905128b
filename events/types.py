"""The event catalogue: every CloudEvent type baton emits or reacts to."""

from __future__ import annotations

from typing import Final

# Produced by an ApiServerSource (Resource mode) or by baton's own store watch.
RESOURCE_ADD: Final = "dev.knative.apiserver.resource.add"
RESOURCE_UPDATE: Final = "dev.knative.apiserver.resource.update"
RESOURCE_DELETE: Final = "dev.knative.apiserver.resource.delete"
# Reference mode carries only a reference; the object is read from the store.
REF_ADD: Final = "dev.knative.apiserver.ref.add"
REF_UPDATE: Final = "dev.knative.apiserver.ref.update"
REF_DELETE: Final = "dev.knative.apiserver.ref.delete"

RUN_REQUESTED: Final = "dev.baton.run.requested"
CHANNEL_MESSAGE: Final = "dev.baton.channel.message"
RUN_ACCEPTED: Final = "dev.baton.run.accepted"
RUN_INPUT_RECEIVED: Final = "dev.baton.run.input.received"
LLM_REQUESTED: Final = "dev.baton.llm.requested"
TOOL_REQUESTED: Final = "dev.baton.tool.requested"
TOOL_APPROVED: Final = "dev.baton.tool.approved"
TOOL_COMPLETED: Final = "dev.baton.tool.completed"
RUN_COMPLETED: Final = "dev.baton.run.completed"
RUN_FAILED: Final = "dev.baton.run.failed"
RUN_CANCELLED: Final = "dev.baton.run.cancelled"
RUN_TIMEDOUT: Final = "dev.baton.run.timedout"
RUN_FINISHED: Final = "dev.baton.run.finished"
# Server mode: one input answered, the run is Serving again (deliver posts the answer).
RUN_REPLIED: Final = "dev.baton.run.replied"
TICK: Final = "dev.baton.tick"
# A Knative PingSource cannot choose its type: its ticks arrive as this one.
PING: Final = "dev.knative.sources.ping"

APISERVER_TYPES: Final = frozenset(
    {RESOURCE_ADD, RESOURCE_UPDATE, RESOURCE_DELETE, REF_ADD, REF_UPDATE, REF_DELETE}
)
BATON_TYPES: Final = frozenset(
    {
        RUN_REQUESTED,
        CHANNEL_MESSAGE,
        RUN_ACCEPTED,
        RUN_INPUT_RECEIVED,
        LLM_REQUESTED,
        TOOL_REQUESTED,
        TOOL_APPROVED,
        TOOL_COMPLETED,
        RUN_COMPLETED,
        RUN_FAILED,
        RUN_CANCELLED,
        RUN_TIMEDOUT,
        RUN_FINISHED,
        RUN_REPLIED,
        TICK,
    }
)
ALL_TYPES: Final = APISERVER_TYPES | BATON_TYPES | {PING}

# Terminal requests that finalize reacts to.
TERMINAL_REQUESTS: Final = frozenset({RUN_COMPLETED, RUN_FAILED, RUN_CANCELLED, RUN_TIMEDOUT})
