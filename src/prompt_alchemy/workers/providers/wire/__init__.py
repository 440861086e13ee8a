"""Vendor wire formats: pure request builders and reply/error parsers, one module per vendor."""

from prompt_alchemy.workers.providers.wire.anthropic import ANTHROPIC
from prompt_alchemy.workers.providers.wire.base import (
    ChatParams,
    HttpCall,
    ParsedCompletion,
    ParsedEmbeddings,
    WireFormat,
)
from prompt_alchemy.workers.providers.wire.gemini import GEMINI
from prompt_alchemy.workers.providers.wire.ollama import OLLAMA
from prompt_alchemy.workers.providers.wire.openai import OPENAI, OPENAI_COMPATIBLE

__all__ = [
    "ANTHROPIC",
    "GEMINI",
    "OLLAMA",
    "OPENAI",
    "OPENAI_COMPATIBLE",
    "ChatParams",
    "HttpCall",
    "ParsedCompletion",
    "ParsedEmbeddings",
    "WireFormat",
]
