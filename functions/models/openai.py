"""OpenAI Chat Completions (and any compatible server) as a baton ``Model``, via ``openai``.

``baseURL`` points the official client at vLLM, Ollama, LiteLLM or Azure OpenAI's v1
endpoint. The client, retries and error mapping work as for every SDK-backed Model
(``sdk_model``). Streaming asks for usage in the last chunk and joins the deltas in one pass
(``reply_from_chunks``), so a streamed reply equals a plain one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from events.errors import BatonError
from functions.models.openai_errors import from_sdk_error
from functions.models.openai_wire import (
    OpenAISettings,
    build_params,
    reply_from_chunks,
    reply_from_completion,
)
from functions.models.sdk_model import IDEMPOTENCY_HEADER, SDKModel
from functions.ports import ModelReply, ModelRequest, Resource

if TYPE_CHECKING:
    import openai

__all__ = ["IDEMPOTENCY_HEADER", "OpenAIModel"]


class OpenAIModel(SDKModel[OpenAISettings, "openai.OpenAI"]):
    """A ``Model`` bound to one Model resource (provider openai) and its API key."""

    sdk = "openai"

    def _read_settings(self, resource: Resource) -> OpenAISettings:
        return OpenAISettings.from_resource(resource)

    def _params(self, request: ModelRequest) -> dict[str, Any]:
        return build_params(self.settings, request)

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

    def _from_sdk_error(self, exc: Exception) -> BatonError | None:
        return from_sdk_error(exc, model=self.settings.model, key=self._key)

    def _new_client(self) -> openai.OpenAI:
        import openai

        return openai.OpenAI(
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
