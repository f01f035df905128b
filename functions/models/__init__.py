"""Model providers behind the ``Model`` seam, and the factory that picks one per resource."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from events.errors import PermanentError
from functions.models.pricing import cost_usd
from functions.ports import Model, Resource

if TYPE_CHECKING:
    from functions.secrets import SecretResolver

__all__ = ["ModelRegistry", "has_api_key"]

log = logging.getLogger("baton.models")


def has_api_key(model: Resource) -> bool:
    """True when the embedded shape finds the Model's key (its Secret's variable or apiKeyEnv)."""
    from functions.models import keys

    return keys.has_api_key(model)


class ModelRegistry:
    """Builds (and caches per resourceVersion) the Model for a Model resource."""

    def __init__(
        self, secrets: SecretResolver | None = None, *, offline_fallback: bool = False
    ) -> None:
        self._secrets = secrets
        self._offline_fallback = offline_fallback
        self._cache: dict[tuple[str, str], Model] = {}
        self._lock = threading.Lock()

    def for_resource(self, model: Resource) -> Model:
        """The provider for ``model``; a changed resource gets a fresh client."""
        meta = model["metadata"]
        key = (str(meta.get("uid", meta["name"])), str(meta.get("resourceVersion", "")))
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        built = self._build(model)
        with self._lock:
            return self._cache.setdefault(key, built)

    def warm(self, models: Sequence[Resource]) -> None:
        """Build ``models`` and their SDK clients now, so no first call pays the SDK import.

        Best effort: a Model that cannot be built (no key yet) is its first call's to report.
        """
        for model in models:
            try:
                warm = getattr(self.for_resource(model), "warm", None)
                if warm is not None:
                    warm()
            except Exception as exc:  # reported by the call that needs it
                log.debug("model %s not warmed: %s", model["metadata"].get("name"), exc)

    def for_models(self, models: Sequence[Resource]) -> Model:
        """One Model over an ordered list: the first, failing over to the next in order."""
        if len(models) == 1:
            return self.for_resource(models[0])
        from functions.models.failover import FailoverModel

        return FailoverModel(
            [(m["metadata"]["name"], self.for_resource(m)) for m in models],
            attempts=[int(m["spec"].get("failoverAttempts") or 2) for m in models],
        )

    def _build(self, model: Resource) -> Model:
        provider = model["spec"].get("provider")
        if provider == "scripted":
            from functions.models.scripted import ScriptedModel

            return ScriptedModel(model)
        offline = self._offline_fallback and bool(model["spec"].get("script"))
        if provider in ("anthropic", "openai") and offline and not has_api_key(model):
            from functions.models.scripted import ScriptedModel

            return ScriptedModel(model)
        if provider == "anthropic":
            from functions.models.anthropic import AnthropicModel

            return AnthropicModel.from_resource(model, self._secrets)
        if provider == "openai":
            from functions.models.openai import OpenAIModel

            return OpenAIModel.from_resource(model, self._secrets)
        raise PermanentError(
            f"Model {model['metadata']['name']}: unknown provider {provider!r}",
            reason="InvalidModel",
        )

    def cost(self, model: Resource, usage: Mapping[str, int]) -> str:
        """USD estimate of ``usage`` under the Model's ``spec.pricing``."""
        return cost_usd(usage, model["spec"].get("pricing"))
