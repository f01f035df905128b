"""Metrics (and GenAI spans) at the seams: a bus handler, a ModelFactory, a Toolbox.

``measured_handler`` wraps what ``chain.bind`` returns; ``MeasuredModels`` and
``MeasuredToolbox`` wrap the Deps' factories. Each records where the work happens, so a
figure means the same in every shape: the embedded process, a NATS worker, a Knative
function.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from typing import Any

from cloudevents.core.base import BaseCloudEvent

from events.envelope import CloudEvent
from events.errors import PermanentError, TransientError
from functions.observe import genai
from functions.observe.metrics import Metrics, metrics
from functions.observe.observed_store import current_event_type, current_function
from functions.ports import (
    Model,
    ModelFactory,
    ModelReply,
    ModelRequest,
    Resource,
    Toolbox,
    ToolCall,
    ToolContext,
    ToolResult,
    ToolSpec,
)

__all__ = [
    "MeasuredModel",
    "MeasuredModels",
    "MeasuredToolbox",
    "measured_handler",
    "observed_handler",
]

Handler = Callable[[BaseCloudEvent], list[CloudEvent]]


@contextmanager
def _in_flight(m: Metrics, kind: str) -> Iterator[None]:
    gauge = m.in_flight_of(kind)
    gauge.inc()
    try:
        yield
    finally:
        gauge.dec()


def observed_handler(function: str, handler: Handler) -> Handler:
    """``handler`` with the function named for run Events, and measured unless metrics are off."""
    from functions.observe.metrics import enabled

    inner = measured_handler(function, handler) if enabled() else handler

    def run(event: BaseCloudEvent) -> list[CloudEvent]:
        token = current_function.set(function)
        typed = current_event_type.set(event.get_type())
        try:
            return inner(event)
        finally:
            current_event_type.reset(typed)
            current_function.reset(token)

    return run


def measured_handler(function: str, handler: Handler) -> Handler:
    """``handler`` counted and timed: outcome, latency, retries, dead letters."""
    m = metrics()
    seconds = m.transition_seconds.labels(function)
    outcomes = {name: m.transitions.labels(function, name) for name in ("ok", "none")}

    def run(event: BaseCloudEvent) -> list[CloudEvent]:
        if function == "dead_letter":
            _count_dead_letter(m, event)
        started = time.perf_counter()
        try:
            with _in_flight(m, "transition"):
                emitted = handler(event)
        except TransientError as exc:
            m.transitions.labels(function, "retry").inc()
            m.retries.labels(function, exc.reason).inc()
            raise
        except PermanentError:
            m.transitions.labels(function, "failed").inc()
            raise
        except Exception as exc:  # the bus retries a bug like a transient failure
            m.transitions.labels(function, "error").inc()
            m.retries.labels(function, type(exc).__name__).inc()
            raise
        finally:
            seconds.observe(time.perf_counter() - started)
        outcomes["ok" if emitted else "none"].inc()
        return emitted

    return run


def _count_dead_letter(m: Metrics, event: BaseCloudEvent) -> None:
    from functions.dead_letter import reason_of

    m.dead_letters.labels(reason_of(event)[0]).inc()


class MeasuredModel:
    """A Model whose calls are timed, their tokens and cost counted, and traced."""

    def __init__(self, inner: Model, resource: Resource, factory: ModelFactory) -> None:
        self.inner = inner
        self.resource = resource
        self.factory = factory
        spec = resource.get("spec") or {}
        self.model = str(spec.get("model") or resource["metadata"]["name"])
        self.provider = str(spec.get("provider") or "")

    def complete(self, request: ModelRequest) -> ModelReply:
        """One model call, measured."""
        m = metrics()
        started = time.perf_counter()
        outcome = "failed"
        with genai.chat_span(self.provider, self.model, request) as span, _in_flight(m, "model"):
            try:
                reply = self.inner.complete(request)
                outcome = "ok"
            except TransientError:
                outcome = "retry"
                raise
            finally:
                m.model_seconds.labels(self.model, outcome).observe(time.perf_counter() - started)
            genai.chat_reply(span, reply)
        usage = reply.usage
        for kind, count in (
            ("input", usage.input),
            ("output", usage.output),
            ("cache_read", usage.cache_read),
            ("cache_creation", usage.cache_creation),
        ):
            if count:
                m.model_tokens.labels(self.model, kind).inc(count)
        cost = self._cost(usage)
        if cost:
            m.model_cost.labels(self.model).inc(cost)
        return reply

    def _cost(self, usage: Any) -> float:
        counts = {
            "input": usage.input,
            "output": usage.output,
            "cacheRead": usage.cache_read,
            "cacheCreation": usage.cache_creation,
        }
        try:
            return float(Decimal(self.factory.cost(self.resource, counts)))
        except (InvalidOperation, ValueError, TypeError):
            return 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class MeasuredModels:
    """A ModelFactory whose Models are measured."""

    def __init__(self, inner: ModelFactory) -> None:
        self.inner = inner

    def for_resource(self, model: Resource) -> Model:
        """The inner factory's Model for ``model``, measured."""
        return MeasuredModel(self.inner.for_resource(model), model, self.inner)

    def for_models(self, models: Sequence[Resource]) -> Model:
        """The inner factory's failover chain, each of its Models measured under its own name."""
        if len(models) == 1:
            return self.for_resource(models[0])
        chain = self.inner.for_models(models)
        inner_models = getattr(chain, "models", None)
        if isinstance(inner_models, list) and len(inner_models) == len(models):
            # A FailoverModel: (name, Model) pairs in the order of ``models``.
            chain.models = [  # type: ignore[attr-defined]
                (name, MeasuredModel(model, resource, self.inner))
                for (name, model), resource in zip(inner_models, models, strict=True)
            ]
        return chain

    def cost(self, model: Resource, usage: Any) -> str:
        """The inner factory's estimate."""
        return self.inner.cost(model, usage)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class MeasuredToolbox:
    """A Toolbox whose calls are counted by tool and outcome, timed, and traced."""

    def __init__(self, inner: Toolbox) -> None:
        self.inner = inner

    def specs(self, agent: Resource, namespace: str) -> list[ToolSpec]:
        """The inner toolbox's definitions."""
        return self.inner.specs(agent, namespace)

    def call(self, call: ToolCall, ctx: ToolContext) -> ToolResult:
        """One tool call, measured."""
        m = metrics()
        tool = m.tool_label(call.name)
        started = time.perf_counter()
        with genai.tool_span(call) as span, _in_flight(m, "tool"):
            try:
                result = self.inner.call(call, ctx)
            except BaseException:
                m.tool_calls.labels(tool, "failed").inc()
                raise
            finally:
                m.tool_seconds.labels(tool).observe(time.perf_counter() - started)
            genai.tool_result(span, result)
        outcome = "pending" if result.pending else "error" if result.is_error else "ok"
        m.tool_calls.labels(tool, outcome).inc()
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
