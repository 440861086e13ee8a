"""Effective settings: every setting of every worker and door, read once at start-up.

One reader (``prompt_alchemy.config_reader``, pydantic-settings): the optional TOML file
(``--config`` or ``$ALCHEMY_CONFIG``), then the environment, then command-line flags, each
winning over the one before. Every field below is a setting; its environment variable is its
name in capitals (``http_port`` is ``HTTP_PORT``), a section's field is ``<SECTION>_<FIELD>``
(``openai.timeout_s`` is ``OPENAI_TIMEOUT_S``, the providers' sections come from
``workers.providers.settings``), and a string ``validation_alias`` names the variable of the
few that differ (``data_dir`` is ``ALCHEMY_DATA_DIR``). Secrets (API keys, NATS credentials,
vendor keys, a password inside a URL) come from the environment only — a config file holding
one is refused — and are kept as ``SecretStr`` (vendor keys are read at call time by the
providers worker) so they never show in a repr, a log line or ``prompt-alchemy config show``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import pydantic
from pydantic import Field, SecretStr
from pydantic_settings import NoDecode, SettingsConfigDict

from prompt_alchemy.bus.liveness import Liveness
from prompt_alchemy.config_reader import comma_list, environment_names, read_settings, read_toml_table
from prompt_alchemy.errors import ConfigError
from prompt_alchemy.redaction import mask_url
from prompt_alchemy.redis_target import RedisTarget, parse_host_port
from prompt_alchemy.workers.providers.settings import KEY_VARIABLES, ProviderOptions, providers_config
from prompt_alchemy.workers.providers.settings import ProvidersConfig as ProvidersConfig

__all__ = [
    "ENVIRONMENT_VARIABLES",
    "SERVICE_ALIASES",
    "DeploymentMode",
    "ServiceType",
    "Settings",
    "default_data_dir",
]


class DeploymentMode(StrEnum):
    MONOLITHIC = "monolithic"
    MICROSERVICE = "microservice"


class ServiceType(StrEnum):
    API = "api"
    MCP = "mcp"
    GENERATION = "generation"
    PROVIDERS = "providers"
    STORAGE = "storage"
    LEARNING = "learning"

    @classmethod
    def parse(cls, raw: str) -> ServiceType:
        """A service type by its name or the seed's (``engine``, ``api-gateway``, ``StorageLayer``...)."""
        key = raw.strip().lower().replace("-", "").replace("_", "")
        for kind in cls:
            if key == kind.value:
                return kind
        if key in SERVICE_ALIASES:
            return SERVICE_ALIASES[key]
        names = ", ".join(kind.value for kind in cls)
        raise ValueError(f"unknown service type: use one of {names} (or the seed's name, e.g. engine)")


SERVICE_ALIASES: dict[str, ServiceType] = {
    # The seed's components (DESIGN.md "Every seed interface becomes subjects") and the engine's bus name.
    "engine": ServiceType.GENERATION,
    "generationengine": ServiceType.GENERATION,
    "gateway": ServiceType.API,
    "apigateway": ServiceType.API,
    "mcpserver": ServiceType.MCP,
    "provider": ServiceType.PROVIDERS,
    "providermanager": ServiceType.PROVIDERS,
    "storagelayer": ServiceType.STORAGE,
    "learningengine": ServiceType.LEARNING,
}
"""The seed's service names (lower case, without ``-``/``_``) for SERVICE_TYPE and ``worker``."""


def default_data_dir(env: Mapping[str, str]) -> Path:
    """``$XDG_DATA_HOME/prompt-alchemy``, i.e. ``~/.local/share/prompt-alchemy`` by default."""
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local" / "share")
    return Path(base) / "prompt-alchemy"


_SECRETS = frozenset({"api_keys", "nats_password", "nats_token"})
_URLS = frozenset({"nats_url", "redis_url"})
_LISTS = ("cors_origins", "allowed_hosts", "allowed_origins", "redis_sentinels", "api_keys")
CommaList = Annotated[tuple[str, ...], NoDecode]


