"""What a Model resource's spec asks of every call, whatever the provider.

Each provider's settings (``AnthropicSettings``, ``OpenAISettings``) extend these fields with
its own; the spec is read here once, so every provider takes ``maxTokens``, ``temperature``,
``stopSequences``, ``timeoutSeconds`` and ``stream`` the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from events.errors import PermanentError
from functions.ports import Resource

__all__ = ["DEFAULT_TIMEOUT_SECONDS", "ModelSettings", "model_name"]

DEFAULT_TIMEOUT_SECONDS: Final = 120.0  # the CRD default


@dataclass(frozen=True)
class ModelSettings:
    """The spec fields every provider reads the same way."""

    model: str
    base_url: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    stop_sequences: tuple[str, ...] = ()
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    stream: bool = False

    @staticmethod
    def common_fields(resource: Resource) -> dict[str, Any]:
        """The shared fields of a ``Model`` resource (already schema-valid), as keywords."""
        spec = resource.get("spec") or {}
        model = str(spec.get("model") or "")
        if not model:
            raise PermanentError(
                f"Model {model_name(resource)} has no spec.model", reason="ModelInvalid"
            )
        temperature = spec.get("temperature")
        return {
            "model": model,
            "base_url": spec.get("baseURL") or None,
            "max_tokens": int(spec["maxTokens"]) if spec.get("maxTokens") else None,
            "temperature": None if temperature is None else float(temperature),
            "stop_sequences": tuple(spec.get("stopSequences") or ()),
            "timeout": float(spec.get("timeoutSeconds") or DEFAULT_TIMEOUT_SECONDS),
            "stream": bool(spec.get("stream", False)),
        }


def model_name(resource: Resource) -> str:
    """The Model resource's name, for errors."""
    return str((resource.get("metadata") or {}).get("name", "?"))
