"""Resource names as Kubernetes checks them, and as they may enter an API path.

Every name a user or a model supplies (a run's ``agentRef.name``, a tool's ``mcpServer``,
the ``name`` a model passes to ``get_resource``) ends up in a URL such as
``/apis/baton.dev/v1alpha1/namespaces/<ns>/agents/<name>``. Unchecked, ``../../tenant-b/
agents/x`` walks into another namespace: HTTP clients resolve dot segments. client-go
refuses such names before sending (``IsValidPathSegmentName``); this module does the same,
stricter: a name must be what the API server would accept on create (a DNS-1123
subdomain, a namespace a DNS-1123 label), and is percent-encoded all the same.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import quote

from functions.ports import Invalid

__all__ = ["is_name", "is_namespace", "name_segment", "namespace_segment"]

MAX_NAME: Final = 253
MAX_NAMESPACE: Final = 63
_LABEL: Final = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN: Final = re.compile(rf"{_LABEL}(\.{_LABEL})*")
_NAMESPACE: Final = re.compile(_LABEL)


def is_name(value: object) -> bool:
    """True when ``value`` is a valid object name (a lowercase RFC 1123 subdomain)."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_NAME
        and _SUBDOMAIN.fullmatch(value) is not None
    )


def is_namespace(value: object) -> bool:
    """True when ``value`` is a valid namespace name (a lowercase RFC 1123 label)."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_NAMESPACE
        and _NAMESPACE.fullmatch(value) is not None
    )


def _shown(value: object) -> str:
    # Quote at most 80 characters: a name is echoed in errors, a model may send megabytes.
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def name_segment(value: object, field: str = "metadata.name") -> str:
    """``value`` as one URL path segment; ``Invalid`` naming ``field`` when it is no name."""
    rule = (
        "a name must be a lowercase RFC 1123 subdomain"
        " (lowercase letters, digits, '-' and '.', at most 253 characters)"
    )
    return _segment(value, is_name(value), field, rule)


def namespace_segment(value: object, field: str = "metadata.namespace") -> str:
    """``value`` as the namespace segment of a URL; ``Invalid`` when it is no namespace."""
    rule = (
        "a namespace must be a lowercase RFC 1123 label"
        " (lowercase letters, digits and '-', at most 63 characters)"
    )
    return _segment(value, is_namespace(value), field, rule)


def _segment(value: object, valid: bool, field: str, rule: str) -> str:
    if not valid:
        raise Invalid(f"{field}: Invalid value: {_shown(value)}: {rule}", field=field)
    return quote(str(value), safe="")
