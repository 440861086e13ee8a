"""A local token estimate for when a vendor does not report usage (replies mark it ``estimated``)."""

from __future__ import annotations

import math
from collections.abc import Iterable

from prompt_alchemy.schemas.common import Usage

__all__ = ["estimate_tokens", "estimate_usage"]

_CHARS_PER_TOKEN = 4.0  # the usual rule of thumb for English text with BPE tokenizers


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / _CHARS_PER_TOKEN) if text else 0


def estimate_usage(inputs: Iterable[str], output: str = "") -> Usage:
    return Usage(
        input_tokens=sum(estimate_tokens(text) for text in inputs),
        output_tokens=estimate_tokens(output),
        estimated=True,
    )
