"""A ModelFactory that replays scripted ModelReply objects and records every request."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from functions.ports import ModelReply, ModelRequest, Resource, Usage

__all__ = ["FakeModel", "FakeModels", "answer", "reply", "tool_use"]


def reply(
    stop_reason: str, *content: dict[str, Any], input: int = 10, output: int = 5
) -> ModelReply:
    """A reply with ``content`` blocks and the given usage."""
    return ModelReply(list(content), stop_reason, Usage(input=input, output=output), "fake-1")


def answer(text: str, *, input: int = 10, output: int = 5) -> ModelReply:
    """A final answer."""
    return reply("end_turn", {"type": "text", "text": text}, input=input, output=output)


def tool_use(
    *calls: tuple[str, str, dict[str, Any]], input: int = 10, output: int = 5
) -> ModelReply:
    """A reply asking for ``(id, name, input)`` tool calls."""
    blocks = [{"type": "tool_use", "id": i, "name": n, "input": args} for i, n, args in calls]
    return reply("tool_use", *blocks, input=input, output=output)


class FakeModel:
    """A ``Model`` that returns (or raises) its queued replies in order."""

    def __init__(self) -> None:
        self.replies: list[ModelReply | BaseException] = []
        self.requests: list[ModelRequest] = []

    def complete(self, request: ModelRequest) -> ModelReply:
        """The next queued reply; an exception queued is raised instead."""
        self.requests.append(request)
        if not self.replies:
            raise AssertionError(f"unexpected model call #{len(self.requests)}: nothing scripted")
        nxt = self.replies.pop(0)
        if isinstance(nxt, BaseException):
            raise nxt
        return nxt


class FakeModels:
    """``ModelFactory``: one ``FakeModel`` per Model resource name."""

    def __init__(self) -> None:
        self.models: dict[str, FakeModel] = {}

    def __getitem__(self, name: str) -> FakeModel:
        return self.models.setdefault(name, FakeModel())

    def script(self, name: str, *replies: ModelReply | BaseException) -> FakeModel:
        """Queue ``replies`` for Model ``name``."""
        model = self[name]
        model.replies.extend(replies)
        return model

    def for_resource(self, model: Resource) -> FakeModel:
        """The fake bound to the Model's name."""
        return self[model["metadata"]["name"]]

    def for_models(self, models: Sequence[Resource]) -> Any:
        """The real failover chain over the fakes, without waits between attempts."""
        from functions.models.failover import FailoverModel

        chain = [(m["metadata"]["name"], self.for_resource(m)) for m in models]
        return chain[0][1] if len(chain) == 1 else FailoverModel(chain, sleep=lambda s: None)

    @property
    def calls(self) -> int:
        """Model calls made across every fake."""
        return sum(len(m.requests) for m in self.models.values())

    def cost(self, model: Resource, usage: Mapping[str, int]) -> str:
        """One micro-dollar a token, so a test can read the count back from the cost."""
        return f"{usage.get('total', 0) / 1_000_000:.6f}"
