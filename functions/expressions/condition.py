"""``when``: a CEL condition over the event, compiled once per trigger generation.

CEL (through ``common-expression-language``, the bindings of the cel-rust interpreter)
is the language Kubernetes validation rules, Knative and Argo Events users already
write. The expression sees ``event`` (the CloudEvent's attributes, extensions
included, all strings) and ``data`` (its JSON data). A syntax error names the line and
column; a name other than ``event`` and ``data`` is refused when the trigger is applied.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["Condition", "ConditionError", "compile_condition"]

VARIABLES: Final = ("event", "data")
_POSITION: Final = re.compile(r"<input>:(\d+):(\d+):\s*(.*)")
_UNDEFINED: Final = re.compile(r"Undefined variable or function: '([^']+)'")
# A stand-in event for the apply-time check: every attribute a CloudEvent may have.
_SAMPLE_EVENT: Final = {
    "id": "",
    "source": "",
    "type": "",
    "subject": "",
    "time": "",
    "specversion": "1.0",
    "datacontenttype": "",
}


class ConditionError(ValueError):
    """The condition does not compile, or names something it cannot see."""


@dataclass(frozen=True)
class Condition:
    """A compiled ``when`` expression."""

    source: str
    program: Any

    def evaluate(self, event: Mapping[str, Any], data: Any) -> bool:
        """True when the event passes; ``ConditionError`` when evaluation fails."""
        try:
            result = self.program.execute({"event": dict(event), "data": data})
        except Exception as exc:  # the interpreter raises KeyError, ValueError, RuntimeError
            raise ConditionError(f"when: {_describe(exc)}") from None
        if not isinstance(result, bool):
            raise ConditionError(f"when: evaluates to {type(result).__name__}, not a bool")
        return result


def _describe(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"no such key: {exc.args[0] if exc.args else exc}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _position(source: str, offset: int) -> str:
    line = source.count("\n", 0, offset) + 1
    column = offset - (source.rfind("\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}"


def compile_condition(source: str) -> Condition:
    """Compile ``source``; ``ConditionError`` names the position of what is wrong."""
    import cel  # the interpreter, loaded when a trigger has a condition

    try:
        program = cel.compile(source)
    except (ValueError, RuntimeError) as exc:
        text = str(exc)
        found = _POSITION.search(text)
        if found:
            line, column, message = found.groups()
            raise ConditionError(f"line {line}, column {column}: {message}") from None
        raise ConditionError(text.splitlines()[0]) from None
    condition = Condition(source, program)
    try:
        program.execute({"event": dict(_SAMPLE_EVENT), "data": {}})
    except RuntimeError as exc:
        undefined = _UNDEFINED.search(str(exc))
        if undefined:
            name = undefined.group(1)
            where = re.search(rf"\b{re.escape(name)}\b", source)
            at = _position(source, where.start()) if where else "somewhere"
            raise ConditionError(
                f"{at}: undeclared reference to {name!r} (the condition sees "
                f"{' and '.join(VARIABLES)})"
            ) from None
    except Exception:  # a missing key in the empty sample data is fine at apply time
        pass
    return condition
