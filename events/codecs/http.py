"""CloudEvents over HTTP, strictly: a thin layer over ``cloudevents.core.bindings.http``.

Input (``from_http``) accepts binary and structured mode and refuses, with a
``MalformedEvent`` that names the problem, what the SDK would quietly let through:
a missing required attribute (the SDK invents ids), data that is not JSON (the SDK
falls back to a string), a content type that is neither JSON nor a CloudEvents
format, a batch. Output is binary mode with ``datacontenttype`` (Content-Type)
always set, as Knative wants of a reply.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from cloudevents.core.base import BaseCloudEvent, EventFactory
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.formats.json import JSONFormat

from events.codecs.bounded import check_depth, loads, too_deep
from events.codecs.required import event_from, require
from events.errors import MalformedEvent

__all__ = [
    "CE_PREFIX",
    "JSON",
    "STRUCTURED_CONTENT_TYPE",
    "HTTPMessage",
    "from_http",
    "to_binary",
    "to_structured",
]

HTTPMessage = ce_http.HTTPMessage
CE_PREFIX: Final = ce_http.CE_PREFIX
JSON: Final = "application/json"
STRUCTURED_CONTENT_TYPE: Final = JSONFormat.CONTENT_TYPE
_JSON_TYPE: Final = re.compile(r"^(application|text)/([a-z0-9.\-]+\+)?json$")


def _media_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` -> ``application/json``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


class _StrictJSON(JSONFormat):
    """The SDK's JSON format, except that data which is not JSON is an error."""

    def read_data(self, body: bytes, datacontenttype: str | None) -> Any:
        if not body:
            return None
        media = _media_type(datacontenttype) or JSON
        if not _JSON_TYPE.match(media):
            raise MalformedEvent(
                f"content type {datacontenttype!r}: baton events carry JSON data "
                f"(application/json or application/cloudevents+json)"
            )
        return loads(body, "body")


_FORMAT: Final = _StrictJSON()


def _checked(mode: str, factory: EventFactory | None) -> EventFactory:
    def build(attributes: dict[str, Any], data: Any) -> BaseCloudEvent:
        where = f"{mode} CloudEvent"
        require(attributes, where, binary=mode == "binary")
        if mode == "structured":
            content_type = attributes.get("datacontenttype")
            if (
                data is not None
                and content_type
                and not _JSON_TYPE.match(_media_type(content_type))
            ):
                raise MalformedEvent(
                    f"datacontenttype {content_type!r}: baton events carry JSON data"
                )
            if isinstance(data, (bytes, bytearray)):
                raise MalformedEvent("structured CloudEvent: data_base64 is not JSON data")
        return event_from(factory, attributes, data, where)

    return build


def _binary(message: HTTPMessage, factory: EventFactory | None) -> BaseCloudEvent:
    try:
        return ce_http.from_binary(message, _FORMAT, _checked("binary", factory))
    except MalformedEvent:
        raise
    except ValueError as exc:  # the one attribute the binding parses: time
        raise MalformedEvent(
            f"binary CloudEvent: header ce-time is not an RFC 3339 timestamp: {exc}"
        ) from exc


def _structured(message: HTTPMessage, factory: EventFactory | None) -> BaseCloudEvent:
    if not message.body.lstrip().startswith(b"{"):
        raise MalformedEvent("structured CloudEvent: body is not a JSON object")
    try:
        event = _FORMAT.read(_checked("structured", factory), message.body)
    except MalformedEvent:
        raise
    except RecursionError:
        raise too_deep("structured CloudEvent") from None
    except (ValueError, TypeError) as exc:  # bad JSON, UTF-8, time or data_base64
        raise MalformedEvent(f"structured CloudEvent: {exc}") from exc
    check_depth(event.get_data(), "structured CloudEvent data")
    return event


def from_http(
    headers: Mapping[str, str], body: bytes, event_factory: EventFactory | None = None
) -> BaseCloudEvent:
    """The CloudEvent in an HTTP request of either mode, or ``MalformedEvent`` saying why not."""
    plain = {name.lower(): value for name, value in headers.items()}
    message = HTTPMessage(headers=plain, body=body)
    media = _media_type(plain.get("content-type"))
    if media.startswith("application/cloudevents-batch"):
        raise MalformedEvent("batched CloudEvents are not accepted: send one event per request")
    if media.startswith("application/cloudevents"):
        if media != STRUCTURED_CONTENT_TYPE:
            raise MalformedEvent(f"content type {media!r}: only the JSON event format is accepted")
        return _structured(message, event_factory)
    if any(name.startswith(CE_PREFIX) for name in plain):
        return _binary(message, event_factory)
    raise MalformedEvent(
        f"not a CloudEvent: no ce-* headers and content type {media or 'none'!r} "
        f"is not {STRUCTURED_CONTENT_TYPE}"
    )


def to_binary(event: BaseCloudEvent) -> HTTPMessage:
    """The event in binary mode; Content-Type (``datacontenttype``) is always set."""
    message = ce_http.to_binary(event, _FORMAT)
    if "content-type" not in message.headers:
        message.headers["content-type"] = JSON
    return message


def to_structured(event: BaseCloudEvent) -> HTTPMessage:
    """The event in structured mode (JSON event format)."""
    return ce_http.to_structured(event, _FORMAT)
