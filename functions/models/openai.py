"""OpenAI Chat Completions (and any compatible server) as a baton ``Model``, via ``openai``.

``baseURL`` points the official client at vLLM, Ollama, LiteLLM or Azure OpenAI's v1
endpoint. As for Anthropic, the client is built on first use with ``max_retries=0`` so each
retry is an attempt the run records, and failures map through ``api_errors``. Streaming asks
for usage in the last chunk and joins the deltas in one pass (``reply_from_chunks``), so a
streamed reply equals a plain one.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any, Final

from functions.models.keys import ApiKey, SecretResolver, resolve_api_key
from functions.models.openai_errors import from_sdk_error
from functions.models.openai_wire import (
    OpenAISettings,
    build_params,
    reply_from_chunks,
    reply_from_completion,
)
from functions.ports import ModelReply, ModelRequest, Resource

if TYPE_CHECKING:
    import openai

__all__ = ["IDEMPOTENCY_HEADER", "OpenAIModel"]

log = logging.getLogger(__name__)

IDEMPOTENCY_HEADER: Final = "baton-idempotency-key"


class OpenAIModel:
    """A ``Model`` bound to one Model resource (provider openai) and its API key."""

    def __init__(
        self, resource: Resource, api_key: ApiKey, *, http_client: Any | None = None
    ) -> None:
        self.settings = OpenAISettings.from_resource(resource)
        self._key = api_key
        self._http_client = http_client
        self._client: openai.OpenAI | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_resource(
        cls, resource: Resource, secrets: SecretResolver | None = None
    ) -> OpenAIModel:
        """Resolve the key (Secret ref or env) and bind the Model resource."""
        return cls(resource, resolve_api_key(resource, secrets))

    def __repr__(self) -> str:
        return f"OpenAIModel(model={self.settings.model!r}, key from {self._key.source})"

    def complete(self, request: ModelRequest) -> ModelReply:
        """One Chat Completions call; SDK failures become TransientError or PermanentError."""
        params = build_params(self.settings, request)
        headers = {IDEMPOTENCY_HEADER: request.idempotency_key} if request.idempotency_key else {}
        started = time.perf_counter()
        try:
            reply = self._call(params, headers)
        except Exception as exc:  # mapped below; anything unknown is re-raised untouched
            error = from_sdk_error(exc, model=self.settings.model, key=self._key)
            if error is None:
                raise
            log.debug("model call failed: %s (%s)", error.reason, self.settings.model)
            # Keep the SDK's error as the cause unless its text could carry the key.
            raise error from (None if self._key.value in str(exc) else exc)
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

    def _call(self, params: dict[str, Any], headers: dict[str, str]) -> ModelReply:
        client = self._sdk_client()
        timeout = self.settings.timeout
        if not self.settings.stream:
            completion = client.chat.completions.create(
                **params, extra_headers=headers, timeout=timeout
            )
            return reply_from_completion(completion)
        chunks = client.chat.completions.create(
            **params,
            stream=True,
            stream_options={"include_usage": True},
            extra_headers=headers,
            timeout=timeout,
        )
        with chunks:
            return reply_from_chunks(chunks)

    def _sdk_client(self) -> openai.OpenAI:
        with self._lock:
            if self._client is None:
                import openai

                if not os.environ.get("OPENAI_LOG"):
                    # The SDK logs whole request bodies (prompts) at DEBUG; a process running
                    # its root logger at DEBUG must not write prompts out unless asked to.
                    logging.getLogger("openai").setLevel(logging.INFO)

                self._client = openai.OpenAI(
                    api_key=self._key.value,
                    # Unset ones fall back to the SDK's OPENAI_ORG_ID / OPENAI_PROJECT_ID /
                    # OPENAI_BASE_URL, as its documentation says.
                    organization=self.settings.organization,
                    project=self.settings.project,
                    base_url=self.settings.base_url,
                    max_retries=0,
                    timeout=self.settings.timeout,
                    http_client=self._http_client,
                )
            return self._client
