"""The Anthropic Messages API as a baton ``Model``, through the official ``anthropic`` client.

The client, retries and error mapping work as for every SDK-backed Model (``sdk_model``).
Streaming is used when the Model asks for it or when maxTokens is large enough that the SDK
refuses a plain request; both give the same reply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from events.errors import BatonError
from functions.models.anthropic_errors import from_sdk_error
from functions.models.anthropic_wire import AnthropicSettings, build_params, reply_from_message
from functions.models.sdk_model import IDEMPOTENCY_HEADER, SDKModel
from functions.ports import ModelReply, ModelRequest, Resource

if TYPE_CHECKING:
    import anthropic

__all__ = ["IDEMPOTENCY_HEADER", "NONSTREAMING_MAX_TOKENS", "AnthropicModel", "needs_streaming"]

# The SDK refuses non-streaming calls whose expected duration (1 h per 128k tokens) tops 10 min.
NONSTREAMING_MAX_TOKENS: Final = 128_000 * 600 // 3600


class AnthropicModel(SDKModel[AnthropicSettings, "anthropic.Anthropic"]):
    """A ``Model`` bound to one Model resource and its API key."""

    sdk = "anthropic"

    def _read_settings(self, resource: Resource) -> AnthropicSettings:
        return AnthropicSettings.from_resource(resource)

    def _params(self, request: ModelRequest) -> dict[str, Any]:
        return build_params(self.settings, request)

    def _call(self, params: dict[str, Any], headers: dict[str, str]) -> ModelReply:
        client = self._sdk_client()
        timeout = self.settings.timeout
        if not (self.settings.stream or needs_streaming(self.settings.model, params["max_tokens"])):
            return reply_from_message(
                client.messages.create(**params, extra_headers=headers, timeout=timeout)
            )
        with client.messages.stream(**params, extra_headers=headers, timeout=timeout) as events:
            return reply_from_message(events.get_final_message())

    def _from_sdk_error(self, exc: Exception) -> BatonError | None:
        return from_sdk_error(exc, model=self.settings.model, key=self._key)

    def _new_client(self) -> anthropic.Anthropic:
        import anthropic

        return anthropic.Anthropic(
            api_key=self._key.value,
            base_url=self.settings.base_url,
            max_retries=0,
            timeout=self.settings.timeout,
            http_client=self._http_client,
        )


def needs_streaming(model: str, max_tokens: int) -> bool:
    """True when the SDK would refuse a non-streaming call of this size for this model."""
    from anthropic._constants import MODEL_NONSTREAMING_TOKENS  # the SDK's own per-model caps

    cap = MODEL_NONSTREAMING_TOKENS.get(model)
    return max_tokens > NONSTREAMING_MAX_TOKENS or (cap is not None and max_tokens > cap)
