"""An MCP tool whose input schema *is* a bus request model and whose output is its reply model.

The SDK derives a tool's schema from a function signature; our contracts are pydantic models
already, so a tool is built from them directly: the arguments model is the request model (flat
arguments, every constraint and ``additionalProperties: false`` kept) and the structured result
is validated against the reply model. Failures come back as ``is_error`` results whose text is
the same message HTTP and the CLI show — never a traceback.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp_types import ToolAnnotations
from pydantic import BaseModel, ValidationError, create_model

from prompt_alchemy.bus.codec import field_errors
from prompt_alchemy.gateway.failures import as_service_error

__all__ = ["ToolRun", "model_tool"]

ToolRun = Callable[[Any, Context], Awaitable[BaseModel]]
"""Runs a tool: the validated arguments model in, the reply model out."""


def _failure_text(error: BaseException) -> str:
    if isinstance(error, ValidationError):
        problems = "; ".join(f"{item['field']}: {item['message']}" for item in field_errors(error))
        return f"invalid arguments: {problems}"
    service_error = as_service_error(error)
    return f"{service_error.message} ({service_error.code} {service_error.kind})"


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
    argument_model = create_model(f"{name}_arguments", __base__=(arguments, ArgModelBase), __module__=__name__)

    async def call(ctx: Context, **fields: Any) -> BaseModel:
        try:
            return await run(arguments.model_validate(fields), ctx)
        except ToolError:
            raise
        except Exception as error:
            raise ToolError(_failure_text(error)) from error

    call.__name__ = name
    return Tool(
        fn=call,
        name=name,
        title=annotations.title if annotations else None,
        description=description,
        parameters=arguments.model_json_schema(),
        fn_metadata=FuncMetadata(arg_model=argument_model, output_model=reply),
        is_async=True,
        context_kwarg="ctx",
        annotations=annotations,
    )
