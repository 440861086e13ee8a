"""Replies sized for an agent's context: the default MCP generate_prompts answer fits in 4 KB.

Ideas of different kinds (a poem, code, an analysis with input, a plan with a budget) run the
default request against every real worker; the answer is measured as the text content and as
the structured content an MCP client reads.
"""

from __future__ import annotations

import json

import pytest
from mcp import Client
from mcp.types import CallToolResult, TextContent

from prompt_alchemy.gateway.mcp import create_server
from prompt_alchemy.gateway.reply_summary import GenerateSummary, distinctive
from prompt_alchemy.runtime.embedded import EmbeddedRuntime

MAX_REPLY_BYTES = 4096
IDEAS = (
    "limerick about my neighbour's parrot that only says rude words, for her birthday card",
    "typescript function that groups an array of orders by customer id and sums the totals, with jest tests",
    "summarise this quarterly board deck for new hires, plain language, under 300 words",
    "plan a 3-day school trip to Edinburgh for 30 pupils on a 9000 GBP budget, two teachers, one wheelchair user",
)


def tool_text(result: CallToolResult) -> str:
    return " ".join(block.text for block in result.content if isinstance(block, TextContent))


@pytest.mark.parametrize("idea", IDEAS)
async def test_the_default_generate_reply_fits_in_4_kb(runtime: EmbeddedRuntime, idea: str) -> None:
    async with Client(create_server(runtime.bus, runtime.feedback)) as client:
        result = await client.call_tool("generate_prompts", {"input": idea})
    assert not result.is_error, tool_text(result)
    text = tool_text(result)
    structured = json.dumps(result.structured_content, ensure_ascii=False)
    assert len(text.encode()) <= MAX_REPLY_BYTES, len(text.encode())
    assert len(structured.encode()) <= MAX_REPLY_BYTES, len(structured.encode())
    summary = GenerateSummary.model_validate(result.structured_content)
    assert summary.best is not None
    assert summary.best.content in text  # the best prompt in full
    assert len(summary.others) == 2  # one line per other final candidate
    assert "features" not in structured  # no ranker internals
    assert any("offline" in warning for warning in summary.warnings)


def test_what_sets_a_candidate_apart_is_its_first_sentence_the_other_lacks() -> None:
    best = "You are a poet.\n\n## Task\nWrite a haiku.\n\n## Requirements\n1. Three lines. Also, keep the frog."
    other = "You are a poet.\n\n## Task\nWrite a haiku.\n\n## Steps\n1. Choose the image first.\n2. Keep the frog."
    assert distinctive(other, best) == "Choose the image first."
    assert distinctive("You are a poet.\n\nWrite a haiku.", best).startswith("leaner: 7 words")
    assert distinctive("x " * 200, None).endswith("…")
