"""``create_server``: the MCP server of prompt-alchemy, eleven tools on the bus.

Each tool is one bus contract (or the durable feedback sink) with the contract's models as its
input schema and structured output. ``generate_prompts`` forwards the engine's progress events
as standard MCP progress notifications when the client asked for progress. Transports are the
caller's: ``run_stdio_async()`` for Claude Desktop / IDEs, ``streamable_http_app()`` (``/mcp``)
or ``run_streamable_http_async(host=, port=)`` for HTTP.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.tools import Tool
from mcp_types import ToolAnnotations
from pydantic import BaseModel

from prompt_alchemy import __version__
from prompt_alchemy.bus import Bus
from prompt_alchemy.gateway.feedback import FeedbackSink, submit_feedback
from prompt_alchemy.gateway.generation import generate_with_progress
from prompt_alchemy.gateway.mcp.registry_tools import REGISTRY_TOOL_NAMES, registry_tools
from prompt_alchemy.gateway.mcp.tools import model_tool
from prompt_alchemy.gateway.model_views import model_without
from prompt_alchemy.schemas import registry
from prompt_alchemy.schemas.engine import GenerateReply, GenerateRequest
from prompt_alchemy.schemas.events import GenerationProgress
from prompt_alchemy.schemas.learning import FeedbackAccepted, FeedbackEvent
from prompt_alchemy.schemas.registry import Contract

__all__ = ["TOOL_NAMES", "RecordFeedbackArguments", "create_server"]

RecordFeedbackArguments = model_without(FeedbackEvent, "source", "created_at", name="RecordFeedbackArguments")

TOOL_NAMES = (
    "generate_prompts",
    "search_prompts",
    "get_prompt",
    "optimize_prompt",
    "batch_generate",
    "list_providers",
    "record_feedback",
    "get_recommendations",
    "get_learning_stats",
    *REGISTRY_TOOL_NAMES,
)

INSTRUCTIONS = (
    "prompt-alchemy turns a rough idea into production-ready LLM prompts through three phases "
    "(prima-materia: raw extraction, solutio: natural flow, coagulatio: precision), ranks them and "
    "remembers every prompt. Use generate_prompts for a new idea, search_prompts or get_recommendations "
    "to reuse stored prompts, optimize_prompt to improve one, and record_feedback after using a prompt "
    "so the ranking learns."
)

READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)


def _progress_message(event: GenerationProgress) -> str:
    where = f" {event.phase.value}" if event.phase is not None else ""
    return f"{event.kind.value}{where}: {event.message}" if event.message else f"{event.kind.value}{where}"


def create_server(bus: Bus, feedback: FeedbackSink, *, request_timeout_s: float = 120.0) -> MCPServer[Any]:
    """The MCP server on ``bus``; ``feedback`` persists feedback events durably (the runtime's publisher)."""

    def forward(name: str, description: str, contract: Contract[Any, Any], annotations: ToolAnnotations) -> Tool:
        """A tool that is one request/reply contract."""
        assert contract.reply is not None

        async def run(arguments: BaseModel, _ctx: Context) -> BaseModel:
            reply: BaseModel = await bus.request(contract, arguments, timeout=request_timeout_s)
            return reply

        return model_tool(name, description, contract.request, contract.reply, run, annotations=annotations)

    async def generate(arguments: GenerateRequest, ctx: Context) -> GenerateReply:
        reported = 0

        async def on_progress(event: GenerationProgress) -> None:
            nonlocal reported
            reported += 1
            await ctx.report_progress(reported, None, _progress_message(event))

        return await generate_with_progress(bus, arguments, on_progress, timeout=request_timeout_s)

    async def record(arguments: BaseModel, _ctx: Context) -> FeedbackAccepted:
        event = FeedbackEvent.model_validate({**arguments.model_dump(exclude_unset=True), "source": "mcp"})
        return await submit_feedback(bus, feedback, event)

    tools = [
        model_tool(
            "generate_prompts",
            "Turn an idea (`input`) into ranked prompts through the phases prima-materia, solutio and coagulatio; "
            "returns every candidate with scores and lineage and names the `best`. Reports progress.",
            GenerateRequest,
            GenerateReply,
            generate,
            annotations=ToolAnnotations(title="Generate prompts", open_world_hint=True),
        ),
        forward(
            "search_prompts",
            "Find stored prompts by meaning (`query`), by substring (`text`) or by filters; page with `cursor`.",
            registry.STORAGE_SEARCH,
            READ_ONLY,
        ),
        forward(
            "get_prompt",
            "One stored prompt by `id`, optionally with its earlier versions.",
            registry.STORAGE_GET,
            READ_ONLY,
        ),
        forward(
            "optimize_prompt",
            "Improve a prompt (`prompt` text or stored `prompt_id`) by judging, critiquing and rewriting it "
            "until `target_score` or `max_iterations`.",
            registry.ENGINE_OPTIMIZE,
            ToolAnnotations(title="Optimise a prompt", open_world_hint=True),
        ),
        forward(
            "batch_generate",
            "Generate for many ideas at once (`items`, each a generate request) with bounded concurrency.",
            registry.ENGINE_BATCH,
            ToolAnnotations(title="Generate in batch", open_world_hint=True),
        ),
        forward(
            "list_providers",
            "The LLM providers with availability, models and the fallback order.",
            registry.PROVIDERS_LIST,
            READ_ONLY,
        ),
        model_tool(
            "record_feedback",
            "Say how good a prompt was (`rating` 1-5, `effectiveness` 0-1, `helpful`, or `chosen_over` another "
            "prompt id); stored durably. Resending the same `event_id` is harmless.",
            RecordFeedbackArguments,
            FeedbackAccepted,
            record,
            annotations=ToolAnnotations(title="Record feedback", idempotent_hint=True, open_world_hint=False),
        ),
        forward(
            "get_recommendations",
            "The best stored prompts for an `input`: similarity weighted by what feedback taught.",
            registry.LEARNING_RECOMMENDATIONS,
            READ_ONLY,
        ),
        forward(
            "get_learning_stats",
            "What the learning worker has processed and the current ranking weights version.",
            registry.LEARNING_STATS,
            READ_ONLY,
        ),
        *registry_tools(bus, request_timeout_s=request_timeout_s),
    ]
    assert tuple(tool.name for tool in tools) == TOOL_NAMES
    return MCPServer(
        "prompt-alchemy",
        title="prompt-alchemy",
        instructions=INSTRUCTIONS,
        version=__version__,
        tools=tools,
    )
