"""Provider settings as value objects, built from environment variables by ``from_env``.

Settings hold the *names* of the key variables, never the keys: ``ProviderRegistry`` reads a
key from the environment at call time, so a rotated key is picked up without a restart and no
settings object can leak one.

Variables (per provider ``P`` in OPENAI, ANTHROPIC, GEMINI, OLLAMA, OPENROUTER, XAI,
OPENAI_COMPATIBLE): ``P_BASE_URL`` (OLLAMA_HOST for Ollama), ``P_MODEL``, ``P_EMBEDDING_MODEL``,
``P_MODELS`` (comma list), ``P_TIMEOUT_S``, ``P_MAX_RETRIES``, ``P_CONCURRENCY``. Keys:
OPENAI_API_KEY, ANTHROPIC_API_KEY, GOOGLE_API_KEY or GEMINI_API_KEY (the first wins, as in Google's
SDK), XAI_API_KEY, OPENROUTER_API_KEY, OPENAI_COMPATIBLE_API_KEY (optional). Global: PROVIDERS_DEFAULT,
PROVIDERS_FALLBACK (comma list, ``none`` for no fallback), PROVIDERS_EMBED_DEFAULT,
PROVIDERS_TIMEOUT_S, PROVIDERS_MAX_RETRIES, PROVIDERS_BACKOFF_BASE_S, PROVIDERS_BACKOFF_MAX_S,
PROVIDERS_MAX_RETRY_AFTER_S, PROVIDERS_BREAKER_THRESHOLD, PROVIDERS_BREAKER_COOLDOWN_S,
PROVIDERS_CONCURRENCY, PROVIDERS_CACHE_SIZE (0 disables the cache), PROVIDERS_PRICES_FILE,
OPENROUTER_REFERER, OPENROUTER_TITLE.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TypeVar

from prompt_alchemy.errors import ConfigError
from prompt_alchemy.workers.providers.pricing import PriceTable, load_prices

__all__ = [
    "OFFLINE_EMBEDDING_MODEL",
    "OFFLINE_MODEL",
    "OFFLINE_PROVIDER",
    "PREFERENCE_ORDER",
    "ProviderKind",
    "ProviderPolicy",
    "ProviderSettings",
    "ProvidersConfig",
    "from_env",
]

OFFLINE_PROVIDER = "offline"
OFFLINE_MODEL = "offline-alchemist-1"
OFFLINE_EMBEDDING_MODEL = "wordllama-l2-supercat-256"


class ProviderKind(StrEnum):
    """Which wire format a provider speaks (OpenRouter and xAI speak OpenAI's)."""

    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"
    OLLAMA = "ollama"
    OPENROUTER = "openrouter"
    XAI = "xai"
    OPENAI_COMPATIBLE = "openai-compatible"
    OFFLINE = "offline"

    @property
    def is_local(self) -> bool:
        """Runs on the user's own hardware: no per-token price."""
        return self in (ProviderKind.OLLAMA, ProviderKind.OPENAI_COMPATIBLE, ProviderKind.OFFLINE)


@dataclass(frozen=True, slots=True)
class ProviderPolicy:
    """How one provider is called: per-attempt timeout, retries, circuit breaker, concurrency."""

    timeout_s: float = 60.0
    max_retries: int = 2
    backoff_base_s: float = 0.5
    backoff_max_s: float = 20.0
    max_retry_after_s: float = 60.0
    breaker_threshold: int = 5
    breaker_cooldown_s: float = 30.0
    concurrency: int = 8

    def __post_init__(self) -> None:
        if self.timeout_s <= 0 or self.backoff_base_s < 0 or self.backoff_max_s < 0 or self.max_retry_after_s < 0:
            raise ConfigError("provider timeouts and backoff must be positive")
        if self.max_retries < 0 or self.breaker_threshold < 1 or self.concurrency < 1 or self.breaker_cooldown_s < 0:
            raise ConfigError("max_retries >= 0, breaker_threshold >= 1 and concurrency >= 1 are required")


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    """One provider. ``base_url`` None means not configured (e.g. OLLAMA_HOST unset)."""

    name: str
    kind: ProviderKind
    default_model: str
    base_url: str | None = None
    api_key_env: tuple[str, ...] = ()
    key_required: bool = True
    embedding_model: str | None = None
    models: tuple[str, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    policy: ProviderPolicy = field(default_factory=ProviderPolicy)
    configure_hint: str = ""

    @property
    def all_models(self) -> list[str]:
        """Default, embedding and extra models, each once, in that order."""
        names = [self.default_model, *([self.embedding_model] if self.embedding_model else []), *self.models]
        return list(dict.fromkeys(names))


@dataclass(frozen=True)
class ProvidersConfig:
    """Every provider plus the choices between them.

    ``default`` None picks the first available provider of ``PREFERENCE_ORDER`` at call time
    (the offline provider when no key is set); ``fallback_order`` None means every other
    available provider in preference order, then the offline provider.
    """

    providers: tuple[ProviderSettings, ...]
    default: str | None = None
    fallback_order: tuple[str, ...] | None = None
    embed_default: str | None = None
    prices: PriceTable = field(default_factory=PriceTable)
    cache_size: int = 512

    def __post_init__(self) -> None:
        names = [settings.name for settings in self.providers]
        if len(set(names)) != len(names):
            raise ConfigError(f"provider names must be unique: {names}")
        known = set(names)
        for label, chosen in (("PROVIDERS_DEFAULT", self.default), ("PROVIDERS_EMBED_DEFAULT", self.embed_default)):
            if chosen is not None and chosen not in known:
                raise ConfigError(f"{label}={chosen!r} is not a provider; known: {sorted(known)}")
        unknown = [name for name in self.fallback_order or () if name not in known]
        if unknown:
            raise ConfigError(f"PROVIDERS_FALLBACK names unknown providers {unknown}; known: {sorted(known)}")
        if self.cache_size < 0:
            raise ConfigError("PROVIDERS_CACHE_SIZE must be >= 0")

    def settings_for(self, name: str) -> ProviderSettings | None:
        return next((settings for settings in self.providers if settings.name == name), None)


# Which provider answers when nothing is configured: the first one with a key, offline last.
PREFERENCE_ORDER: tuple[str, ...] = (
    "anthropic",
    "openai",
    "gemini",
    "xai",
    "openrouter",
    "openai-compatible",
    "ollama",
    OFFLINE_PROVIDER,
)

T = TypeVar("T", int, float)


def _number(environ: Mapping[str, str], name: str, default: T, parse: Callable[[str], T]) -> T:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return parse(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a number") from exc


def _policy(environ: Mapping[str, str], prefix: str | None, base: ProviderPolicy) -> ProviderPolicy:
    if prefix is None:
        return base
    return replace(
        base,
        timeout_s=_number(environ, f"{prefix}_TIMEOUT_S", base.timeout_s, float),
        max_retries=_number(environ, f"{prefix}_MAX_RETRIES", base.max_retries, int),
        concurrency=_number(environ, f"{prefix}_CONCURRENCY", base.concurrency, int),
    )


def _global_policy(environ: Mapping[str, str]) -> ProviderPolicy:
    base = ProviderPolicy()
    return ProviderPolicy(
        timeout_s=_number(environ, "PROVIDERS_TIMEOUT_S", base.timeout_s, float),
        max_retries=_number(environ, "PROVIDERS_MAX_RETRIES", base.max_retries, int),
        backoff_base_s=_number(environ, "PROVIDERS_BACKOFF_BASE_S", base.backoff_base_s, float),
        backoff_max_s=_number(environ, "PROVIDERS_BACKOFF_MAX_S", base.backoff_max_s, float),
        max_retry_after_s=_number(environ, "PROVIDERS_MAX_RETRY_AFTER_S", base.max_retry_after_s, float),
        breaker_threshold=_number(environ, "PROVIDERS_BREAKER_THRESHOLD", base.breaker_threshold, int),
        breaker_cooldown_s=_number(environ, "PROVIDERS_BREAKER_COOLDOWN_S", base.breaker_cooldown_s, float),
        concurrency=_number(environ, "PROVIDERS_CONCURRENCY", base.concurrency, int),
    )


def _names(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _url(raw: str) -> str:
    raw = raw.strip().rstrip("/")
    return raw if "://" in raw else f"http://{raw}"


@dataclass(frozen=True, slots=True)
class _VendorDefaults:
    name: str
    kind: ProviderKind
    prefix: str
    base_url: str | None
    default_model: str
    key_env: tuple[str, ...]
    key_required: bool = True
    embedding_model: str | None = None
    base_url_env: str | None = None


_VENDORS: tuple[_VendorDefaults, ...] = (
    _VendorDefaults(
        "openai",
        ProviderKind.OPENAI,
        "OPENAI",
        "https://api.openai.com/v1",
        "gpt-4o-mini",
        ("OPENAI_API_KEY",),
        embedding_model="text-embedding-3-small",
    ),
    _VendorDefaults(
        "anthropic",
        ProviderKind.ANTHROPIC,
        "ANTHROPIC",
        "https://api.anthropic.com",
        "claude-sonnet-4-20250514",
        ("ANTHROPIC_API_KEY",),
    ),
    _VendorDefaults(
        "gemini",
        ProviderKind.GEMINI,
        "GEMINI",
        "https://generativelanguage.googleapis.com",
        "gemini-2.5-flash",
        ("GOOGLE_API_KEY", "GEMINI_API_KEY"),
        embedding_model="gemini-embedding-001",
    ),
    _VendorDefaults(
        "ollama",
        ProviderKind.OLLAMA,
        "OLLAMA",
        None,
        "llama3.2",
        (),
        key_required=False,
        embedding_model="nomic-embed-text",
        base_url_env="OLLAMA_HOST",
    ),
    _VendorDefaults(
        "openrouter",
        ProviderKind.OPENROUTER,
        "OPENROUTER",
        "https://openrouter.ai/api/v1",
        "openai/gpt-4o-mini",
        ("OPENROUTER_API_KEY",),
    ),
    _VendorDefaults("xai", ProviderKind.XAI, "XAI", "https://api.x.ai/v1", "grok-3-mini", ("XAI_API_KEY",)),
    _VendorDefaults(
        "openai-compatible",
        ProviderKind.OPENAI_COMPATIBLE,
        "OPENAI_COMPATIBLE",
        None,
        "local-model",
        ("OPENAI_COMPATIBLE_API_KEY",),
        key_required=False,
    ),
)


def _vendor_settings(vendor: _VendorDefaults, environ: Mapping[str, str], policy: ProviderPolicy) -> ProviderSettings:
    url_env = vendor.base_url_env or f"{vendor.prefix}_BASE_URL"
    raw_url = environ.get(url_env, "").strip()
    base_url = _url(raw_url) if raw_url else vendor.base_url
    headers: dict[str, str] = {}
    if vendor.kind is ProviderKind.OPENROUTER:
        headers = {
            "HTTP-Referer": environ.get("OPENROUTER_REFERER", "https://github.com/prompt-alchemy/prompt-alchemy"),
            "X-Title": environ.get("OPENROUTER_TITLE", "prompt-alchemy"),
        }
    hint = f"set {url_env}" if vendor.base_url is None else f"set {' or '.join(vendor.key_env)}"
    return ProviderSettings(
        name=vendor.name,
        kind=vendor.kind,
        default_model=environ.get(f"{vendor.prefix}_MODEL", "").strip() or vendor.default_model,
        base_url=base_url,
        api_key_env=vendor.key_env,
        key_required=vendor.key_required,
        embedding_model=environ.get(f"{vendor.prefix}_EMBEDDING_MODEL", "").strip() or vendor.embedding_model,
        models=_names(environ.get(f"{vendor.prefix}_MODELS", "")),
        headers=headers,
        policy=_policy(environ, vendor.prefix, policy),
        configure_hint=hint,
    )


def offline_settings() -> ProviderSettings:
    """The embedded default: no key, no network, always available."""
    return ProviderSettings(
        name=OFFLINE_PROVIDER,
        kind=ProviderKind.OFFLINE,
        default_model=OFFLINE_MODEL,
        key_required=False,
        embedding_model=OFFLINE_EMBEDDING_MODEL,
        policy=ProviderPolicy(max_retries=0),
    )


def from_env(environ: Mapping[str, str] | None = None) -> ProvidersConfig:
    """Every known provider, configured from ``environ`` (default: ``os.environ``); keys are not read."""
    env = os.environ if environ is None else environ
    policy = _global_policy(env)
    providers = (*(_vendor_settings(vendor, env, policy) for vendor in _VENDORS), offline_settings())
    fallback_raw = env.get("PROVIDERS_FALLBACK", "").strip()
    fallback: tuple[str, ...] | None = None
    if fallback_raw:
        fallback = () if fallback_raw.lower() == "none" else _names(fallback_raw)
    prices_file = env.get("PROVIDERS_PRICES_FILE", "").strip()
    return ProvidersConfig(
        providers=providers,
        default=env.get("PROVIDERS_DEFAULT", "").strip() or None,
        fallback_order=fallback,
        embed_default=env.get("PROVIDERS_EMBED_DEFAULT", "").strip() or None,
        prices=load_prices(prices_file) if prices_file else PriceTable(),
        cache_size=_number(env, "PROVIDERS_CACHE_SIZE", 512, int),
    )
