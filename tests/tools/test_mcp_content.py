"""What a model reads back from an MCP tool result, for each kind of content block."""

from __future__ import annotations

import base64

from mcp.types import (
    CallToolResult,
    EmbeddedResource,
    ImageContent,
    ResourceLink,
    TextContent,
    TextResourceContents,
)

from functions.tools.mcp_content import to_tool_result


def test_text_blocks_are_joined_by_lines():
    """Several text blocks -> one text, one block a line."""
    result = CallToolResult(
        content=[TextContent(type="text", text="a"), TextContent(type="text", text="b")]
    )
    assert to_tool_result(result).content == "a\nb"


def test_binary_and_resource_blocks_become_short_notes():
    """Images are described, not pasted; embedded text resources are inlined; links named."""
    image = ImageContent(
        type="image", data=base64.b64encode(b"x" * 300).decode(), mime_type="image/png"
    )
    embedded = EmbeddedResource(
        type="resource",
        resource=TextResourceContents(
            uri="file:///notes.txt", text="the note", mime_type="text/plain"
        ),
    )
    link = ResourceLink(
        type="resource_link", uri="file:///big.csv", name="big", description="a table"
    )
    text = to_tool_result(CallToolResult(content=[image, embedded, link])).content
    assert text.splitlines() == [
        "[image image/png, 300 bytes]",
        "the note",
        "[resource file:///big.csv: a table]",
    ]


def test_text_wins_over_structured_content():
    """A server mirroring structured content as text is not shown twice."""
    result = CallToolResult(
        content=[TextContent(type="text", text="5")], structured_content={"result": "5"}
    )
    assert to_tool_result(result).content == "5"


def test_is_error_is_carried_over():
    """isError -> is_error."""
    result = CallToolResult(content=[TextContent(type="text", text="no")], is_error=True)
    assert to_tool_result(result).is_error
