"""Anthropic's Messages API.

POST ``{base}/v1/messages`` with ``x-api-key`` and ``anthropic-version: 2023-06-01``. The system
prompt is a top-level ``system`` field (not a message), ``max_tokens`` is required, temperature
is at most 1, and user/assistant turns must alternate (consecutive turns of one role are merged).
Reply: ``content`` blocks of ``{"type": "text", "text"}`` and ``usage.input_tokens/output_tokens``.
Errors: ``{"type": "error", "error": {"type", "message"}}``. No embeddings endpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prompt_alchemy.errors import Unprocessable
from prompt_alchemy.workers.providers.secrets import SecretKey
from prompt_alchemy.workers.providers.wire.base import (
    ChatParams,
    HttpCall,
    ParsedCompletion,
    ParsedEmbeddings,
    WireFormat,
    dig,
    labelled_error,
    malformed,
    system_text,
    usage_from,
)

__all__ = ["ANTHROPIC", "ANTHROPIC_VERSION", "build_chat", "error_message", "parse_chat"]

ANTHROPIC_VERSION = "2023-06-01"
_MAX_TEMPERATURE = 1.0


def auth_headers(key: SecretKey | None) -> dict[str, str]:
    headers = {"anthropic-version": ANTHROPIC_VERSION}
    if key is not None:
        headers["x-api-key"] = key.reveal()
    return headers


def _turns(params: ChatParams) -> list[dict[str, str]]:
    turns: list[dict[str, str]] = []
    for message in params.messages:
        if message.role == "system":
            continue
        if turns and turns[-1]["role"] == message.role:
            turns[-1]["content"] += "\n\n" + message.content
        else:
            turns.append({"role": message.role, "content": message.content})
    return turns


def build_chat(params: ChatParams) -> HttpCall:
    body: dict[str, Any] = {
        "model": params.model,
        "max_tokens": params.max_tokens,
        "messages": _turns(params),
        "temperature": min(params.temperature, _MAX_TEMPERATURE),
    }
    system = system_text(params.messages)
    if system:
        body["system"] = system
    return HttpCall("/v1/messages", body)


def parse_chat(body: Any) -> ParsedCompletion:
    blocks = dig(body, "content")
    if not isinstance(blocks, list):
        raise malformed("Anthropic", "no content list")
    texts = [block["text"] for block in blocks if dig(block, "type") == "text" and isinstance(dig(block, "text"), str)]
    if not texts and blocks:
        raise malformed("Anthropic", "no text block in content")
    model = dig(body, "model")
    usage = usage_from(dig(body, "usage", "input_tokens"), dig(body, "usage", "output_tokens"))
    return ParsedCompletion("".join(texts), model if isinstance(model, str) else None, usage)


def build_embed(model: str, texts: Sequence[str]) -> HttpCall:
    raise Unprocessable("Anthropic has no embeddings endpoint", details={"model": model})


def parse_embed(body: Any, count: int) -> ParsedEmbeddings:
    raise Unprocessable("Anthropic has no embeddings endpoint")


def exhausted(body: Any) -> bool:
    """A 429 whose ``error.details.error_code`` is ``enforced_spend_limit_reached`` lasts until next month."""
    return bool(dig(body, "error", "details", "error_code") == "enforced_spend_limit_reached")


def error_message(body: Any) -> str | None:
    return labelled_error(body, "type")  # {"type": "error", "error": {"type": ..., "message": ...}}


ANTHROPIC = WireFormat(
    vendor="Anthropic",
    auth_headers=auth_headers,
    chat_call=build_chat,
    parse_chat=parse_chat,
    embed_call=build_embed,
    parse_embed=parse_embed,
    error_message=error_message,
    exhausted=exhausted,
)
