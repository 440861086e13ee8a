"""``engine.analyze`` with an LLM: the brief as the vendor's structured output, else the offline reading.

The providers worker asks the named (or default) provider for one JSON object following
``BRIEF_JSON_SCHEMA`` (each wire format uses its vendor's structured-output mechanism) and
validates it with ``BriefDraft``. The offline provider, a failed call or a reply that is not a
valid brief leave the reading to the offline analyser, and the brief's ``warnings`` say so.
"""

from __future__ import annotations

from pydantic import ValidationError

from prompt_alchemy.errors import DeadlineExceeded, ServiceError
from prompt_alchemy.schemas.brief import BRIEF_JSON_SCHEMA, AnalyzeRequest, Brief, BriefDraft
from prompt_alchemy.schemas.common import MAX_PROMPT_CHARS, Persona
from prompt_alchemy.schemas.providers import ChatMessage, CompletionRequest, ResponseSchema
from prompt_alchemy.schemas.quoting import DATA_NOTICE, quoted_block, shortened_to_quote_within
from prompt_alchemy.workers.providers.offline.briefing import analyze_idea
from prompt_alchemy.workers.providers.registry import ProviderRegistry
from prompt_alchemy.workers.providers.settings import ProviderKind

__all__ = ["BRIEF_INSTRUCTIONS", "BRIEF_RESPONSE", "read_brief"]

BRIEF_RESPONSE = ResponseSchema(
    name="idea_brief",
    description="What the idea asks for, as a structured brief for the prompt engineer.",
    json_schema=BRIEF_JSON_SCHEMA,
)

BRIEF_INSTRUCTIONS = (
    "You read a rough idea for an LLM prompt and record what it says, before anyone writes the prompt. "
    "State only what the idea states: the audience only when the idea names who the result is for (a "
    "query's selection or an occasion is not an audience); every explicit constraint (numbers, budgets, "
    "word limits, language, format, named fields, edge cases, exclusions, deadlines) with its kind; the "
    "rules of a fixed form it names (haiku, limerick, sonnet, tweet, an SQL dialect); the input the prompt "
    "will receive at run time with a {{snake_case}} placeholder; and the persona from what the deliverable "
    "is about: code for software, writing for prose and creative forms, analysis for reasoning over data "
    "or documents, generic otherwise. Record through the schema only."
)

_MAX_TOKENS = 2048
_IDEA_ROOM = MAX_PROMPT_CHARS - 1000


def _messages(idea: str) -> list[ChatMessage]:
    return [
        ChatMessage(role="system", content=BRIEF_INSTRUCTIONS),
        ChatMessage(
            role="user",
            content=f"{DATA_NOTICE}\n\nRaw idea:\n{quoted_block('idea', shortened_to_quote_within(idea, _IDEA_ROOM))}",
        ),
    ]


def _offline(request: AnalyzeRequest, why: str) -> Brief:
    brief = analyze_idea(request)
    return brief.model_copy(update={"warnings": [*brief.warnings, f"the offline analyser read the idea: {why}"]})


async def read_brief(registry: ProviderRegistry, request: AnalyzeRequest, *, timeout_s: float | None) -> Brief:
    name = request.provider or registry.default_name()
    if registry.provider(name).settings.kind is ProviderKind.OFFLINE:
        return analyze_idea(request)
    try:
        reply = await registry.complete(
            CompletionRequest(
                provider=name,
                model=request.model,
                messages=_messages(request.input),
                temperature=0.0,
                max_tokens=_MAX_TOKENS,
                fallback=False,  # another provider's brief is not what was asked; the offline one is the fallback
                response_schema=BRIEF_RESPONSE,
            ),
            timeout_s=timeout_s,
        )
    except DeadlineExceeded:
        raise
    except ServiceError as error:
        return _offline(request, f"{name} could not write the brief ({error.message})")
    try:
        draft = BriefDraft.model_validate_json(reply.content)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the reply"
        return _offline(
            request,
            f"{reply.provider}/{reply.model} returned no valid structured brief ({where}: {first['msg']})",
        )
    asked = None if request.persona is Persona.GENERIC else request.persona
    return draft.to_brief(request.input, persona=asked, source=f"{reply.provider}/{reply.model}")
