"""``prompt-alchemy mcp`` over stdio, as Claude Desktop or an IDE runs it: embedded, offline, no server."""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

COMMAND = str(Path(sys.executable).parent / "prompt-alchemy")


def _server(home: Path) -> StdioServerParameters:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.endswith(("_API_KEY", "_API_KEYS", "_BASE_URL")) and not name.startswith(("ALCHEMY_", "NATS_"))
    }
    env.update({"HOME": str(home), "XDG_DATA_HOME": str(home / "share")})
    return StdioServerParameters(command=COMMAND, args=["--data-dir", str(home / "data"), "mcp"], env=env)


@pytest.mark.slow
async def test_every_tool_over_stdio(tmp_path: Path, every_tool: Callable[[Client], Awaitable[None]]) -> None:
    async with Client(_server(tmp_path), read_timeout_seconds=120) as client:
        await every_tool(client)
