"""Built-in tools: an agent can read the time, do arithmetic and inspect baton itself."""

from __future__ import annotations

import ast
import json
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from functions.kube.names import is_name
from functions.ports import Invalid, NotFound, ToolCall, ToolContext, ToolResult, ToolSpec
from functions.tools.cluster import CLUSTER_TOOLS

__all__ = ["BUILTINS", "Builtin"]


class ToolInputError(ValueError):
    """The model passed input the tool cannot use; goes back to the model as is_error."""


@dataclass(frozen=True)
class Builtin:
    """A tool implemented in-process."""

    spec: ToolSpec
    run: Callable[[ToolCall, ToolContext], str]


# An IANA name ("Europe/Paris", "Etc/GMT+5"): never a path, so nothing a model sends can
# make zoneinfo open a directory or a file outside its database.
_ZONE: Final = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*")


def _shown(value: str) -> str:
    return repr(value) if len(value) <= 64 else repr(value[:61] + "...")


def _current_time(call: ToolCall, ctx: ToolContext) -> str:
    zone = str(call.input.get("timezone") or "UTC")
    unknown = ToolInputError(f"unknown timezone {_shown(zone)}: use an IANA name like Europe/Paris")
    if len(zone) > 64 or not _ZONE.fullmatch(zone):
        raise unknown
    try:
        tz = UTC if zone == "UTC" else ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: "America" is a directory of the zone database, not a zone; the message
        # names the zone only, never the server's path.
        raise unknown from None
    return datetime.now(tz).isoformat(timespec="seconds")


_OPS: Final[dict[type, Callable[..., Any]]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


_MAX_BITS: Final = 16_384  # about 4900 digits, past Python's int-to-str limit anyway


def _eval(node: ast.AST) -> Any:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 100:
            raise ToolInputError("exponent too large")
        if (
            isinstance(node.op, ast.Pow)
            and isinstance(left, int)
            and (
                left.bit_length() * abs(right) > _MAX_BITS  # nested powers would hang the worker
            )
        ):
            raise ToolInputError("result too large")
        return _OPS[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_eval(node.operand))
    raise ToolInputError(f"unsupported expression element {type(node).__name__}")


def _calculate(call: ToolCall, ctx: ToolContext) -> str:
    expression = str(call.input.get("expression", ""))
    if not expression or len(expression) > 500:
        raise ToolInputError("expression must be 1-500 characters")
    try:
        return str(_eval(ast.parse(expression, mode="eval")))
    except (SyntaxError, ZeroDivisionError, OverflowError, ValueError) as exc:
        # ValueError: Python refuses to print an int of more than 4300 digits
        raise ToolInputError(f"cannot evaluate {expression!r}: {exc}") from None


_KINDS: Final = {"AgentRun", "Agent", "Model", "MCPServer"}


def _summary(obj: dict[str, Any]) -> dict[str, Any]:
    status = obj.get("status") or {}
    out: dict[str, Any] = {"kind": obj["kind"], "name": obj["metadata"]["name"]}
    if obj["kind"] == "AgentRun":
        out.update(
            agent=obj["spec"]["agentRef"]["name"],
            phase=status.get("phase", ""),
            tokens=(status.get("tokenUsage") or {}).get("total", 0),
            error=(status.get("error") or {}).get("message"),
        )
    return out


def _own_namespace(call: ToolCall, ctx: ToolContext) -> str:
    """The run's namespace: an agent never reads another tenant's resources."""
    own = str(ctx.run["metadata"].get("namespace", "default"))
    asked = call.input.get("namespace")
    if asked and asked != own:
        shown = _shown(str(asked))
        raise ToolInputError(f"only namespace {own!r} is readable from this run, not {shown}")
    return own


def _list_resources(call: ToolCall, ctx: ToolContext) -> str:
    kind = str(call.input.get("kind") or "AgentRun")
    if kind not in _KINDS:
        raise ToolInputError(f"kind must be one of {sorted(_KINDS)}")
    namespace = _own_namespace(call, ctx)
    phase = call.input.get("phase")
    items = [_summary(o) for o in ctx.store.list(kind, namespace)]
    if phase:
        items = [i for i in items if i.get("phase") == phase]
    try:
        limit = max(int(call.input.get("limit") or 20), 1)
    except (TypeError, ValueError):
        raise ToolInputError("limit must be an integer") from None
    return json.dumps({"count": len(items), "items": items[-limit:]})


def _get_resource(call: ToolCall, ctx: ToolContext) -> str:
    kind, name = str(call.input.get("kind") or "AgentRun"), str(call.input.get("name") or "")
    if kind not in _KINDS or not name:
        raise ToolInputError(f"need kind (one of {sorted(_KINDS)}) and name")
    if not is_name(name):
        raise ToolInputError(
            f"{_shown(name)} is not a resource name (lowercase letters, digits, '-' and '.')"
        )
    namespace = _own_namespace(call, ctx)
    try:
        obj = ctx.store.get(kind, namespace, name)
    except (NotFound, Invalid):
        raise ToolInputError(f"{kind} {namespace}/{name} not found") from None
    return json.dumps({"spec": obj.get("spec"), "status": _summary(obj)})


def _schema(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required or []}


BUILTINS: Final[dict[str, Builtin]] = {
    b.spec.name: b
    for b in (
        Builtin(
            ToolSpec(
                "current_time",
                "The current date and time (ISO 8601) in a timezone.",
                _schema({"timezone": {"type": "string", "description": "IANA name, default UTC"}}),
            ),
            _current_time,
        ),
        Builtin(
            ToolSpec(
                "calculate",
                "Evaluate an arithmetic expression (+ - * / // % **).",
                _schema({"expression": {"type": "string"}}, ["expression"]),
            ),
            _calculate,
        ),
        Builtin(
            ToolSpec(
                "list_resources",
                "List baton resources (AgentRun, Agent, Model, MCPServer) "
                "in the run's namespace with their phase and token use.",
                _schema(
                    {
                        "kind": {"type": "string", "enum": sorted(_KINDS)},
                        "namespace": {"type": "string"},
                        "phase": {"type": "string"},
                        "limit": {"type": "integer", "minimum": 1, "maximum": 200},
                    }
                ),
            ),
            _list_resources,
        ),
        Builtin(
            ToolSpec(
                "get_resource",
                "Read one baton resource: its spec and a status summary.",
                _schema(
                    {
                        "kind": {"type": "string", "enum": sorted(_KINDS)},
                        "name": {"type": "string"},
                        "namespace": {"type": "string"},
                    },
                    ["name"],
                ),
            ),
            _get_resource,
        ),
    )
}


# Read-only Pods, their Events and logs for SRE agents (functions/tools/cluster.py).
BUILTINS.update({spec.name: Builtin(spec, run) for spec, run in CLUSTER_TOOLS})


def run_builtin(builtin: Builtin, call: ToolCall, ctx: ToolContext) -> ToolResult:
    """Run a built-in; bad input becomes an error result the model can correct."""
    try:
        return ToolResult(builtin.run(call, ctx))
    except ToolInputError as exc:
        return ToolResult(f"{call.name}: {exc}", is_error=True)
