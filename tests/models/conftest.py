"""Fixtures for the model adapter tests: the fake model APIs and Models bound to them."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from events.errors import BatonError
from functions.models.anthropic import AnthropicModel
from functions.models.keys import ApiKey
from functions.models.openai import OpenAIModel
from functions.ports import ModelRequest
from tests.fakes.messages_api import FakeMessagesAPI, Reply
from tests.fakes.openai_api import ChatReply, FakeOpenAIAPI
from tests.fixtures.logs import all_logs  # noqa: F401 - the fixture, shared

REQUEST = ModelRequest(system="s", messages=[{"role": "user", "content": "hi"}])
API_KEY = "sk-ant-test-5ecret-d0-not-leak"
KEY_SOURCE = "Secret team-a/anthropic key api-key"

MakeModel = Callable[..., AnthropicModel]


@pytest.fixture
def api() -> Iterator[FakeMessagesAPI]:
    """A fake Messages API that only accepts API_KEY."""
    with FakeMessagesAPI(api_key=API_KEY) as fake:
        yield fake


def model_resource(base_url: str, **spec: Any) -> dict[str, Any]:
    """A Model resource pointing at ``base_url``; ``spec`` overrides fields."""
    return _resource("sonnet", "anthropic", "claude-sonnet-5-5", base_url, spec)


def _resource(
    name: str, provider: str, model: str, base_url: str, spec: dict[str, Any]
) -> dict[str, Any]:
    """A Model resource of ``provider`` keyed by Secret ``<provider>/api-key``."""
    return {
        "apiVersion": "baton.dev/v1alpha1",
        "kind": "Model",
        "metadata": {"name": name, "namespace": "team-a"},
        "spec": {
            "provider": provider,
            "model": model,
            "apiKeySecretRef": {"name": provider, "key": "api-key"},
            "baseURL": base_url,
            "maxTokens": 1024,
            "timeoutSeconds": 30,
        }
        | spec,
    }


def _built(bind: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
    """``bind`` as a factory whose Models are closed after the test."""
    built: list[Any] = []

    def make(*args: Any, **kwargs: Any) -> Any:
        built.append(bind(*args, **kwargs))
        return built[-1]

    yield make
    for model in built:
        model.close()


@pytest.fixture
def make_model(api: FakeMessagesAPI) -> Iterator[MakeModel]:
    """Build AnthropicModels against the fake API (closed after the test)."""

    def bind(key: str = API_KEY, **spec: Any) -> AnthropicModel:
        return AnthropicModel(model_resource(api.url, **spec), ApiKey(key, KEY_SOURCE))

    yield from _built(bind)


OPENAI_KEY = "sk-proj-test-5ecret-d0-not-leak"
OPENAI_KEY_SOURCE = "Secret team-a/openai key api-key"

MakeOpenAI = Callable[..., OpenAIModel]


@pytest.fixture
def openai_api() -> Iterator[FakeOpenAIAPI]:
    """A fake OpenAI Chat Completions API that only accepts OPENAI_KEY."""
    with FakeOpenAIAPI(api_key=OPENAI_KEY) as fake:
        yield fake


def openai_resource(base_url: str, **spec: Any) -> dict[str, Any]:
    """A Model resource of provider openai pointing at ``base_url``."""
    return _resource("gpt", "openai", "gpt-5.1-mini", base_url, spec)


@pytest.fixture
def make_openai(openai_api: FakeOpenAIAPI) -> Iterator[MakeOpenAI]:
    """Build OpenAIModels against the fake API (closed after the test)."""

    def bind(key: str = OPENAI_KEY, **spec: Any) -> OpenAIModel:
        resource = openai_resource(openai_api.url, **spec)
        return OpenAIModel(resource, ApiKey(key, OPENAI_KEY_SOURCE))

    yield from _built(bind)


def secrets_allowing(key: str, *base_urls: str) -> Any:
    """A Secret resolver: ``key`` for every Secret, and a namespace policy allowing ``base_urls``.

    A Secret-backed key goes only to its provider's API unless the namespace's
    ``baton-model-policy`` allows the Model's baseURL (the fake API servers live on loopback).
    """
    from functions.models.keys import POLICY_KEY, POLICY_SECRET

    def resolve(namespace: str, name: str, item: str) -> str:
        if (name, item) == (POLICY_SECRET, POLICY_KEY):
            return ",".join(base_urls)
        return key

    return resolve


@dataclass(frozen=True)
class Provider:
    """One provider's fake API, Model factory, key and text reply, for tests both share."""

    name: str
    api: FakeMessagesAPI | FakeOpenAIAPI
    make: Callable[..., AnthropicModel | OpenAIModel]
    key: str
    key_source: str
    text: Callable[..., Reply | ChatReply]


@pytest.fixture(params=["anthropic", "openai"])
def provider(request: pytest.FixtureRequest) -> Provider:
    """Each provider in turn: the same failure must map to the same baton error."""
    if request.param == "anthropic":
        api, make = request.getfixturevalue("api"), request.getfixturevalue("make_model")
        return Provider("anthropic", api, make, API_KEY, KEY_SOURCE, Reply.text)
    api, make = request.getfixturevalue("openai_api"), request.getfixturevalue("make_openai")
    return Provider("openai", api, make, OPENAI_KEY, OPENAI_KEY_SOURCE, ChatReply.text)


def assert_no_key(error: BaseException, logs: list[logging.LogRecord], key: str = API_KEY) -> None:
    """The key is in no exception text (the whole chain) and no log record."""
    assert key not in "".join(traceback.format_exception(error))
    for record in logs:
        assert key not in record.getMessage()
        if record.exc_info:
            assert key not in "".join(traceback.format_exception(*record.exc_info))


def failure(make: Callable[..., Any], api: Any, script: Any, **spec: Any) -> BatonError:
    """Script one reply on ``api``, make one call, return the baton error it raised."""
    api.enqueue(script)
    with pytest.raises(BatonError) as caught:
        make(**spec).complete(REQUEST)
    return caught.value
