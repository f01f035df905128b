"""An MCP tools/call result as the text a model reads back.

Text blocks are kept as they are; binary blocks become a short note of what they were
(a model reading base64 wastes tokens); structured content is sent as JSON when the
server gave no content blocks (servers SHOULD mirror it as text, and most do).
"""

from __future__ import annotations

import json
from typing import Any

from functions.ports import ToolResult

__all__ = ["to_tool_result"]


def _block_text(block: Any) -> str:
    kind = getattr(block, "type", "")
    if kind == "text":
        return str(block.text)
    if kind in ("image", "audio"):
        return f"[{kind} {block.mime_type}, {len(block.data) * 3 // 4} bytes]"
    if kind == "resource_link":
        return f"[resource {block.uri}" + (f": {block.description}]" if block.description else "]")
    if kind == "resource":
        resource = block.resource
        text = getattr(resource, "text", None)
        if text is not None:
            return str(text)
        return f"[resource {resource.uri}, {getattr(resource, 'mime_type', None) or 'binary'}]"
    return f"[{kind or 'unknown'} content]"


def to_tool_result(result: Any) -> ToolResult:
    """A ``CallToolResult`` flattened to text; ``isError`` carried over."""
    parts = [_block_text(block) for block in result.content or []]
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False, sort_keys=True))
    return ToolResult("\n".join(parts), is_error=bool(result.is_error))
