"""JSON from a stranger, bounded: nesting depth is limited before anything walks the value.

``json.loads`` of ``[[[[...]]]]`` nested 100,000 levels raises ``RecursionError`` (not a
``ValueError``), and a value nested a few thousand levels parses, then crashes whatever
recurses over it next (schema validation, ``copy.deepcopy``, the JSON encoder). Every body
or payload from outside goes through ``loads`` or ``check_depth``: a value deeper than
``MAX_DEPTH`` is a ``MalformedEvent`` (400) naming the limit.
"""

from __future__ import annotations

import json
from typing import Any, Final

from events.errors import MalformedEvent

__all__ = ["MAX_DEPTH", "check_depth", "loads"]

# Far above any real event or chat payload (Slack's deepest is ~8), far below where
# recursion in the standard library or jsonschema becomes a risk (~1,000).
MAX_DEPTH: Final = 64


def check_depth(value: Any, what: str, limit: int = MAX_DEPTH) -> Any:
    """``value`` when no list or object in it nests deeper than ``limit``; else MalformedEvent."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            raise too_deep(what, limit)
        stack.extend((child, depth + 1) for child in children)
    return value


def too_deep(what: str, limit: int = MAX_DEPTH) -> MalformedEvent:
    """The error for a value nested past ``limit``."""
    return MalformedEvent(f"{what} nests deeper than {limit} levels")


def loads(body: bytes | str, what: str) -> Any:
    """``body`` parsed as JSON and depth-checked; MalformedEvent naming ``what`` otherwise."""
    try:
        value = json.loads(body)
    except RecursionError:
        raise too_deep(what) from None
    except UnicodeDecodeError as exc:
        raise MalformedEvent(f"{what} is not UTF-8: {exc}") from exc
    except ValueError as exc:
        raise MalformedEvent(f"{what} is not JSON: {exc}") from exc
    return check_depth(value, what)
