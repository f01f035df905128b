"""JSON text for stored bodies: orjson when installed (3-10x faster), else the stdlib.

Both produce compact UTF-8 text that SQLite's JSON functions read. A value JSON
cannot hold (a Python datetime from unquoted YAML, a set, ...) raises TypeError.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["dumps", "loads"]

_stdlib_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _pick() -> tuple[Callable[[Any], str], Callable[[str], Any]]:
    try:
        import orjson
    except ImportError:
        return _stdlib_dumps, json.loads

    encode = orjson.dumps

    def dumps(value: Any) -> str:
        return encode(value).decode()

    return dumps, orjson.loads


dumps, loads = _pick()
