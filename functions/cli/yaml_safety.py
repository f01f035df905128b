"""YAML from a file a person was handed: anchors and aliases bounded, like Kubernetes does.

PyYAML's safe loader shares an aliased node rather than copying it, so a 489-byte
"billion laughs" file loads at once, and then whatever walks the value (the JSON encoder,
schema validation, ``copy.deepcopy``) expands it to billions of nodes, or recurses until
the interpreter crashes. Kubernetes' YAML decoder (sigs.k8s.io/yaml, go-yaml v2.2.4+)
refuses a document whose aliases expand too far; this does the same: the value is walked
once, counting every node each time it is reached, and refused past ``MAX_NODES`` or
``MAX_DEPTH`` (a self-referencing alias never ends, so it is refused too).
"""

from __future__ import annotations

from typing import Any, Final

import yaml

__all__ = ["MAX_DEPTH", "MAX_NODES", "UnsafeYAML", "load_documents"]

MAX_NODES: Final = 200_000
MAX_DEPTH: Final = 100
MAX_BYTES: Final = 8 << 20


class UnsafeYAML(ValueError):
    """The text is not YAML, or its value would be too large or too deep once expanded."""


def _one_line(exc: yaml.MarkedYAMLError) -> str:
    """PyYAML's multi-line report as "line L, column C: problem (context)"."""
    mark = exc.problem_mark or exc.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    context = f" ({exc.context})" if exc.context else ""
    return f"{where}{exc.problem or 'not YAML'}{context}"


def _expanded_size(value: Any) -> None:
    """Refuse ``value`` when it expands past the node or depth budget."""
    budget = MAX_NODES
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        budget -= 1
        if budget < 0:
            raise UnsafeYAML(
                f"the YAML expands to more than {MAX_NODES} values "
                "(aliases that repeat aliases: refused)"
            )
        if isinstance(item, dict):
            children: list[Any] = [*item.keys(), *item.values()]
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            raise UnsafeYAML(f"the YAML nests deeper than {MAX_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children)


def load_documents(text: bytes | str) -> list[Any]:
    """Every document in ``text``, each checked; ``UnsafeYAML`` naming what is wrong."""
    if len(text) > MAX_BYTES:
        raise UnsafeYAML(f"the file is larger than {MAX_BYTES} bytes")
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.MarkedYAMLError as exc:
        raise UnsafeYAML(_one_line(exc)) from None
    except yaml.YAMLError as exc:
        raise UnsafeYAML(str(exc)) from None
    except RecursionError:
        raise UnsafeYAML(f"the YAML nests deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # e.g. a timestamp or an int PyYAML cannot convert
        raise UnsafeYAML(f"the YAML has a value that cannot be read: {exc}") from None
    for doc in docs:
        _expanded_size(doc)
    return docs