class Settings(ProviderOptions):
    """Every knob of a prompt-alchemy process, typed and validated (the providers' sections inherited)."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True, validate_by_name=True)

    deployment_mode: DeploymentMode = DeploymentMode.MONOLITHIC
    service_type: ServiceType | None = None
    data_dir: Path = Field(validation_alias="ALCHEMY_DATA_DIR")  # default: $XDG_DATA_HOME/prompt-alchemy
    nats_url: str | None = None  # one URL, or a comma list of a cluster's servers
    redis_url: str | None = None
    redis_sentinels: CommaList = ()  # host:port of each Sentinel (instead of redis_url)
    redis_sentinel_service: str | None = None  # the master name the Sentinels monitor
    redis_wait_replicas: int | None = Field(default=None, ge=0, le=16)  # None: 1 with Sentinels, else 0
    redis_wait_timeout: float = Field(default=2.0, gt=0, le=60)  # seconds a write waits for its replicas
    stream_replicas: int = Field(default=1, ge=1, le=5)  # JetStream replicas of the durable streams
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    mcp_host: str = "127.0.0.1"
    mcp_port: int = Field(default=3333, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=0, ge=0, le=65535)  # a worker's /metrics listener; 0: any free port
    enable_api: bool = True
    enable_mcp: bool = True
    enable_learning: bool = True
    enable_metrics: bool = True
    debug_mode: bool = False
    log_level: str = "INFO"
    cors_origins: CommaList = ()
    allowed_hosts: CommaList = ()  # Host names the doors serve; empty: loopback names + the bind address
    allowed_origins: CommaList = ()  # browser origins allowed besides the door's own (and CORS_ORIGINS)
    insecure_no_auth: bool = False  # allow a non-loopback bind without ALCHEMY_API_KEYS
    idle_timeout: float = Field(default=75.0, gt=0, le=3600)  # close a connection this long without a request
    body_timeout: float = Field(default=30.0, gt=0, le=3600)  # a request body must arrive within this
    rate_limit_per_minute: int = Field(default=0, ge=0)  # 0: unlimited
    # Feedback events a minute per origin (API key or client address) and per session; 0: unlimited.
    feedback_per_minute: int = Field(default=120, ge=0)
    feedback_per_session_per_minute: int = Field(default=30, ge=0)
    # counted votes of one origin on one prompt
    votes_per_origin: int = Field(default=3, ge=1, le=1000, validation_alias="LEARNING_VOTES_PER_ORIGIN")
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    request_timeout: float = Field(default=120.0, gt=0, le=3600)
    shutdown_timeout: float = Field(default=30.0, gt=0, le=3600)  # drain limit after SIGTERM/SIGINT
    liveness_window: float = Field(default=3.0, ge=0.05, le=600)  # silence after which a responder is lost
    resend_attempts: int = Field(default=3, ge=1, le=20)  # sends of a safe request whose responder is lost

    @property
    def liveness(self) -> Liveness:
        return Liveness(window=self.liveness_window, max_attempts=self.resend_attempts)

    @property
    def nats_servers(self) -> list[str]:
        """``NATS_URL`` as the list of servers a client fails over between."""
        return _split(self.nats_url or "")

    @property
    def redis_target(self) -> RedisTarget | None:
        """Where storage and learning keep their state (None: SQLite under the data dir)."""
        if self.redis_sentinels:
            return RedisTarget.sentinel(
                self.redis_sentinels,
                self.redis_sentinel_service or "",
                wait_replicas=1 if self.redis_wait_replicas is None else self.redis_wait_replicas,
                wait_timeout=self.redis_wait_timeout,
            )
        if self.redis_url:
            return RedisTarget(
                url=self.redis_url, wait_replicas=self.redis_wait_replicas or 0, wait_timeout=self.redis_wait_timeout
            )
        return None

    @pydantic.model_validator(mode="after")
    def _one_redis(self) -> Settings:
        if self.redis_sentinels and self.redis_url:
            raise ValueError("set REDIS_URL or REDIS_SENTINELS, not both")
        if self.redis_sentinels and not self.redis_sentinel_service:
            raise ValueError("REDIS_SENTINELS needs REDIS_SENTINEL_SERVICE (the monitored master's name)")
        for entry in self.redis_sentinels:
            parse_host_port(entry)  # ValueError naming a bad entry
        if self.nats_url is not None and not self.nats_servers:
            raise ValueError("NATS_URL names no server")
        return self

    embedding_provider: str | None = None  # None: the offline WordLlama embedder
    embedding_model: str | None = None
    engine_concurrency: int = Field(default=32, ge=1, le=1024)  # generate requests one replica runs at once
    engine_optimize_concurrency: int = Field(default=8, ge=1, le=1024)
    engine_batch_concurrency: int = Field(default=4, ge=1, le=1024)
    engine_provider_calls: int | None = Field(default=None, ge=1, le=4096)  # None: max(16, engine_concurrency)
    engine_provider_timeout: float = Field(default=120.0, gt=0, le=3600)  # one provider call (clipped to deadlines)
    engine_storage_timeout: float = Field(default=10.0, gt=0, le=600)
    engine_learning_timeout: float = Field(default=3.0, gt=0, le=600)
    engine_health_timeout: float = Field(default=2.0, gt=0, le=600)
    engine_lookup_timeout: float = Field(default=5.0, gt=0, le=600)  # a named prompt or label lookup
    engine_deadline_margin: float = Field(
        default=0.25, ge=0, le=60
    )  # every handler answers this long before its deadline
    engine_weights_retry: float = Field(default=30.0, gt=0, le=3600)  # reload weights after learning was silent
    engine_provider: str | None = None  # None: the providers worker's default and fallback order
    judge_provider: str | None = None  # the LLM judge's provider (None: as generation)
    judge_model: str | None = None
    generation_cache: bool = True  # answer near-identical ideas from earlier generations
    cache_min_similarity: float = Field(default=0.96, gt=0.0, le=1.0)  # cosine of the two ideas
    cache_ttl: int = Field(default=7 * 24 * 3600, ge=1, le=30 * 24 * 3600)  # seconds
    learning_batch_size: int = Field(default=256, ge=1, le=10_000)  # feedback events applied together
    learning_ack_wait: float = Field(default=30.0, gt=0, le=3600)  # redelivery after this long unacked
    learning_max_deliver: int = Field(default=5, ge=1, le=100)  # deliveries before an event is dead-lettered
    learning_storage_timeout: float = Field(default=10.0, gt=0, le=600)
    learning_label_review_interval: float = Field(default=60.0, ge=0, le=86_400)  # auto_promote reviews; 0: never
    nats_user: str | None = None
    nats_creds: Path | None = None
    nats_tls_ca: Path | None = None
    nats_tls_cert: Path | None = None
    nats_tls_key: Path | None = None
    api_keys: Annotated[tuple[SecretStr, ...], NoDecode] = Field(default=(), validation_alias="ALCHEMY_API_KEYS")
    nats_password: SecretStr | None = None
    nats_token: SecretStr | None = None

    _lists = pydantic.field_validator(*_LISTS, mode="before")(comma_list)

    @pydantic.field_validator("service_type", mode="before")
    @classmethod
    def _service_name(cls, value: Any) -> Any:
        return ServiceType.parse(value) if isinstance(value, str) else value

    def providers_config(self) -> ProvidersConfig:
        """The providers worker's configuration (its sections of these settings)."""
        return providers_config(self)

    @classmethod
    def load(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        config_file: Path | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> Settings:
        """File (``config_file`` or ``$ALCHEMY_CONFIG``), then environment, then explicit overrides."""
        env = os.environ if env is None else env
        path = config_file or (Path(env["ALCHEMY_CONFIG"]) if env.get("ALCHEMY_CONFIG") else None)
        file_values = _read_file(path) if path is not None else {}
        explicit = dict(overrides or {})
        if explicit.get("data_dir") is None and not env.get("ALCHEMY_DATA_DIR") and "data_dir" not in file_values:
            explicit["data_dir"] = default_data_dir(env)
        return read_settings(cls, environ=env, file_values=file_values, overrides=explicit)

    def masked(self) -> dict[str, Any]:
        """The effective settings for display: secrets replaced by a mask, never their value."""
        shown: dict[str, Any] = {}
        for name, value in self.model_dump(mode="json").items():
            if name in _SECRETS:
                count = len(value) if isinstance(value, list) else (1 if value else 0)
                shown[name] = f"***({count} set)" if count else None
            elif name in _URLS and value:
                shown[name] = mask_url(value)  # a URL may carry a password or a token
            elif isinstance(value, dict) and "base_url" in value and value["base_url"]:
                shown[name] = {**value, "base_url": mask_url(value["base_url"])}
            else:
                shown[name] = value
        sections = set(ProviderOptions.model_fields)
        return {name: shown[name] for name in sorted(shown, key=lambda name: name in sections)}  # sections last


def _split(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


_FILE_SECRETS = frozenset(
    {*_SECRETS, *(name.lower() for name in KEY_VARIABLES)}
    | {f"{section}.api_key" for section in ProviderOptions.model_fields}
)


def _read_file(path: Path) -> dict[str, Any]:
    table = read_toml_table(path, Settings, _FILE_SECRETS)
    with_password = sorted(name for name in _URLS if isinstance(table.get(name), str) and _has_password(table[name]))
    if with_password:
        raise ConfigError(
            f"config file {path} holds secrets (a password in {', '.join(with_password)}): "
            "set that URL in the environment instead"
        )
    return table


def _has_password(url: str) -> bool:
    return any(urlsplit(part.strip()).password for part in url.split(","))


ENVIRONMENT_VARIABLES = frozenset(
    {variable for _, variable in environment_names(Settings)}
    | set(KEY_VARIABLES)
    | {"ALCHEMY_CONFIG", "XDG_DATA_HOME", "HOME"}
)
"""Every environment variable prompt-alchemy reads: each setting's, the vendor keys, the config file's
name and the two the default data dir comes from."""
