"""What every Model backed by a provider's official SDK shares.

The client is built on first use (an SDK import costs ~0.3 s, which functions that never
call a model must not pay) with ``max_retries=0``: retries belong to the transport, so each
attempt is visible on the run. Every failure maps through the provider's ``from_sdk_error``
to baton's one taxonomy, and the key stays out of reprs, errors and their causes.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any, ClassVar, Final, Generic, Protocol, Self, TypeVar

from events.errors import BatonError
from functions.models.keys import ApiKey, resolve_api_key
from functions.models.model_settings import ModelSettings
from functions.ports import ModelReply, ModelRequest, Resource
from functions.secrets import SecretResolver

__all__ = ["IDEMPOTENCY_HEADER", "SDKModel"]

IDEMPOTENCY_HEADER: Final = "baton-idempotency-key"


class _Client(Protocol):
    def close(self) -> None: ...


SettingsT = TypeVar("SettingsT", bound=ModelSettings)
ClientT = TypeVar("ClientT", bound=_Client)


class SDKModel(Generic[SettingsT, ClientT]):
    """A ``Model`` bound to one Model resource and its API key; a provider adds the calls."""

    sdk: ClassVar[str]  # the SDK's package, logger and ``<SDK>_LOG`` variable name

    def __init__(
        self, resource: Resource, api_key: ApiKey, *, http_client: Any | None = None
    ) -> None:
        self.settings = self._read_settings(resource)
        self._key = api_key
        self._http_client = http_client
        self._client: ClientT | None = None
        self._lock = threading.Lock()
        self._log = logging.getLogger(type(self).__module__)

    @classmethod
    def from_resource(cls, resource: Resource, secrets: SecretResolver | None = None) -> Self:
        """Resolve the key (Secret ref or env) and bind the Model resource."""
        return cls(resource, resolve_api_key(resource, secrets))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.settings.model!r}, key from {self._key.source})"

    def complete(self, request: ModelRequest) -> ModelReply:
        """One API call; SDK failures become TransientError or PermanentError."""
        params = self._params(request)
        headers = {IDEMPOTENCY_HEADER: request.idempotency_key} if request.idempotency_key else {}
        started = time.perf_counter()
        try:
            reply = self._call(params, headers)
        except Exception as exc:  # mapped below; anything unknown is re-raised untouched
            error = self._from_sdk_error(exc)
            if error is None:
                raise
            self._log.debug("model call failed: %s (%s)", error.reason, self.settings.model)
            # Keep the SDK's error as the cause unless its text could carry the key.
            raise error from (None if self._key.value in str(exc) else exc)
        self._log.debug(
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

    def _sdk_client(self) -> ClientT:
        with self._lock:
            if self._client is None:
                if not os.environ.get(f"{self.sdk.upper()}_LOG"):
                    # The SDK logs whole request bodies (prompts) at DEBUG; a process running
                    # its root logger at DEBUG must not write prompts out unless asked to.
                    logging.getLogger(self.sdk).setLevel(logging.INFO)
                self._client = self._new_client()
            return self._client

    def _read_settings(self, resource: Resource) -> SettingsT:
        """The provider's settings from the Model resource."""
        raise NotImplementedError

    def _params(self, request: ModelRequest) -> dict[str, Any]:
        """The SDK call's keyword arguments for ``request``."""
        raise NotImplementedError

    def _call(self, params: dict[str, Any], headers: dict[str, str]) -> ModelReply:
        """One SDK call (streamed or not), read into a ModelReply."""
        raise NotImplementedError

    def _from_sdk_error(self, exc: Exception) -> BatonError | None:
        """The baton error for an SDK failure; None if it is not one."""
        raise NotImplementedError

    def _new_client(self) -> ClientT:
        """The SDK client (imported here, on first use), with ``max_retries=0``."""
        raise NotImplementedError
