"""Reading the bad-input corpus (tests/corpus/*.yaml): cases kept as data, with their answers.

Bodies too large or too odd to keep in YAML are written with placeholders, expanded here:
``__nested__N`` is N ``[`` then N ``]``, ``__c__N`` is the character c N times, and a body
``__hex__<hex>`` is those raw bytes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

__all__ = ["CORPUS", "cases", "expand", "expand_bytes"]

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
_NESTED = re.compile(r"__nested__(\d+)")
_REPEAT = re.compile(r"__(.)__(\d+)")


def cases(name: str) -> list[dict[str, Any]]:
    """The cases of ``tests/corpus/<name>.yaml``."""
    loaded: list[dict[str, Any]] = yaml.safe_load((CORPUS / f"{name}.yaml").read_text())
    return loaded


def _text(value: str) -> str:
    value = _NESTED.sub(lambda m: "[" * int(m.group(1)) + "]" * int(m.group(1)), value)
    return _REPEAT.sub(lambda m: m.group(1) * int(m.group(2)), value)


def expand(value: Any) -> Any:
    """``value`` with every placeholder in its strings expanded."""
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, list):
        return [expand(v) for v in value]
    if isinstance(value, dict):
        return {k: expand(v) for k, v in value.items()}
    return value


def expand_bytes(value: str) -> bytes:
    """A raw body: ``__hex__...`` as bytes, anything else expanded and UTF-8 encoded."""
    if value.startswith("__hex__"):
        return bytes.fromhex(value[len("__hex__") :])
    return _text(value).encode()
