"""CloudEvents NATS protocol binding, built on cloudevents' core like its HTTP binding.

Binary mode (NATS >= 2.2 headers, the binding spec's 1.0.3 draft and sdk-go's
``nats_jetstream``): every attribute, ``datacontenttype`` included, is a ``ce-<name>``
header, percent-encoded by the HTTP binding's rule; the data is the payload. NATS has no
Content-Type of its own, so ``content-type`` is left to mean "this payload is a structured
event". Structured mode (a JSON event format payload, as eventing-natss and the 1.0.2 spec
store it) is accepted on input; ``from_nats`` tells the two apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote, unquote

from cloudevents.core.base import BaseCloudEvent, EventFactory
from cloudevents.core.formats.base import Format
from cloudevents.core.formats.json import JSONFormat
from dateutil.parser import isoparse

from events.codecs.bounded import check_depth, loads, too_deep
from events.codecs.required import event_from, require
from events.errors import MalformedEvent

__all__ = [
    "CE_PREFIX",
    "CONTENT_TYPE_HEADER",
    "STRUCTURED_CONTENT_TYPE",
    "NATSMessage",
    "from_binary",
    "from_nats",
    "from_structured",
    "to_binary",
    "to_structured",
]

CE_PREFIX: Final = "ce-"
CONTENT_TYPE_HEADER: Final = "content-type"
STRUCTURED_CONTENT_TYPE: Final = JSONFormat.CONTENT_TYPE
_DATACONTENTTYPE: Final = "datacontenttype"
_TIME: Final = "time"
# The HTTP binding's safe set (spec 3.1.3.2): printable ASCII except space, '"' and '%'.
# NATS header values end at CR/LF like HTTP/1's, so the same rule keeps them intact.
_SAFE: Final = "".join(c for c in map(chr, range(0x21, 0x7F)) if c not in ' "%')


@dataclass(frozen=True)
class NATSMessage:
    """The headers and payload of one NATS message carrying a CloudEvent."""

    headers: dict[str, str]
    data: bytes


def _encode(value: Any) -> str:
    if isinstance(value, datetime):
        text = value.isoformat()
        if text.endswith("+00:00"):
            text = text[:-6] + "Z"
        return quote(text, safe=_SAFE)
    return quote(str(value), safe=_SAFE)


def _decode(name: str, value: str) -> Any:
    try:
        decoded = unquote(value, errors="strict")
    except UnicodeDecodeError as exc:
        raise MalformedEvent(f"header {CE_PREFIX}{name}: not percent-encoded UTF-8") from exc
    if name != _TIME:
        return decoded
    try:
        return isoparse(decoded)
    except ValueError as exc:
        raise MalformedEvent(
            f"header {CE_PREFIX}time: not an RFC 3339 timestamp: {decoded!r}"
        ) from exc


def _checked(factory: EventFactory | None, mode: str) -> EventFactory:
    def build(attributes: dict[str, Any], data: Any) -> BaseCloudEvent:
        where = f"{mode} NATS message"
        require(attributes, where, binary=mode == "binary")
        return event_from(factory, attributes, data, where)

    return build


def to_binary(event: BaseCloudEvent, event_format: Format | None = None) -> NATSMessage:
    """The event in binary mode: ``ce-`` headers for every attribute, data as payload."""
    event_format = event_format or JSONFormat()
    attributes = event.get_attributes()
    headers = {
        CE_PREFIX + name: _encode(value) for name, value in attributes.items() if value is not None
    }
    data = event_format.write_data(event.get_data(), attributes.get(_DATACONTENTTYPE))
    return NATSMessage(headers=headers, data=data)


def from_binary(
    message: NATSMessage,
    event_format: Format | None = None,
    event_factory: EventFactory | None = None,
) -> BaseCloudEvent:
    """The event in a binary-mode message, or ``MalformedEvent`` naming what is wrong."""
    event_format = event_format or JSONFormat()
    attributes: dict[str, Any] = {}
    content_type: str | None = None
    for header, value in message.headers.items():
        lowered = header.lower()
        if lowered.startswith(CE_PREFIX):
            name = lowered[len(CE_PREFIX) :]
            attributes[name] = _decode(name, value)
        elif lowered == CONTENT_TYPE_HEADER:
            content_type = value
    # Producers that map datacontenttype the HTTP way (sdk-go) use content-type instead.
    if content_type and _DATACONTENTTYPE not in attributes:
        attributes[_DATACONTENTTYPE] = content_type
    content_type = attributes.get(_DATACONTENTTYPE)
    if message.data and _is_json(content_type) and type(event_format) is JSONFormat:
        # JSON data that does not parse is malformed, not text to pass on (the SDK's
        # format would hand the raw string to a handler expecting an object). The attributes
        # are checked first: a message without them is named for that, not for its data.
        require(attributes, "binary NATS message", binary=True)
        data = loads(message.data, "binary NATS message data")
        return _checked(event_factory, "binary")(attributes, data)
    try:
        data = event_format.read_data(message.data, content_type)
    except RecursionError:
        raise too_deep("binary NATS message data") from None
    except (ValueError, TypeError) as exc:  # not UTF-8, or a format that refuses the data
        raise MalformedEvent(f"binary NATS message: data: {exc}") from exc
    check_depth(data, "binary NATS message data")
    return _checked(event_factory, "binary")(attributes, data)


def _is_json(content_type: str | None) -> bool:
    """True for a missing data content type (JSON by default) and JSON media types."""
    media = (content_type or "application/json").split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json") or media == "text/json"


def to_structured(event: BaseCloudEvent, event_format: Format | None = None) -> NATSMessage:
    """The event in structured mode: the whole event, JSON format, as payload."""
    event_format = event_format or JSONFormat()
    headers = {CONTENT_TYPE_HEADER: event_format.get_content_type()}
    return NATSMessage(headers=headers, data=event_format.write(event))


def from_structured(
    message: NATSMessage,
    event_format: Format | None = None,
    event_factory: EventFactory | None = None,
) -> BaseCloudEvent:
    """The event in a structured-mode payload, or ``MalformedEvent`` naming what is wrong."""
    event_format = event_format or JSONFormat()
    if not message.data.lstrip().startswith(b"{"):
        raise MalformedEvent("structured NATS message: payload is not a JSON object")
    try:
        event = event_format.read(_checked(event_factory, "structured"), message.data)
    except MalformedEvent:
        raise
    except RecursionError:
        raise too_deep("structured NATS message") from None
    except (ValueError, TypeError) as exc:  # bad JSON, UTF-8, time or data_base64
        raise MalformedEvent(f"structured NATS message: {exc}") from exc
    check_depth(event.get_data(), "structured NATS message data")
    return event


def _content_type(headers: dict[str, str]) -> str:
    for header, value in headers.items():
        if header.lower() == CONTENT_TYPE_HEADER:
            return value.strip().lower()
    return ""


def from_nats(
    message: NATSMessage,
    event_format: Format | None = None,
    event_factory: EventFactory | None = None,
) -> BaseCloudEvent:
    """The event in a message of either mode: a CloudEvents content type or no ``ce-``
    headers means structured, otherwise binary."""
    content_type = _content_type(message.headers)
    if content_type.startswith("application/cloudevents-batch"):
        raise MalformedEvent("NATS message: batched mode is not defined for NATS")
    if content_type.startswith("application/cloudevents"):
        return from_structured(message, event_format, event_factory)
    if any(header.lower().startswith(CE_PREFIX) for header in message.headers):
        return from_binary(message, event_format, event_factory)
    return from_structured(message, event_format, event_factory)
