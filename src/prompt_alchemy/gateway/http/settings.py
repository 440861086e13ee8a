"""Settings of the HTTP gateway: a frozen value object the runtime fills from its config."""

from __future__ import annotations

from dataclasses import dataclass, field

from prompt_alchemy.errors import ConfigError
from prompt_alchemy.gateway.access import LOOPBACK_HOSTS, AccessPolicy
from prompt_alchemy.gateway.feedback import FeedbackLimits
from prompt_alchemy.gateway.health import DEFAULT_SERVICES
from prompt_alchemy.gateway.timeouts import ConnectionTimeouts

__all__ = ["HttpSettings"]


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """What the HTTP front door needs; the runtime reads the environment, this only takes values.

    ``api_keys`` empty means no authentication; they are secrets, kept out of ``repr``.
    ``rate_limit_per_minute`` 0 means unlimited; the limit applies per API key, or per client
    address when authentication is off. ``cors_origins`` may hold ``"*"``. ``feedback_limits``
    bound feedback events per origin and per session on top of it.
    """

    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 1024 * 1024
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    rate_limit_per_minute: int = 0
    cors_origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS
    allowed_origins: tuple[str, ...] = ()
    timeouts: ConnectionTimeouts = field(default_factory=ConnectionTimeouts)
    metrics: bool = True
    request_timeout_s: float = 120.0
    health_services: tuple[str, ...] = DEFAULT_SERVICES
    health_timeout_s: float = 2.0
    feedback_limits: FeedbackLimits = field(default_factory=FeedbackLimits)

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"HTTP port {self.port} is not between 0 and 65535")
        if self.max_body_bytes < 1:
            raise ConfigError("max_body_bytes must be positive")
        _ = self.access  # validates keys, rate limit and allow-lists
        if self.request_timeout_s <= 0 or self.health_timeout_s <= 0:
            raise ConfigError("timeouts must be positive")

    @property
    def auth_enabled(self) -> bool:
        return bool(self.api_keys)

    @property
    def access(self) -> AccessPolicy:
        return AccessPolicy(
            api_keys=self.api_keys,
            rate_limit_per_minute=self.rate_limit_per_minute,
            allowed_hosts=self.allowed_hosts,
            allowed_origins=(*self.allowed_origins, *self.cors_origins),
        )
