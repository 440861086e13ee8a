"""Provider settings: the readable options (``ProviderOptions``) and the value objects built from them.

Settings hold the *names* of the key variables, never the keys: ``ProviderRegistry`` reads a
key from the environment at call time, so a rotated key is picked up without a restart and no
settings object can leak one.

``ProviderOptions`` declares every option once; ``prompt_alchemy.config_reader`` reads them from
the TOML file (``[prompt-alchemy.openai]``, ``[prompt-alchemy.providers]``) and the environment.
Variables (per provider ``P`` in OPENAI, ANTHROPIC, GEMINI, OLLAMA, OPENROUTER, XAI,
OPENAI_COMPATIBLE): ``P_BASE_URL`` (OLLAMA_HOST for Ollama), ``P_MODEL``, ``P_EMBEDDING_MODEL``,
``P_MODELS`` (comma list), ``P_TIMEOUT_S``, ``P_MAX_RETRIES``, ``P_CONCURRENCY``. Keys (environment
only): OPENAI_API_KEY, ANTHROPIC_API_KEY, GOOGLE_API_KEY or GEMINI_API_KEY (the first wins, as in
Google's SDK), XAI_API_KEY, OPENROUTER_API_KEY, OPENAI_COMPATIBLE_API_KEY (optional). Global:
PROVIDERS_DEFAULT, PROVIDERS_FALLBACK (comma list, ``none`` for no fallback), PROVIDERS_EMBED_DEFAULT,
PROVIDERS_TIMEOUT_S, PROVIDERS_MAX_RETRIES, PROVIDERS_BACKOFF_BASE_S, PROVIDERS_BACKOFF_MAX_S,
PROVIDERS_MAX_RETRY_AFTER_S, PROVIDERS_BREAKER_THRESHOLD, PROVIDERS_BREAKER_COOLDOWN_S,
PROVIDERS_CONCURRENCY, PROVIDERS_CACHE_SIZE (0 disables the cache), PROVIDERS_PRICES_FILE,
OPENROUTER_REFERER, OPENROUTER_TITLE.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from prompt_alchemy.config_reader import comma_list, read_settings
from prompt_alchemy.errors import ConfigError
from prompt_alchemy.workers.providers.pricing import PriceTable, load_prices

__all__ = [
    "KEY_VARIABLES",
    "OFFLINE_EMBEDDING_MODEL",
    "OFFLINE_MODEL",
    "OFFLINE_PROVIDER",
    "PREFERENCE_ORDER",
    "GeneralProviderOptions",
    "OllamaOptions",
    "OpenRouterOptions",
    "ProviderKind",
    "ProviderOptions",
    "ProviderPolicy",
    "ProviderSettings",
    "ProvidersConfig",
    "VendorOptions",
    "from_env",
    "providers_config",
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


class VendorOptions(BaseModel):
    """One vendor's options; None keeps the vendor's default (or the providers' policy)."""

    model_config = ConfigDict(extra="ignore", frozen=True, validate_by_name=True)  # OPENAI_* also holds keys

    base_url: str | None = None
    model: str | None = None
    embedding_model: str | None = None
    models: Annotated[tuple[str, ...], NoDecode] = ()
    timeout_s: float | None = Field(default=None, gt=0)
    max_retries: int | None = Field(default=None, ge=0)
    concurrency: int | None = Field(default=None, ge=1)

    _lists = field_validator("models", mode="before")(comma_list)


class OllamaOptions(VendorOptions):
    """Ollama's base URL is OLLAMA_HOST (``host`` in the file), as in Ollama's own tools."""

    model_config = ConfigDict(extra="ignore", frozen=True, validate_by_name=False)

    base_url: str | None = Field(default=None, validation_alias="host")


class OpenRouterOptions(VendorOptions):
    """OpenRouter ranks apps by these headers."""

    referer: str = "https://github.com/prompt-alchemy/prompt-alchemy"
    title: str = "prompt-alchemy"


class GeneralProviderOptions(BaseModel):
    """Choices between providers and the policy every provider starts from (``PROVIDERS_*``)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    default: str | None = None
    fallback: Annotated[tuple[str, ...] | None, NoDecode] = None  # "none": no fallback
    embed_default: str | None = None
    timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=2, ge=0)
    backoff_base_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=20.0, ge=0)
    max_retry_after_s: float = Field(default=60.0, ge=0)
    breaker_threshold: int = Field(default=5, ge=1)
    breaker_cooldown_s: float = Field(default=30.0, ge=0)
    concurrency: int = Field(default=8, ge=1)
    cache_size: int = Field(default=512, ge=0)  # 0 disables the completion cache
    prices_file: str | None = None

    _lists = field_validator("fallback", mode="before")(comma_list)


class ProviderOptions(BaseSettings):
    """Every provider option, one section per vendor plus ``providers`` (read by ``config_reader``)."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True, validate_by_name=True)

    providers: GeneralProviderOptions = GeneralProviderOptions()
    openai: VendorOptions = VendorOptions()
    anthropic: VendorOptions = VendorOptions()
    gemini: VendorOptions = VendorOptions()
    ollama: OllamaOptions = OllamaOptions()
    openrouter: OpenRouterOptions = OpenRouterOptions()
    xai: VendorOptions = VendorOptions()
    openai_compatible: VendorOptions = VendorOptions()

    def vendor_options(self) -> dict[str, VendorOptions]:
        """Each vendor's options by provider name (``openai-compatible``, not ``openai_compatible``)."""
        return {vendor.name: getattr(self, vendor.name.replace("-", "_")) for vendor in _VENDORS}


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


def _policy(options: VendorOptions, base: ProviderPolicy) -> ProviderPolicy:
    return replace(
        base,
        timeout_s=base.timeout_s if options.timeout_s is None else options.timeout_s,
        max_retries=base.max_retries if options.max_retries is None else options.max_retries,
        concurrency=base.concurrency if options.concurrency is None else options.concurrency,
    )


def _vendor_settings(vendor: _VendorDefaults, options: VendorOptions, policy: ProviderPolicy) -> ProviderSettings:
    url_env = vendor.base_url_env or f"{vendor.prefix}_BASE_URL"
    base_url = _url(options.base_url) if options.base_url and options.base_url.strip() else vendor.base_url
    headers: dict[str, str] = {}
    if isinstance(options, OpenRouterOptions):
        headers = {"HTTP-Referer": options.referer, "X-Title": options.title}
    hint = f"set {url_env}" if vendor.base_url is None else f"set {' or '.join(vendor.key_env)}"
    return ProviderSettings(
        name=vendor.name,
        kind=vendor.kind,
        default_model=options.model or vendor.default_model,
        base_url=base_url,
        api_key_env=vendor.key_env,
        key_required=vendor.key_required,
        embedding_model=options.embedding_model or vendor.embedding_model,
        models=options.models,
        headers=headers,
        policy=_policy(options, policy),
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


def providers_config(options: ProviderOptions) -> ProvidersConfig:
    """Every known provider, configured from ``options``; keys are not read."""
    general = options.providers
    policy = ProviderPolicy(
        timeout_s=general.timeout_s,
        max_retries=general.max_retries,
        backoff_base_s=general.backoff_base_s,
        backoff_max_s=general.backoff_max_s,
        max_retry_after_s=general.max_retry_after_s,
        breaker_threshold=general.breaker_threshold,
        breaker_cooldown_s=general.breaker_cooldown_s,
        concurrency=general.concurrency,
    )
    vendors = options.vendor_options()
    providers = (*(_vendor_settings(vendor, vendors[vendor.name], policy) for vendor in _VENDORS), offline_settings())
    fallback: tuple[str, ...] | None = None
    if general.fallback:
        fallback = () if [name.lower() for name in general.fallback] == ["none"] else general.fallback
    return ProvidersConfig(
        providers=providers,
        default=general.default,
        fallback_order=fallback,
        embed_default=general.embed_default,
        prices=load_prices(general.prices_file) if general.prices_file else PriceTable(),
        cache_size=general.cache_size,
    )


def from_env(environ: Mapping[str, str] | None = None) -> ProvidersConfig:
    """``providers_config`` of the options in ``environ`` (default: ``os.environ``) alone."""
    return providers_config(read_settings(ProviderOptions, environ=environ))


KEY_VARIABLES: tuple[str, ...] = tuple(dict.fromkeys(name for vendor in _VENDORS for name in vendor.key_env))
"""Every vendor key variable: secrets, read from the environment at call time, never from a file."""
