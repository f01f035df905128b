"""URL allow-lists: where a secret-bearing request (a signed reply, an API key) may go.

An entry is an http(s) URL prefix: same scheme and host; the entry's port when it names
one (none: any port of that host); its path as a prefix ending at a ``/`` boundary, so
``https://hooks.example.com/baton`` allows ``.../baton/t-1`` and not ``.../baton-evil``.
User info (``https://a@b``) and whitespace make a URL unusable on either side.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

__all__ = ["is_http_url", "parse_list", "url_allowed"]

_UNSAFE: Final = frozenset("\r\n\t \\")


def _parts(url: str) -> tuple[str, str, int | None, str] | None:
    """(scheme, host, port or None, path) of an http(s) URL; None when it is not one."""
    if not isinstance(url, str) or any(c in _UNSAFE for c in url):
        return None
    try:
        split = urlsplit(url)
        port = split.port
    except ValueError:
        return None
    if split.scheme not in ("http", "https") or not split.hostname:
        return None
    if split.username is not None or split.password is not None:
        return None
    return split.scheme, split.hostname.lower(), port, split.path or "/"


def is_http_url(url: str) -> bool:
    """True when ``url`` is an http(s) URL usable in an allow-list."""
    return _parts(url) is not None


def parse_list(text: str) -> tuple[str, ...]:
    """The comma-separated entries of ``text``; ValueError naming one that is no URL."""
    entries = tuple(u.strip() for u in text.split(",") if u.strip())
    for entry in entries:
        if not is_http_url(entry):
            raise ValueError(f"{entry!r} is not an http(s) URL")
    return entries


def url_allowed(url: str, allowed: Iterable[str]) -> bool:
    """True when ``url`` falls under one of the ``allowed`` URL prefixes."""
    target = _parts(url)
    if target is None:
        return False
    for entry in allowed:
        rule = _parts(entry)
        if rule is None or rule[:2] != target[:2]:
            continue
        if rule[2] is not None and rule[2] != target[2]:
            continue
        prefix = rule[3].rstrip("/")
        if target[3] == prefix or target[3].startswith(prefix + "/"):
            return True
    return False
