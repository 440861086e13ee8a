"""``prompt-alchemy mcp`` over stdio, as Claude Desktop or an IDE runs it: embedded, offline, no server."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult, TextContent

from prompt_alchemy.gateway.mcp import TOOL_NAMES
from prompt_alchemy.schemas.engine import BatchReply, GenerateReply, OptimizeReply
from prompt_alchemy.schemas.learning import FeedbackAccepted, LearningStats, RecommendationsReply
from prompt_alchemy.schemas.providers import ProvidersListReply
from prompt_alchemy.schemas.storage import GetReply, SearchReply

COMMAND = str(Path(sys.executable).parent / "prompt-alchemy")


def _server(home: Path) -> StdioServerParameters:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.endswith(("_API_KEY", "_API_KEYS", "_BASE_URL")) and not name.startswith(("ALCHEMY_", "NATS_"))
    }
    env.update({"HOME": str(home), "XDG_DATA_HOME": str(home / "share")})
    return StdioServerParameters(command=COMMAND, args=["--data-dir", str(home / "data"), "mcp"], env=env)


def _text(result: CallToolResult) -> str:
    return " ".join(block.text for block in result.content if isinstance(block, TextContent))


def _ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, _text(result)
    assert result.structured_content is not None
    return result.structured_content


@pytest.mark.slow
async def test_every_tool_over_stdio(tmp_path: Path) -> None:
    progress: list[tuple[float, str | None]] = []

    async def on_progress(value: float, _total: float | None, message: str | None) -> None:
        progress.append((value, message))

    async with Client(_server(tmp_path), read_timeout_seconds=120) as client:
        tools = (await client.list_tools()).tools
        assert tuple(tool.name for tool in tools) == TOOL_NAMES

        generated = GenerateReply.model_validate(
            _ok(
                await client.call_tool(
                    "generate_prompts",
                    {"input": "a haiku about volcanoes", "count": 2},
                    progress_callback=on_progress,
                )
            )
        )
        assert generated.best is not None
        assert generated.best.id is not None
        best_id = generated.best.id

        found = SearchReply.model_validate(_ok(await client.call_tool("search_prompts", {"query": "volcano haiku"})))
        assert best_id in [hit.record.id for hit in found.hits]
        got = GetReply.model_validate(_ok(await client.call_tool("get_prompt", {"id": best_id})))
        assert got.record.content == generated.best.content
        optimized = OptimizeReply.model_validate(
            _ok(await client.call_tool("optimize_prompt", {"prompt_id": best_id, "max_iterations": 1}))
        )
        assert optimized.iterations
        batch = BatchReply.model_validate(
            _ok(await client.call_tool("batch_generate", {"items": [{"input": "a limerick"}, {"input": "a sonnet"}]}))
        )
        assert batch.succeeded == 2
        providers = ProvidersListReply.model_validate(_ok(await client.call_tool("list_providers", {})))
        assert any(provider.offline and provider.available for provider in providers.providers)
        accepted = FeedbackAccepted.model_validate(
            _ok(await client.call_tool("record_feedback", {"prompt_id": best_id, "rating": 5}))
        )
        assert not accepted.duplicate
        RecommendationsReply.model_validate(
            _ok(await client.call_tool("get_recommendations", {"input": "a poem about volcanoes"}))
        )
        LearningStats.model_validate(_ok(await client.call_tool("get_learning_stats", {})))

        invalid = await client.call_tool("generate_prompts", {"input": "x", "count": 99})
        assert invalid.is_error
        assert "count" in _text(invalid)
        unknown = await client.call_tool("get_prompt", {"id": "no-such-prompt"})
        assert unknown.is_error

    assert len(progress) >= 3
    assert [value for value, _ in progress] == sorted(value for value, _ in progress)
    messages = [message or "" for _, message in progress]
    assert messages[0].startswith("started")
    assert any(message.startswith("phase_started prima-materia") for message in messages)
    assert messages[-1].startswith("completed")
