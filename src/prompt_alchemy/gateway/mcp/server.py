"""``create_server``: the MCP server of prompt-alchemy, twelve tools on the bus.

Each tool is one bus contract (or the durable feedback sink) with the contract's models as its
input schema and structured output. ``generate_prompts`` forwards the engine's progress events
and the candidates' streamed text as standard MCP progress notifications when the client asked
for progress: a token's message is ``token <phase> chain <n>: <delta>``. Transports are the
caller's: ``run_stdio_async()`` for Claude Desktop / IDEs, ``streamable_http_app()`` (``/mcp``)
or ``run_streamable_http_async(host=, port=)`` for HTTP.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.tools import Tool
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from prompt_alchemy import __version__
from prompt_alchemy.bus import Bus
from prompt_alchemy.gateway.feedback import FeedbackGate, FeedbackLimits, FeedbackSink, submit_feedback
from prompt_alchemy.gateway.generation import generate_with_progress
from prompt_alchemy.gateway.mcp.registry_tools import REGISTRY_TOOL_NAMES, registry_tools
from prompt_alchemy.gateway.mcp.tools import model_tool
from prompt_alchemy.gateway.model_views import model_without
from prompt_alchemy.gateway.reply_summary import GenerateSummary, summarise, summary_text
from prompt_alchemy.gateway.validation import validate_model
from prompt_alchemy.schemas import registry
from prompt_alchemy.schemas.common import utc_now
from prompt_alchemy.schemas.contract import RequestContract
from prompt_alchemy.schemas.engine import GenerateRequest
from prompt_alchemy.schemas.events import GenerationProgress, ProgressKind
from prompt_alchemy.schemas.learning import FeedbackAccepted, FeedbackEvent

__all__ = ["TOOL_NAMES", "GenerateArguments", "RecordFeedbackArguments", "create_server"]

RecordFeedbackArguments = model_without(FeedbackEvent, "source", "origin", "created_at", name="RecordFeedbackArguments")
MCP_ORIGIN = "mcp"  # the door itself: its clients are one origin for learning's vote counting


class GenerateArguments(GenerateRequest):
    """``generate_prompts``: a generate request, and whether to return the full reply."""

    detail: bool = Field(
        default=False,
        description="false (default): the best prompt in full and one line per other final candidate; "
        "true: also the full reply (every phase, scores, features and lineage)",
    )


TOOL_NAMES = (
    "generate_prompts",
    "analyze_idea",
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
    "remembers every prompt. Use analyze_idea to see how an idea is read, generate_prompts for a new idea, "
    "search_prompts or get_recommendations "
    "to reuse stored prompts, optimize_prompt to improve one, and record_feedback after using a prompt "
    "so the ranking learns."
)

READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)


def _progress_message(event: GenerationProgress) -> str:
    if event.kind is ProgressKind.TOKEN:
        phase = event.phase.value if event.phase is not None else "-"
        return f"token {phase} chain {event.chain}: {event.delta or ''}"
    where = f" {event.phase.value}" if event.phase is not None else ""
    return f"{event.kind.value}{where}: {event.message}" if event.message else f"{event.kind.value}{where}"


def create_server(
    bus: Bus,
    feedback: FeedbackSink,
    *,
    request_timeout_s: float = 120.0,
    feedback_limits: FeedbackLimits | None = None,
) -> MCPServer[Any]:
    """The MCP server on ``bus``; ``feedback`` persists feedback events durably (the runtime's publisher)."""
    gate = FeedbackGate(feedback_limits or FeedbackLimits())

    def forward(name: str, description: str, contract: RequestContract[Any, Any], annotations: ToolAnnotations) -> Tool:
        """A tool that is one request/reply contract."""

        async def run(arguments: BaseModel, _ctx: Context) -> BaseModel:
            reply: BaseModel = await bus.request(contract, arguments, timeout=request_timeout_s)
            return reply

        return model_tool(name, description, contract.request, contract.reply, run, annotations=annotations)

    async def generate(arguments: GenerateArguments, ctx: Context) -> CallToolResult:
        reported = 0

        async def on_progress(event: GenerationProgress) -> None:
            nonlocal reported
            reported += 1
            await ctx.report_progress(reported, None, _progress_message(event))

        request = GenerateRequest.model_validate(arguments.model_dump(exclude={"detail"}, exclude_unset=True))
        reply = await generate_with_progress(bus, request, on_progress, timeout=request_timeout_s, on_token=on_progress)
        summary = summarise(reply, detail=arguments.detail)
        return CallToolResult(
            content=[TextContent(type="text", text=summary_text(summary))],
            structured_content=summary.model_dump(mode="json", exclude_none=True),
        )

    async def record(arguments: BaseModel, _ctx: Context) -> FeedbackAccepted:
        given = arguments.model_dump(mode="json", exclude_unset=True)
        stamped = {**given, "source": "mcp", "origin": MCP_ORIGIN, "created_at": utc_now().isoformat()}
        event = validate_model(FeedbackEvent, stamped)
        return await submit_feedback(bus, feedback, event, gate)

    tools = [
        model_tool(
            "generate_prompts",
            "Turn an idea (`input`) into ranked prompts through the phases prima-materia, solutio and coagulatio; "
            "returns the best prompt in full and one line per other final candidate (id, score, what sets it "
            "apart); `detail: true` returns every candidate with scores and lineage. Reports progress.",
            GenerateArguments,
            GenerateSummary,
            generate,
            annotations=ToolAnnotations(title="Generate prompts", open_world_hint=True),
        ),
        forward(
            "analyze_idea",
            "What the engine reads in an idea (`input`) before generating: persona and why, deliverable, stated "
            "audience, constraints, form rules, the input with its {{placeholder}}.",
            registry.ENGINE_ANALYZE,
            READ_ONLY,
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
