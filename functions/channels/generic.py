"""The generic webhook: POST the answer to ``routing.replyTo``, signed with the reply secret.

Body ``{"thread", "text", "idempotencyKey"}``; headers ``X-Baton-Signature`` (``t=..,v1=..``
over ``"<t>.<body>"`` with ``BATON_WEBHOOK_REPLY_SECRET``) and ``Idempotency-Key``, so a
receiver can drop a redelivered answer.

Secrets go only where their owner sent them. The reply secret is not the inbound one (a
receiver that checks replies cannot forge requests), and ``replyTo`` must fall under
``BATON_WEBHOOK_REPLY_URLS``: anyone who can publish ``run.requested`` can write a run's
``routing``, and must not get signed POSTs sent to a URL of their choosing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from events.errors import PermanentError
from events.sources.chat.config import reply_allowed
from events.sources.chat.signatures import sign_baton
from functions.channels.transport import DEFAULT_TIMEOUT, request_json

__all__ = ["WebhookChannel"]


class WebhookChannel:
    """Posts signed answers to the URL each message named."""

    def __init__(
        self, secret: str, allowed: tuple[str, ...] = (), timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self._secret = secret
        self._allowed = allowed
        self._timeout = timeout

    def __repr__(self) -> str:
        return "WebhookChannel()"

    def post(self, routing: Mapping[str, Any], text: str, idempotency_key: str) -> None:
        """POST the answer to ``replyTo`` (nothing to do when the sender gave none)."""
        url = str(routing.get("replyTo") or "")
        if not url:
            return  # a fire-and-forget message: the answer stays on the run
        if not url.startswith(("http://", "https://")):
            raise PermanentError("replyTo is not an http(s) URL", reason="BadRouting")
        if not reply_allowed(url, self._allowed):
            raise PermanentError(
                "replyTo is not under an allowed URL (BATON_WEBHOOK_REPLY_URLS lists them)",
                reason="ReplyToNotAllowed",
            )
        if not self._secret:
            raise PermanentError("BATON_WEBHOOK_REPLY_SECRET is not set", reason="NotConfigured")
        body = json.dumps(
            {"thread": routing.get("thread", ""), "text": text, "idempotencyKey": idempotency_key}
        ).encode()
        headers = {
            "x-baton-signature": sign_baton(self._secret, body, int(time.time())),
            "idempotency-key": idempotency_key,
        }
        label = f"webhook reply to {url}"
        answer = request_json(
            "POST", url, None, body=body, label=label, headers=headers, timeout=self._timeout
        )
        if not answer.ok:
            raise PermanentError(
                f"{label}: the receiver answered HTTP {answer.status}", reason="ChannelRefused"
            )
