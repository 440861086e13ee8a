"""How long a front door waits on a client before it hangs up: one value object for both doors.

- ``idle_s``: a connection with no complete request head — a fresh connection that sends
  nothing, a slow-drip header sender, an idle keep-alive connection — is closed after it.
- ``body_s``: reading a request body; a body still arriving after it is answered 408.

``idle_s`` is longer than the keep-alive of common client pools (aiohttp's connector keeps an idle
connection 15 s, httpx 5 s) so that the client, not the server, closes an idle connection: a server
that closes at the moment a client reuses the connection fails that request with "server
disconnected", and clients do not resend a POST. 75 s is nginx's default ``keepalive_timeout``.
"""

from __future__ import annotations

from dataclasses import dataclass

from prompt_alchemy.errors import ConfigError

__all__ = ["ConnectionTimeouts"]


@dataclass(frozen=True, slots=True)
class ConnectionTimeouts:
    idle_s: float = 75.0
    body_s: float = 30.0

    def __post_init__(self) -> None:
        if self.idle_s <= 0 or self.body_s <= 0:
            raise ConfigError("connection timeouts must be positive")
