"""Model failover through the real SDKs: the next model takes the call, and the reply says why."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from events.errors import PermanentError, TransientError
from functions.models import ModelRegistry
from functions.models.anthropic import AnthropicModel
from functions.models.failover import FailoverModel
from functions.models.keys import ApiKey
from functions.models.openai import OpenAIModel
from functions.ports import ModelRequest, ModelSwitch
from tests.fakes.messages_api import FakeMessagesAPI, Fault, Reply
from tests.fakes.openai_api import ChatReply, FakeOpenAIAPI
from tests.models.conftest import model_resource, openai_resource, secrets_allowing

REQUEST = ModelRequest(system="s", messages=[{"role": "user", "content": "hi"}])
KEY = ApiKey("sk-failover", "Secret team-a/anthropic key api-key")


@pytest.fixture
def apis() -> Iterator[tuple[FakeMessagesAPI, FakeMessagesAPI]]:
    """Two fake Messages APIs: the primary model's and the fallback's."""
    with FakeMessagesAPI() as first, FakeMessagesAPI() as second:
        yield first, second


def chain(
    first: FakeMessagesAPI, second: Any, sleeps: list[float], attempts: int = 2
) -> FailoverModel:
    """sonnet on ``first`` falling over to haiku (or gpt, on an OpenAI API) on ``second``."""
    primary = AnthropicModel(model_resource(first.url, model="claude-sonnet-5-5"), KEY)
    if isinstance(second, FakeOpenAIAPI):
        fallback: Any = OpenAIModel(openai_resource(second.url), KEY)
        name = "gpt"
    else:
        fallback = AnthropicModel(model_resource(second.url, model="claude-haiku-5"), KEY)
        name = "haiku"
    return FailoverModel(
        [("sonnet", primary), (name, fallback)], attempts=attempts, sleep=sleeps.append
    )


def test_overloaded_past_its_attempts_then_the_next_answers(
    apis: tuple[FakeMessagesAPI, FakeMessagesAPI],
) -> None:
    """529 twice on the first model (its attempts), then the fallback answers and is named."""
    first, second = apis
    first.enqueue(Fault.status_code(529, "Overloaded", retry_after=0.5), Fault.status_code(529))
    second.enqueue(Reply.text("from haiku"))
    sleeps: list[float] = []
    reply = chain(first, second, sleeps).complete(REQUEST)
    assert reply.text == "from haiku"
    assert (reply.model, reply.answered_by) == ("claude-haiku-5", "haiku")
    assert [(s.model, s.reason) for s in reply.switches] == [("sonnet", "ModelOverloaded")]
    assert "overloaded" in reply.switches[0].message
    assert (len(first.requests), len(second.requests)) == (2, 1)
    assert sleeps == [0.5]  # the wait the API asked for, between the two attempts


def test_model_not_found_switches_at_once(apis: tuple[FakeMessagesAPI, FakeMessagesAPI]) -> None:
    """A model id the API does not serve is not retried: the next model is asked right away."""
    first, second = apis
    first.model_ids = frozenset({"claude-other"})
    second.enqueue(Reply.text("ok"))
    reply = chain(first, second, []).complete(REQUEST)
    assert reply.switches == (ModelSwitch("sonnet", "ModelNotFound", reply.switches[0].message),)
    assert reply.switches[0].message.startswith("model not found: claude-sonnet-5-5")
    assert len(first.requests) == 1


def test_rejected_request_is_not_failed_over(
    apis: tuple[FakeMessagesAPI, FakeMessagesAPI],
) -> None:
    """A 400 would fail on any model: it is raised as is and the fallback is never asked."""
    first, second = apis
    first.enqueue(Fault.status_code(400, "messages: roles must alternate"))
    with pytest.raises(PermanentError) as caught:
        chain(first, second, []).complete(REQUEST)
    assert caught.value.reason == "ModelRequestInvalid"
    assert second.requests == []


def test_every_model_down_raises_the_last_transient_failure(
    apis: tuple[FakeMessagesAPI, FakeMessagesAPI],
) -> None:
    """All models failing transiently leaves the retry to the transport; the last is asked once."""
    first, second = apis
    first.default = Fault.status_code(503)
    second.default = Fault.status_code(529, retry_after=9)
    with pytest.raises(TransientError) as caught:
        chain(first, second, [], attempts=3).complete(REQUEST)
    assert (caught.value.reason, caught.value.delay) == ("ModelOverloaded", 9.0)
    assert (len(first.requests), len(second.requests)) == (3, 1)


def test_anthropic_overloaded_falls_over_to_an_openai_compatible_model() -> None:
    """The chain crosses providers: Claude overloaded, a Chat Completions server answers."""
    with FakeMessagesAPI(default=Fault.status_code(529)) as first, FakeOpenAIAPI() as second:
        second.enqueue(ChatReply.text("from vLLM", prompt_tokens=12, completion_tokens=3))
        reply = chain(first, second, []).complete(REQUEST)
    assert (reply.text, reply.answered_by, reply.model) == ("from vLLM", "gpt", "gpt-5.1-mini")
    assert reply.usage.input == 12


def test_registry_builds_a_chain_only_for_several_models() -> None:
    """One Model is itself; several are a FailoverModel in order, each with its attempts."""
    registry = ModelRegistry(secrets_allowing("sk-x", "http://127.0.0.1:9"))
    one = model_resource("http://127.0.0.1:9", failoverAttempts=3)
    two = model_resource("http://127.0.0.1:9") | {
        "metadata": {"name": "haiku", "namespace": "team-a"}
    }
    assert isinstance(registry.for_models([one]), AnthropicModel)
    built = registry.for_models([one, two])
    assert isinstance(built, FailoverModel)
    assert [name for name, _ in built.models] == ["sonnet", "haiku"]
    assert built.attempts == [3, 2]
