"""MCP tools for named prompts: serve one by label, move a label (audited as ``mcp``).

An agent's calls are few, so ``get_prompt_by_label`` reads the label from storage each time
(``serve_uncached``: no cache to keep in step) and reports the served version at once.
"""

from __future__ import annotations

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from mcp_types import ToolAnnotations
from pydantic import BaseModel

from prompt_alchemy.bus import Bus
from prompt_alchemy.gateway.label_cache import serve_uncached
from prompt_alchemy.gateway.mcp.tools import model_tool
from prompt_alchemy.gateway.model_views import model_without
from prompt_alchemy.schemas.labels import LabelSetReply, LabelSetRequest, ServedPrompt, ServeRequest
from prompt_alchemy.schemas.registry import STORAGE_LABEL_SET

__all__ = ["REGISTRY_TOOL_NAMES", "SetLabelArguments", "registry_tools"]

REGISTRY_TOOL_NAMES = ("get_prompt_by_label", "set_label")
MCP_ACTOR = "mcp"

SetLabelArguments = model_without(LabelSetRequest, "actor", "automatic", name="SetLabelArguments")


def registry_tools(bus: Bus, *, request_timeout_s: float) -> list[Tool]:
    async def serve(arguments: ServeRequest, _ctx: Context) -> ServedPrompt:
        return await serve_uncached(bus, arguments, timeout=request_timeout_s)

    async def set_label(arguments: BaseModel, _ctx: Context) -> LabelSetReply:
        request = LabelSetRequest.model_validate({**arguments.model_dump(exclude_unset=True), "actor": MCP_ACTOR})
        return await bus.request(STORAGE_LABEL_SET, request, timeout=request_timeout_s)

    return [
        model_tool(
            "get_prompt_by_label",
            "The prompt a name's label (default `prod`) serves, e.g. name `support-triage`. When the label "
            "splits traffic (A/B), pass a stable `key` (user or session id) to keep getting the same version. "
            "Record feedback on the answer's `prompt_id`.",
            ServeRequest,
            ServedPrompt,
            serve,
            annotations=ToolAnnotations(title="Get a prompt by label", open_world_hint=False),
        ),
        model_tool(
            "set_label",
            "Point a label of a named prompt at a `version`, at a stored `prompt_id` (named on the way) or at an "
            "A/B split (`variants` with integer weights). The move is recorded with a reason, if given.",
            SetLabelArguments,
            LabelSetReply,
            set_label,
            annotations=ToolAnnotations(title="Move a label", idempotent_hint=True, open_world_hint=False),
        ),
    ]
