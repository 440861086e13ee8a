"""Effective settings: read once at start-up from an optional TOML file and the environment.

The environment wins over the file. Secrets (API keys, NATS credentials) come from the
environment only — a config file holding one is refused — and are kept as ``SecretStr`` so
they never show in a repr, a log line or ``prompt-alchemy config show``; a password or token
inside ``NATS_URL`` / ``REDIS_URL`` is masked there too (``redaction``).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

import pydantic
import pydantic_core
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from prompt_alchemy.bus.liveness import Liveness
from prompt_alchemy.errors import ConfigError
from prompt_alchemy.redaction import mask_url
from prompt_alchemy.redis_target import RedisTarget, parse_host_port

__all__ = ["ENVIRONMENT_VARIABLES", "DeploymentMode", "ServiceType", "Settings", "default_data_dir"]


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


def default_data_dir(env: Mapping[str, str]) -> Path:
    """``$XDG_DATA_HOME/prompt-alchemy``, i.e. ``~/.local/share/prompt-alchemy`` by default."""
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local" / "share")
    return Path(base) / "prompt-alchemy"


# setting name -> environment variable(s), first found wins
_ENV: dict[str, tuple[str, ...]] = {
    "deployment_mode": ("DEPLOYMENT_MODE",),
    "service_type": ("SERVICE_TYPE",),
    "data_dir": ("ALCHEMY_DATA_DIR",),
    "nats_url": ("NATS_URL",),
    "redis_url": ("REDIS_URL",),
    "redis_sentinels": ("REDIS_SENTINELS",),
    "redis_sentinel_service": ("REDIS_SENTINEL_SERVICE",),
    "redis_wait_replicas": ("REDIS_WAIT_REPLICAS",),
    "redis_wait_timeout": ("REDIS_WAIT_TIMEOUT",),
    "stream_replicas": ("STREAM_REPLICAS",),
    "http_host": ("HTTP_HOST",),
    "http_port": ("HTTP_PORT",),
    "mcp_host": ("MCP_HOST",),
    "mcp_port": ("MCP_PORT",),
    "metrics_host": ("METRICS_HOST",),
    "metrics_port": ("METRICS_PORT",),
    "enable_api": ("ENABLE_API",),
    "enable_mcp": ("ENABLE_MCP",),
    "enable_learning": ("ENABLE_LEARNING",),
    "enable_metrics": ("ENABLE_METRICS",),
    "debug_mode": ("DEBUG_MODE",),
    "log_level": ("LOG_LEVEL",),
    "cors_origins": ("CORS_ORIGINS",),
    "allowed_hosts": ("ALLOWED_HOSTS",),
    "allowed_origins": ("ALLOWED_ORIGINS",),
    "insecure_no_auth": ("INSECURE_NO_AUTH",),
    "idle_timeout": ("IDLE_TIMEOUT",),
    "body_timeout": ("BODY_TIMEOUT",),
    "rate_limit_per_minute": ("RATE_LIMIT_PER_MINUTE",),
    "feedback_per_minute": ("FEEDBACK_PER_MINUTE",),
    "feedback_per_session_per_minute": ("FEEDBACK_PER_SESSION_PER_MINUTE",),
    "votes_per_origin": ("LEARNING_VOTES_PER_ORIGIN",),
    "max_body_bytes": ("MAX_BODY_BYTES",),
    "request_timeout": ("REQUEST_TIMEOUT",),
    "shutdown_timeout": ("SHUTDOWN_TIMEOUT",),
    "liveness_window": ("LIVENESS_WINDOW",),
    "resend_attempts": ("RESEND_ATTEMPTS",),
    "embedding_provider": ("EMBEDDING_PROVIDER",),
    "embedding_model": ("EMBEDDING_MODEL",),
    "engine_concurrency": ("ENGINE_CONCURRENCY",),
    "engine_provider": ("ENGINE_PROVIDER",),
    "judge_provider": ("JUDGE_PROVIDER",),
    "judge_model": ("JUDGE_MODEL",),
    "generation_cache": ("GENERATION_CACHE",),
    "cache_min_similarity": ("CACHE_MIN_SIMILARITY",),
    "cache_ttl": ("CACHE_TTL",),
    "nats_user": ("NATS_USER",),
    "nats_creds": ("NATS_CREDS",),
    "nats_tls_ca": ("NATS_TLS_CA",),
    "nats_tls_cert": ("NATS_TLS_CERT",),
    "nats_tls_key": ("NATS_TLS_KEY",),
    # secrets: environment only
    "api_keys": ("ALCHEMY_API_KEYS",),
    "nats_password": ("NATS_PASSWORD",),
    "nats_token": ("NATS_TOKEN",),
}
_SECRETS = frozenset({"api_keys", "nats_password", "nats_token"})
ENVIRONMENT_VARIABLES = frozenset(variable for variables in _ENV.values() for variable in variables)
"""Every environment variable ``Settings.load`` reads (vendor keys are the providers worker's own)."""
_LISTS = frozenset({"cors_origins", "allowed_hosts", "allowed_origins", "redis_sentinels"})
_URLS = frozenset({"nats_url", "redis_url"})


class Settings(BaseModel):
    """Every knob of a prompt-alchemy process, typed and validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    deployment_mode: DeploymentMode = DeploymentMode.MONOLITHIC
    service_type: ServiceType | None = None
    data_dir: Path
    nats_url: str | None = None  # one URL, or a comma list of a cluster's servers
    redis_url: str | None = None
    redis_sentinels: tuple[str, ...] = ()  # host:port of each Sentinel (instead of redis_url)
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
    cors_origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()  # Host names the doors serve; empty: loopback names + the bind address
    allowed_origins: tuple[str, ...] = ()  # browser origins allowed besides the door's own (and CORS_ORIGINS)
    insecure_no_auth: bool = False  # allow a non-loopback bind without ALCHEMY_API_KEYS
    idle_timeout: float = Field(default=75.0, gt=0, le=3600)  # close a connection this long without a request
    body_timeout: float = Field(default=30.0, gt=0, le=3600)  # a request body must arrive within this
    rate_limit_per_minute: int = Field(default=0, ge=0)  # 0: unlimited
    # Feedback events a minute per origin (API key or client address) and per session; 0: unlimited.
    feedback_per_minute: int = Field(default=120, ge=0)
    feedback_per_session_per_minute: int = Field(default=30, ge=0)
    votes_per_origin: int = Field(default=3, ge=1, le=1000)  # counted votes of one origin on one prompt
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
    engine_concurrency: int = Field(default=32, ge=1, le=1024)
    engine_provider: str | None = None  # None: the providers worker's default and fallback order
    judge_provider: str | None = None  # the LLM judge's provider (None: as generation)
    judge_model: str | None = None
    generation_cache: bool = True  # answer near-identical ideas from earlier generations
    cache_min_similarity: float = Field(default=0.96, gt=0.0, le=1.0)  # cosine of the two ideas
    cache_ttl: int = Field(default=7 * 24 * 3600, ge=1, le=30 * 24 * 3600)  # seconds
    nats_user: str | None = None
    nats_creds: Path | None = None
    nats_tls_ca: Path | None = None
    nats_tls_cert: Path | None = None
    nats_tls_key: Path | None = None
    api_keys: tuple[SecretStr, ...] = ()
    nats_password: SecretStr | None = None
    nats_token: SecretStr | None = None

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
        values: dict[str, Any] = {}
        path = config_file or (Path(env["ALCHEMY_CONFIG"]) if env.get("ALCHEMY_CONFIG") else None)
        if path is not None:
            values.update(_read_file(path))
        for name, variables in _ENV.items():
            for variable in variables:
                raw = env.get(variable)
                if raw is not None and raw != "":
                    values[name] = _split(raw) if name in _LISTS or name == "api_keys" else raw
                    break
        values.update({key: value for key, value in (overrides or {}).items() if value is not None})
        values.setdefault("data_dir", default_data_dir(env))
        try:
            return cls.model_validate(values)
        except pydantic.ValidationError as error:
            problems = "; ".join(_problem(item) for item in error.errors(include_input=False))
            raise ConfigError(f"invalid settings: {problems}") from error

    def masked(self) -> dict[str, Any]:
        """The effective settings for display: secrets replaced by a mask, never their value."""
        shown: dict[str, Any] = {}
        for name, value in self.model_dump(mode="json").items():
            if name in _SECRETS:
                count = len(value) if isinstance(value, list) else (1 if value else 0)
                shown[name] = f"***({count} set)" if count else None
            elif name in _URLS and value:
                shown[name] = mask_url(value)  # a URL may carry a password or a token
            else:
                shown[name] = value
        return shown


def _problem(item: pydantic_core.ErrorDetails) -> str:
    where = ".".join(str(part) for part in item["loc"])
    message = item["msg"].removeprefix("Value error, ")  # a model-level check names its variables itself
    return f"{where}: {message}" if where else message


def _split(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text())
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from error
    table = data.get("prompt-alchemy", data)
    if not isinstance(table, dict):
        raise ConfigError(f"config file {path}: expected a table of settings")
    secrets_found = sorted(set(table) & _SECRETS)
    if secrets_found:
        raise ConfigError(
            f"config file {path} holds secrets ({', '.join(secrets_found)}): set them in the environment instead"
        )
    unknown = sorted(set(table) - set(_ENV))
    if unknown:
        raise ConfigError(f"config file {path}: unknown settings {', '.join(unknown)}")
    return dict(table)
