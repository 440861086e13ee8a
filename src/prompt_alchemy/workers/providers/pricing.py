"""Cost accounting: USD per 1M input/output tokens per model, from a table the config can replace.

Model names are matched exactly, then by the longest known prefix (``claude-sonnet-4-20250514``
is priced as ``claude-sonnet-4``), after dropping an OpenRouter-style ``vendor/`` prefix. A model
with no price costs 0: the reply says nothing about it and a log line says so once per model.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from prompt_alchemy.errors import ConfigError
from prompt_alchemy.schemas.common import Usage

__all__ = ["DEFAULT_PRICES", "ModelPrice", "PriceTable", "load_prices"]

_log = logging.getLogger(__name__)
_PER_TOKENS = 1_000_000


@dataclass(frozen=True, slots=True)
class ModelPrice:
    input_per_m: float
    output_per_m: float = 0.0


# List prices (USD per 1M tokens) of common models when this table was written; override them
# with PROVIDERS_PRICES_FILE rather than editing code.
DEFAULT_PRICES: Mapping[str, ModelPrice] = {
    "gpt-4o-mini": ModelPrice(0.15, 0.60),
    "gpt-4o": ModelPrice(2.50, 10.00),
    "gpt-4.1-nano": ModelPrice(0.10, 0.40),
    "gpt-4.1-mini": ModelPrice(0.40, 1.60),
    "gpt-4.1": ModelPrice(2.00, 8.00),
    "text-embedding-3-small": ModelPrice(0.02),
    "text-embedding-3-large": ModelPrice(0.13),
    "claude-3-5-haiku": ModelPrice(0.80, 4.00),
    "claude-3-7-sonnet": ModelPrice(3.00, 15.00),
    "claude-sonnet-4": ModelPrice(3.00, 15.00),
    "claude-opus-4": ModelPrice(15.00, 75.00),
    "gemini-2.0-flash": ModelPrice(0.10, 0.40),
    "gemini-2.5-flash": ModelPrice(0.30, 2.50),
    "gemini-2.5-pro": ModelPrice(1.25, 10.00),
    "gemini-embedding-001": ModelPrice(0.15),
    "grok-3-mini": ModelPrice(0.30, 0.50),
    "grok-3": ModelPrice(3.00, 15.00),
}


@dataclass(frozen=True)
class PriceTable:
    prices: Mapping[str, ModelPrice] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    _warned: set[str] = field(default_factory=set, repr=False, compare=False)

    def price_of(self, model: str) -> ModelPrice | None:
        name = model.lower()
        if "/" in name:
            name = name.rsplit("/", 1)[1]
        if name in self.prices:
            return self.prices[name]
        best = max((known for known in self.prices if name.startswith(known)), key=len, default=None)
        return self.prices[best] if best is not None else None

    def cost(self, model: str, usage: Usage) -> float:
        price = self.price_of(model)
        if price is None:
            if model not in self._warned:
                self._warned.add(model)
                _log.info("no price known for model %r: its cost is reported as 0", model)
            return 0.0
        return (usage.input_tokens * price.input_per_m + usage.output_tokens * price.output_per_m) / _PER_TOKENS


def load_prices(path: str | Path, base: Mapping[str, ModelPrice] = DEFAULT_PRICES) -> PriceTable:
    """``base`` updated from a JSON file ``{"model": {"input": 0.15, "output": 0.6}, ...}``."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the price table {str(path)!r}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"price table {str(path)!r} must be a JSON object of model -> prices")
    prices = dict(base)
    for model, entry in raw.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("input", 0), int | float):
            raise ConfigError(f"price of {model!r} in {str(path)!r} must be {{'input': n, 'output': n}}")
        output = entry.get("output", 0.0)
        if not isinstance(output, int | float) or entry.get("input", 0) < 0 or output < 0:
            raise ConfigError(f"price of {model!r} in {str(path)!r} must be non-negative numbers")
        prices[str(model).lower()] = ModelPrice(float(entry.get("input", 0.0)), float(output))
    return PriceTable(prices)
