"""The Anthropic Messages API as a baton ``Model``, through the official ``anthropic`` client.

The client is built on first use (the SDK import costs ~0.3 s, which functions that never
call a model must not pay) with ``max_retries=0``: retries belong to the transport, so each
attempt is visible on the run. Streaming is used when the Model asks for it or when
maxTokens is large enough that the SDK refuses a plain request; both give the same reply.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any, Final

from functions.models.anthropic_errors import from_sdk_error
from functions.models.anthropic_wire import AnthropicSettings, build_params, reply_from_message
from functions.models.keys import ApiKey, SecretResolver, resolve_api_key
from functions.ports import ModelReply, ModelRequest, Resource

if TYPE_CHECKING:
    import anthropic

__all__ = ["IDEMPOTENCY_HEADER", "NONSTREAMING_MAX_TOKENS", "AnthropicModel", "needs_streaming"]

log = logging.getLogger(__name__)

IDEMPOTENCY_HEADER: Final = "baton-idempotency-key"
# The SDK refuses non-streaming calls whose expected duration (1 h per 128k tokens) tops 10 min.
NONSTREAMING_MAX_TOKENS: Final = 128_000 * 600 // 3600


class AnthropicModel:
    """A ``Model`` bound to one Model resource and its API key."""

    def __init__(
        self, resource: Resource, api_key: ApiKey, *, http_client: Any | None = None
    ) -> None:
        self.settings = AnthropicSettings.from_resource(resource)
        self._key = api_key
        self._http_client = http_client
        self._client: anthropic.Anthropic | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_resource(
        cls, resource: Resource, secrets: SecretResolver | None = None
    ) -> AnthropicModel:
        """Resolve the key (Secret ref or env) and bind the Model resource."""
        return cls(resource, resolve_api_key(resource, secrets))

    def __repr__(self) -> str:
        return f"AnthropicModel(model={self.settings.model!r}, key from {self._key.source})"

    def complete(self, request: ModelRequest) -> ModelReply:
        """One Messages API call; SDK failures become TransientError or PermanentError."""
        params = build_params(self.settings, request)
        headers = {IDEMPOTENCY_HEADER: request.idempotency_key} if request.idempotency_key else {}
        stream = self.settings.stream or needs_streaming(self.settings.model, params["max_tokens"])
        started = time.perf_counter()
        try:
            message = self._call(params, headers, stream)
        except Exception as exc:  # mapped below; anything unknown is re-raised untouched
            error = from_sdk_error(exc, model=self.settings.model, key=self._key)
            if error is None:
                raise
            log.debug("model call failed: %s (%s)", error.reason, self.settings.model)
            # Keep the SDK's error as the cause unless its text could carry the key.
            raise error from (None if self._key.value in str(exc) else exc)
        reply = reply_from_message(message)
        log.debug(
            "model call: model=%s stop=%s in=%d out=%d cache_read=%d %.0f ms",
            reply.model,
            reply.stop_reason,
            reply.usage.input,
            reply.usage.output,
            reply.usage.cache_read,
            (time.perf_counter() - started) * 1000,
        )
        return reply

    def warm(self) -> None:
        """Build the SDK client now (importing the SDK takes 1-3 s), not in the first call."""
        self._sdk_client()

    def close(self) -> None:
        """Close the HTTP connections of the client, if one was built."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _call(self, params: dict[str, Any], headers: dict[str, str], stream: bool) -> Any:
        client = self._sdk_client()
        timeout = self.settings.timeout
        if not stream:
            return client.messages.create(**params, extra_headers=headers, timeout=timeout)
        with client.messages.stream(**params, extra_headers=headers, timeout=timeout) as events:
            return events.get_final_message()

    def _sdk_client(self) -> anthropic.Anthropic:
        with self._lock:
            if self._client is None:
                import anthropic

                if not os.environ.get("ANTHROPIC_LOG"):
                    # The SDK logs whole request bodies (prompts) at DEBUG; a process running
                    # its root logger at DEBUG must not write prompts out unless asked to.
                    logging.getLogger("anthropic").setLevel(logging.INFO)

                self._client = anthropic.Anthropic(
                    api_key=self._key.value,
                    base_url=self.settings.base_url,
                    max_retries=0,
                    timeout=self.settings.timeout,
                    http_client=self._http_client,
                )
            return self._client


def needs_streaming(model: str, max_tokens: int) -> bool:
    """True when the SDK would refuse a non-streaming call of this size for this model."""
    from anthropic._constants import MODEL_NONSTREAMING_TOKENS  # the SDK's own per-model caps

    cap = MODEL_NONSTREAMING_TOKENS.get(model)
    return max_tokens > NONSTREAMING_MAX_TOKENS or (cap is not None and max_tokens > cap)
