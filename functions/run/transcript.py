"""The run's transcript, rebuilt from its journal in Anthropic Messages shape.

Journal keys: ``context`` (system prompt, tool specs, opening messages, limits,
written once by prepare_context), ``reply/<n>`` (the model's reply of step n),
``tool/<n>/<call id>`` (one tool result). Server mode adds ``input/<k>`` (the k-th
input as received, see functions.run.session) and ``user/<n>`` (the input that opens
step n, written when prepare_context takes it). Status keeps only counters; the
messages live here, so an AgentRun stays small however long the run.
"""

from __future__ import annotations

from typing import Any, Final

from functions.ports import ModelReply, ModelSwitch, Resource, Store, ToolCall, ToolSpec, Usage

__all__ = [
    "CONTEXT",
    "CONTINUED",
    "Transcript",
    "answer_text",
    "load",
    "reply_entry",
    "reply_from_entry",
    "reply_key",
    "tool_key",
    "user_key",
]

CONTEXT: Final = "context"
# Stop reasons after which the next step continues the same answer (when not failed).
CONTINUED: Final = frozenset({"pause_turn", "max_tokens"})


def reply_key(step: int) -> str:
    """Journal key of the model reply of ``step``."""
    return f"reply/{step}"


def tool_key(step: int, call_id: str) -> str:
    """Journal key of one tool result."""
    return f"tool/{step}/{call_id}"


def user_key(step: int) -> str:
    """Journal key of the user message (a server-mode input) that opens ``step``."""
    return f"user/{step}"


def reply_entry(reply: ModelReply) -> dict[str, Any]:
    """A model reply as a journal entry."""
    u = reply.usage
    entry: dict[str, Any] = {
        "role": "assistant",
        "content": reply.content,
        "stop_reason": reply.stop_reason,
        "model": reply.model,
        "usage": {
            "input": u.input,
            "output": u.output,
            "cacheRead": u.cache_read,
            "cacheCreation": u.cache_creation,
        },
    }
    if reply.answered_by:  # through a failover chain: who answered, and who could not
        entry["answeredBy"] = reply.answered_by
        entry["switches"] = [vars(s) for s in reply.switches]
    return entry


def reply_from_entry(entry: dict[str, Any]) -> ModelReply:
    """A journal entry back to the model reply it recorded."""
    u = entry.get("usage") or {}
    return ModelReply(
        content=list(entry.get("content") or []),
        stop_reason=str(entry.get("stop_reason", "end_turn")),
        usage=Usage(
            input=int(u.get("input", 0)),
            output=int(u.get("output", 0)),
            cache_read=int(u.get("cacheRead", 0)),
            cache_creation=int(u.get("cacheCreation", 0)),
        ),
        model=str(entry.get("model", "")),
        answered_by=str(entry.get("answeredBy", "")),
        switches=tuple(ModelSwitch(**s) for s in entry.get("switches") or ()),
    )


class Transcript:
    """A read-only view of one run's journal."""

    def __init__(self, entries: list[tuple[str, dict[str, Any]]]) -> None:
        self.entries = dict(entries)
        self.order = [key for key, _ in entries]

    @property
    def context(self) -> dict[str, Any]:
        """What prepare_context froze for the run (empty before it ran)."""
        return self.entries.get(CONTEXT, {})

    @property
    def system(self) -> str:
        """The system prompt of the run."""
        return str(self.context.get("system", ""))

    @property
    def tools(self) -> list[ToolSpec]:
        """The tool definitions the model sees."""
        return [
            ToolSpec(t["name"], t.get("description", ""), t.get("input_schema") or {})
            for t in self.context.get("tools", [])
        ]

    def reply(self, step: int) -> dict[str, Any] | None:
        """The recorded reply of ``step``, if any."""
        return self.entries.get(reply_key(step))

    def tool_result(self, step: int, call_id: str) -> dict[str, Any] | None:
        """The recorded result of one tool call, if any."""
        return self.entries.get(tool_key(step, call_id))

    def tool_calls(self, step: int) -> list[ToolCall]:
        """The tool calls the model asked for at ``step``."""
        entry = self.reply(step)
        return reply_from_entry(entry).tool_calls if entry else []

    def user(self, step: int) -> dict[str, Any] | None:
        """The input that opens ``step`` (server mode), if any."""
        return self.entries.get(user_key(step))

    def exchange_start(self, step: int) -> int:
        """The step the exchange containing ``step`` began at (1 unless an input opened one)."""
        for k in range(step, 1, -1):
            if user_key(k) in self.entries:
                return k
        return 1

    def messages(self, step: int) -> list[dict[str, Any]]:
        """The messages to send for ``step``: opening messages, then each earlier turn."""
        messages: list[dict[str, Any]] = [dict(m) for m in self.context.get("messages", [])]
        for k in range(1, step + 1):
            opening = self.user(k)
            if opening is not None:
                messages.append({"role": "user", "content": opening["content"]})
            if k == step:
                break
            entry = self.reply(k)
            if entry is None:
                break
            messages.append({"role": "assistant", "content": entry["content"]})
            results = [
                {
                    "type": "tool_result",
                    "tool_use_id": call.id,
                    "content": (self.tool_result(k, call.id) or {}).get("content", ""),
                    "is_error": bool((self.tool_result(k, call.id) or {}).get("is_error")),
                }
                for call in self.tool_calls(k)
            ]
            if results:
                messages.append({"role": "user", "content": results})
        return messages


def answer_text(transcript: Transcript, step: int, reply: ModelReply) -> str:
    """The reply's text, after the text of the turns it continues (pause_turn, max_tokens)."""
    parts = [reply.text]
    k, start = step - 1, transcript.exchange_start(step)
    while k >= start and (entry := transcript.reply(k)) and entry.get("stop_reason") in CONTINUED:
        parts.insert(0, reply_from_entry(entry).text)
        k -= 1
    return "".join(parts)


def load(store: Store, run: Resource) -> Transcript:
    """The transcript of ``run`` as recorded so far."""
    return Transcript(store.read_journal(run))
