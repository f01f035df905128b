"""What every CloudEvents decoder here insists on: the required attributes, as sent.

The SDK's constructor invents a missing id, specversion and time; on input a missing
required attribute is a malformed event, not one to make up. ``where`` in each message
names the transport and mode ("binary NATS message", "structured CloudEvent").
"""

from __future__ import annotations

from typing import Any, Final

from cloudevents.core.base import BaseCloudEvent, EventFactory
from cloudevents.core.bindings.common import get_event_factory_for_version
from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.spec import SPECVERSION_V0_3, SPECVERSION_V1_0

from events.errors import MalformedEvent

__all__ = ["REQUIRED", "SPECVERSIONS", "event_from", "require"]

REQUIRED: Final = ("specversion", "id", "source", "type")
SPECVERSIONS: Final = frozenset({SPECVERSION_V1_0, SPECVERSION_V0_3})
_HEADER_PREFIX: Final = "ce-"  # how binary mode names an attribute, in HTTP and NATS alike


def require(attributes: dict[str, Any], where: str, *, binary: bool) -> None:
    """MalformedEvent naming a missing required attribute or an unknown specversion."""
    missing = [name for name in REQUIRED if not attributes.get(name)]
    if missing:
        names = ", ".join(_HEADER_PREFIX + n if binary else n for n in missing)
        raise MalformedEvent(f"{where}: required attribute missing: {names}")
    version = attributes["specversion"]
    if version not in SPECVERSIONS:
        raise MalformedEvent(f"{where}: unknown specversion {version!r}")


def event_from(
    factory: EventFactory | None, attributes: dict[str, Any], data: Any, where: str
) -> BaseCloudEvent:
    """The event built by ``factory`` (the specversion's own when None); bad attributes named."""
    try:
        return (factory or get_event_factory_for_version(attributes["specversion"]))(
            attributes, data
        )
    except BaseCloudEventException as exc:  # the SDK's validation names each bad attribute
        raise MalformedEvent(f"{where}: {exc}") from exc
