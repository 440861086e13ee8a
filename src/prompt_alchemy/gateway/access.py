"""Who may come through a front door: one gatekeeper for the HTTP API and the MCP HTTP door.

Checks run in this order, each failing with its own JSON error:

1. ``Host`` is one the door serves (``ALLOWED_HOSTS``), whatever address it is bound to: a
   DNS-rebinding page reaches the socket under a foreign name and gets a 421.
2. ``Origin``, when a browser sends one, is the page's own origin (same host) or allowed
   (``ALLOWED_ORIGINS``, and CORS origins for the API): a cross-site page gets a 403.
3. The bearer API key (``ALCHEMY_API_KEYS``), compared in constant time against every key;
   a missing, wrong or undecodable token is a 401.
4. The per-caller rate limit (per key, or per client address without keys): a 429.

The stdio MCP server has no door: it is the local user's own process.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from prompt_alchemy.errors import ConfigError, Forbidden, MisdirectedRequest, RateLimited, Unauthorized
from prompt_alchemy.gateway.rate_limit import RateLimiter

__all__ = ["LOOPBACK_HOSTS", "AccessPolicy", "Gatekeeper", "default_allowed_hosts", "is_loopback", "require_keys"]

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps a door reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def default_allowed_hosts(bind_host: str) -> tuple[str, ...]:
    """The loopback names, plus the bind address itself when it is one specific address."""
    bind = bind_host.strip("[]").lower()
    if not bind or bind in LOOPBACK_HOSTS or _is_unspecified(bind):
        return LOOPBACK_HOSTS
    return (*LOOPBACK_HOSTS, bind)


def _is_unspecified(host: str) -> bool:
    """``0.0.0.0`` or ``::``: every interface, so no one name of this machine."""
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def require_keys(door: str, bind_host: str, api_keys: tuple[str, ...], *, insecure_no_auth: bool) -> None:
    """Refuse to expose a door beyond loopback without keys, unless that was asked for loudly."""
    if api_keys or insecure_no_auth or is_loopback(bind_host):
        return
    raise ConfigError(
        f"{door} would listen on {bind_host} (beyond this machine) with no API keys: set ALCHEMY_API_KEYS, "
        "bind 127.0.0.1, or pass --insecure-no-auth (INSECURE_NO_AUTH=true) to accept anyone who can reach it"
    )


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """What one door admits. ``api_keys`` empty: no authentication; they stay out of ``repr``.

    ``allowed_hosts``: host names (any port); ``"*"`` any host, a leading dot a domain and its
    subdomains. ``allowed_origins``: full origins (``https://app.example``) or ``"*"``; a page
    of the door's own origin is always allowed. ``rate_limit_per_minute`` 0: unlimited.
    """

    api_keys: tuple[str, ...] = field(default=(), repr=False)
    rate_limit_per_minute: int = 0
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS
    allowed_origins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if any(not key.strip() for key in self.api_keys):
            raise ConfigError("an API key must not be empty")
        if self.rate_limit_per_minute < 0:
            raise ConfigError("rate_limit_per_minute must be 0 (unlimited) or positive")
        if not self.allowed_hosts:
            raise ConfigError("allowed_hosts must name at least one host (or '*')")


def _host_name(host: str) -> str:
    """``Host`` without its port: ``example.com:8080`` -> ``example.com``, ``[::1]:80`` -> ``::1``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    name, _, port = host.rpartition(":")
    return name if name and port.isdigit() else host


class Gatekeeper:
    """Runs an ``AccessPolicy`` for one door; raises the error a refused request answers."""

    def __init__(self, policy: AccessPolicy, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._keys = tuple(key.encode() for key in policy.api_keys)
        self._any_host = "*" in policy.allowed_hosts
        self._hosts = frozenset(host.lower().strip("[]") for host in policy.allowed_hosts if host != "*")
        self._any_origin = "*" in policy.allowed_origins
        self._origins = frozenset(origin.rstrip("/").lower() for origin in policy.allowed_origins if origin != "*")
        per_minute = policy.rate_limit_per_minute
        self._limiter = RateLimiter(per_minute, clock=clock) if per_minute else None

    @property
    def auth_enabled(self) -> bool:
        return bool(self._keys)

    def check_host(self, host: str | None) -> None:
        if self._any_host:
            return
        name = _host_name(host or "")
        if name in self._hosts or any(allowed.startswith(".") and ("." + name).endswith(allowed)
                                      for allowed in self._hosts):  # fmt: skip
            return
        shown = (host or "")[:100]
        raise MisdirectedRequest(
            f"this server does not serve the host {shown!r}: add it to ALLOWED_HOSTS if it is yours",
            details={"host": shown},
        )

    def check_origin(self, origin: str | None, host: str | None) -> None:
        if origin is None or self._any_origin:
            return
        normalised = origin.strip().rstrip("/").lower()
        if normalised in self._origins:
            return
        parts = urlsplit(normalised)
        if parts.scheme in ("http", "https") and host and parts.netloc == host.strip().lower():
            return  # a page of this very origin (the web app)
        shown = origin[:100]
        raise Forbidden(
            f"requests from the origin {shown!r} are not allowed: add it to ALLOWED_ORIGINS if it is yours",
            details={"origin": shown},
        )

    def authenticate(self, authorization: str | bytes | None, remote: str | None) -> str:
        """The caller's identity for rate limiting: its key's index, or its address without keys."""
        if not self._keys:
            return f"address:{remote}"
        token = _bearer_token(authorization)
        if token is None:
            raise Unauthorized("authentication required: missing bearer token")
        found: int | None = None
        for index, key in enumerate(self._keys):  # no early exit: timing says nothing about which
            if hmac.compare_digest(token, key):
                found = index
        if found is None:
            raise Unauthorized("authentication required: invalid API key")
        return f"key:{found}"

    def throttle(self, caller: str) -> None:
        if self._limiter is None:
            return
        wait = self._limiter.acquire(caller)
        if wait is not None:
            raise RateLimited(
                f"rate limit of {self.policy.rate_limit_per_minute} requests a minute reached; retry later",
                details={"retry_after": round(wait, 3)},
            )


def _bearer_token(authorization: str | bytes | None) -> bytes | None:
    """The token as bytes; a header that is not UTF-8 (or not ``Bearer``) carries no usable token."""
    if authorization is None:
        return None
    if isinstance(authorization, str):
        try:
            raw = authorization.encode("utf-8")
        except UnicodeEncodeError:  # aiohttp keeps undecodable bytes as surrogates
            return b"\xff"  # matches no key: answered as an invalid key, not a crash
    else:
        raw = authorization
    scheme, _, token = raw.strip().partition(b" ")
    token = token.strip()
    if scheme.lower() != b"bearer" or not token:
        return None
    return token
