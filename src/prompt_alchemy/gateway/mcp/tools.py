"""An MCP tool whose input schema *is* a bus request model and whose output is its reply model.

The SDK derives a tool's schema from a function signature; our contracts are pydantic models
already, so a tool is built from them directly: the arguments model is the request model (flat
arguments, every constraint and ``additionalProperties: false`` kept) and the structured result
is validated against the reply model. Failures come back as ``is_error`` results whose text is
the ``ErrorBody`` JSON HTTP answers (``{"code": 422, "kind": "unprocessable", "message":
"invalid GenerateRequest: count: ..."}``) — never a traceback, pydantic's docs links or the
rejected input.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict

from prompt_alchemy.gateway.failures import error_body
from prompt_alchemy.gateway.validation import validate_model

__all__ = ["ToolRun", "model_tool"]

log = logging.getLogger(__name__)

ToolRun = Callable[[Any, Context], Awaitable[BaseModel]]
"""Runs a tool: the validated arguments model in, the reply model out."""


def _failure(error: BaseException) -> CallToolResult:
    """An ``is_error`` result whose text is the ``ErrorBody`` JSON the HTTP API answers."""
    body = error_body(error)
    log.info("tool call failed: %s %s", body.code, body.kind)
    return CallToolResult(content=[TextContent(type="text", text=body.model_dump_json())], is_error=True)


class _RawArguments(ArgModelBase):
    """Lets every argument through to ``call``: the request model validates them there, so an
    argument error reads as HTTP's 422 does, not as pydantic's text with docs links and input."""

    model_config = ConfigDict(extra="allow")

    def model_dump_one_level(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


def model_tool(
    name: str,
    description: str,
    arguments: type[BaseModel],
    reply: type[BaseModel],
    run: ToolRun,
    *,
    annotations: ToolAnnotations | None = None,
) -> Tool:
    """A tool taking ``arguments`` (flat, as the model's fields) and answering ``reply``."""

    async def call(ctx: Context, **fields: Any) -> BaseModel | CallToolResult:
        try:
            return await run(validate_model(arguments, fields), ctx)
        except ToolError:
            raise
        except Exception as error:
            return _failure(error)

    call.__name__ = name
    return Tool(
        fn=call,
        name=name,
        title=annotations.title if annotations else None,
        description=description,
        parameters=arguments.model_json_schema(),
        fn_metadata=FuncMetadata(arg_model=_RawArguments, output_model=reply),
        is_async=True,
        context_kwarg="ctx",
        annotations=annotations,
    )
