"""Templates of a trigger (task, dedupe key, labels, routing), rendered from one event.

Jinja in its immutable sandbox: a template sees ``event`` (attributes) and ``data``
and nothing else (no globals, no attribute access past the event's own values, no
mutation). A field the event does not have is an error naming its path
(``data.status.reason is missing``), never an empty string in a task.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["MAX_RENDERED", "Template", "TemplateError", "compile_template"]

MAX_RENDERED: Final = 32_768  # characters: what a task may grow to once rendered


class TemplateError(ValueError):
    """A template that does not compile, or cannot be rendered from this event."""


class _Node(dict[str, Any]):
    """A mapping of the event that knows its own path, for messages."""

    path = ""


def _wrap(value: Any, path: str) -> Any:
    if isinstance(value, Mapping):
        node = _Node(value)
        node.path = path
        return node
    if isinstance(value, list):
        return [_wrap(v, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def _environment() -> Any:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class EventEnvironment(ImmutableSandboxedEnvironment):
        """Lookups on the event say which path is missing when they miss."""

        def getattr(self, obj: Any, attribute: str) -> Any:
            if isinstance(obj, _Node):
                return self._lookup(obj, attribute)
            return super().getattr(obj, attribute)

        def getitem(self, obj: Any, argument: Any) -> Any:
            if isinstance(obj, _Node) and isinstance(argument, str):
                return self._lookup(obj, argument)
            if isinstance(obj, list) and isinstance(argument, int):
                if -len(obj) <= argument < len(obj):
                    return obj[argument]
                return self.undefined(hint=f"index {argument} is out of range", name="item")
            return super().getitem(obj, argument)

        def _lookup(self, node: _Node, key: str) -> Any:
            if key in node:
                return _wrap(node[key], f"{node.path}.{key}")
            return self.undefined(hint=f"{node.path}.{key} is missing", name=key)

    env = EventEnvironment(undefined=StrictUndefined, autoescape=False)
    env.globals.clear()  # no range(), lipsum(), dict(), cycler...: the event only
    return env


_ENV: Any = None


def _env() -> Any:
    global _ENV
    if _ENV is None:
        _ENV = _environment()
    return _ENV


@dataclass(frozen=True)
class Template:
    """A compiled template of one field of the trigger."""

    field: str
    source: str
    compiled: Any

    def render(self, event: Mapping[str, Any], data: Any) -> str:
        """The text for this event; ``TemplateError`` naming the field and the path."""
        from jinja2 import TemplateError as JinjaError

        try:
            text = str(self.compiled.render(event=_wrap(event, "event"), data=_wrap(data, "data")))
        except JinjaError as exc:
            raise TemplateError(f"{self.field}: {exc.message or exc}") from None
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise TemplateError(f"{self.field}: {exc}") from None
        if len(text) > MAX_RENDERED:
            raise TemplateError(
                f"{self.field}: renders to {len(text)} characters (the limit is {MAX_RENDERED})"
            )
        return text


def compile_template(field: str, source: str) -> Template:
    """Compile ``source``; ``TemplateError`` names the field and line of a syntax error."""
    from jinja2 import TemplateSyntaxError

    try:
        compiled = _env().from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"line {exc.lineno}: {exc.message}") from None
    return Template(field, source, compiled)
